import { statfs } from 'node:fs/promises'
import { NoSpaceError } from './errors.js'

/** Bytes an unprivileged process may still write on the filesystem holding `dir`. */
export async function statFreeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir)
  return stats.bavail * stats.bsize
}

/** Bytes a started write still expects to put on disk; kept current as the write proceeds. */
export interface SpaceClaim {
  /** The claim now covers only this many more bytes. */
  setOwedBytes(bytes: number): void
  /** The write finished or was abandoned; its bytes are on disk (or gone) and owed no more. */
  release(): void
}

/**
 * Knows how much the store may still write. The filesystem's own free count already includes
 * every byte written so far, so each started write (a put, an open partial) only claims what it
 * has yet to write; two objects started together cannot both be promised the same space.
 */
export class SpaceLedger {
  readonly #claims = new Map<symbol, number>()

  constructor(
    private readonly dataDir: string,
    private readonly reserveBytes: number,
    private readonly statFree: (dir: string) => Promise<number>,
  ) {}

  /** Filesystem free space minus the reserve minus every open claim; never below zero. */
  async freeBytes(): Promise<number> {
    const fsFree = await this.statFree(this.dataDir)
    return this.#afterClaims(fsFree)
  }

  /**
   * Claim `neededBytes` for `what`, or throw NoSpaceError. The check and the claim happen with no
   * await between them, so concurrent claims see each other.
   */
  async claim(what: string, neededBytes: number): Promise<SpaceClaim> {
    const fsFree = await this.statFree(this.dataDir)
    const free = this.#afterClaims(fsFree)
    if (neededBytes > free) throw new NoSpaceError(what, neededBytes, free)

    const key = Symbol(what)
    this.#claims.set(key, neededBytes)
    return {
      setOwedBytes: bytes => {
        if (this.#claims.has(key)) this.#claims.set(key, Math.max(0, bytes))
      },
      release: () => {
        this.#claims.delete(key)
      },
    }
  }

  #afterClaims(fsFree: number): number {
    let owed = 0
    for (const bytes of this.#claims.values()) owed += bytes
    return Math.max(0, fsFree - this.reserveBytes - owed)
  }
}
