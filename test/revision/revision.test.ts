import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import canonicalize from 'canonicalize'
import {
  DanglingReferenceError,
  DuplicateKeyError,
  InvalidKeyError,
  InvalidRunManifestError,
  InvalidSignatureEntryError,
  InvalidStateError,
  InvalidValueError,
  StateSpecError,
  StateSyntaxError,
  isCanonical,
  parseRevision,
} from '../../src/revision/index.js'
import { statesDir } from '../fixtures.js'
import { sha256, smallRevision } from './helpers.js'

const SHA_A = sha256('a')
const SHA_B = sha256('b')
const SPEC = 'pantavisor-service-system@1'

/** A valid state plus the given keys, as canonical JSON. */
function stateWith(extra: Record<string, unknown>): string {
  return canonicalize({ ...smallRevision().state, ...extra }) as string
}

function rejects(
  input: string,
  errorClass: new (...args: never[]) => Error,
  check?: (err: never) => void,
): void {
  assert.throws(
    () => parseRevision(input),
    (err: Error) => {
      assert.ok(
        err instanceof errorClass,
        `expected ${errorClass.name}, got ${err.name}: ${err.message}`,
      )
      check?.(err as never)
      return true
    },
  )
}

describe('parseRevision on the fixture states', () => {
  for (const file of readdirSync(statesDir).filter(name => name.endsWith('.json'))) {
    it(`validates ${file} and canonicalises its pretty-printed bytes`, () => {
      const input = readFileSync(join(statesDir, file))
      const revision = parseRevision(input)
      assert.equal(revision.canonicalised, true)
      assert.equal(
        Buffer.from(revision.bytes).toString(),
        canonicalize(JSON.parse(input.toString())),
      )
      assert.equal(isCanonical(revision.bytes), true)
      assert.equal(revision.sha256, sha256(revision.bytes))
    })
  }

  it('lists every sha-valued key of 01_… sorted by key, and its distinct objects', () => {
    const revision = parseRevision(
      readFileSync(join(statesDir, '01_rpi64_full_revision_signed.state.json')),
    )
    const keys = revision.objects.map(ref => ref.key)
    assert.deepEqual(keys, [...keys].sort())
    assert.ok(keys.includes('bsp/kernel.img'))
    assert.ok(!keys.includes('bsp/run.json'))
    assert.equal(revision.objects.length, 21)
    assert.deepEqual(
      revision.objectIds,
      [...new Set(revision.objects.map(ref => ref.sha256))].sort(),
    )
  })
})

describe('parseRevision keeps canonical bytes', () => {
  it('returns canonical input byte for byte with canonicalised false', () => {
    const json = smallRevision().json
    const revision = parseRevision(json)
    assert.equal(revision.canonicalised, false)
    assert.equal(Buffer.from(revision.bytes).toString(), json)
    assert.equal(revision.sha256, sha256(json))
  })

  it('keeps canonical bytes even where RFC 8785 would escape differently', () => {
    // pvr's Go encoder may write \u003c for "<"; re-serialising would change the revision id
    const json = stateWith({ 'app/src.json': { note: 'x' } }).replace('"x"', '"\\u003cx\\u003e"')
    const revision = parseRevision(json)
    assert.equal(revision.canonicalised, false)
    assert.equal(Buffer.from(revision.bytes).toString(), json)
  })

  it('canonicalises unsorted, spaced input into sorted compact bytes', () => {
    const { json, state } = smallRevision()
    const messy = `{\n  "app/run.json": ${JSON.stringify(state['app/run.json'], null, 2)},\n  "#spec": "${SPEC}",\n  "app/root.squashfs": "${state['app/root.squashfs']}", "app/lxc.container.conf": "${state['app/lxc.container.conf']}"\n}\n`
    const revision = parseRevision(messy)
    assert.equal(revision.canonicalised, true)
    assert.equal(Buffer.from(revision.bytes).toString(), json)
    assert.equal(revision.sha256, sha256(json))
  })

  it('reports the same object twice under two keys once in objectIds', () => {
    const revision = parseRevision(stateWith({ 'app/copy.img': SHA_A, 'app/other.img': SHA_A }))
    assert.deepEqual(
      revision.objects.filter(ref => ref.sha256 === SHA_A).map(ref => ref.key),
      ['app/copy.img', 'app/other.img'],
    )
    assert.equal(revision.objectIds.filter(sha => sha === SHA_A).length, 1)
  })

  it('freezes the parsed state', () => {
    const revision = parseRevision(smallRevision().json)
    assert.throws(() => {
      ;(revision.state as Record<string, unknown>)['x'] = 1
    }, TypeError)
  })
})

describe('isCanonical', () => {
  it('accepts sorted compact JSON', () => {
    assert.equal(isCanonical(Buffer.from('{"a":1,"b":{"c":[1,{"d":2,"e":3}]}}')), true)
  })
  it('refuses whitespace outside strings', () => {
    assert.equal(isCanonical(Buffer.from('{"a": 1}')), false)
  })
  it('refuses a trailing newline', () => {
    assert.equal(isCanonical(Buffer.from('{"a":1}\n')), false)
  })
  it('refuses unsorted members in a nested object', () => {
    assert.equal(isCanonical(Buffer.from('{"a":{"c":1,"b":2}}')), false)
  })
  it('refuses duplicate members', () => {
    assert.equal(isCanonical(Buffer.from('{"a":1,"a":1}')), false)
  })
  it('refuses text that is not JSON', () => {
    assert.equal(isCanonical(Buffer.from('{"a":')), false)
  })
  it('keeps whitespace inside strings canonical', () => {
    assert.equal(isCanonical(Buffer.from('{"a b":"c d"}')), true)
  })
})

describe('parseRevision refuses malformed input', () => {
  it('refuses bytes that are not UTF-8', () => {
    assert.throws(() => parseRevision(Uint8Array.from([0x7b, 0xff, 0x7d])), StateSyntaxError)
  })
  it('refuses text that is not JSON', () => {
    rejects('{"#spec":', StateSyntaxError)
  })
  it('refuses a top-level array', () => {
    rejects('[]', StateSyntaxError)
  })
  it('refuses a duplicate top-level key, naming it', () => {
    const json = smallRevision().json.replace('{', `{"app/root.squashfs":"${SHA_A}",`)
    rejects(json, DuplicateKeyError, (err: DuplicateKeyError) =>
      assert.equal(err.key, 'app/root.squashfs'),
    )
  })
  it('refuses a duplicate member inside an inline JSON value, naming the top-level key', () => {
    const json = stateWith({ 'app/src.json': { a: 1 } }).replace('{"a":1}', '{"a":1,"a":2}')
    rejects(json, DuplicateKeyError, (err: DuplicateKeyError) => {
      assert.equal(err.key, 'app/src.json')
      assert.equal(err.member, 'a')
    })
  })
})

describe('parseRevision refuses a bad #spec', () => {
  it('refuses a wrong spec, saying expected and found', () => {
    rejects(
      stateWith({ '#spec': 'pantavisor-multi-platform@1' }),
      StateSpecError,
      (err: StateSpecError) => {
        assert.equal(err.key, '#spec')
        assert.match(
          err.message,
          /expected "pantavisor-service-system@1", found "pantavisor-multi-platform@1"/,
        )
      },
    )
  })
  it('refuses a missing spec', () => {
    const { state } = smallRevision()
    delete state['#spec']
    rejects(canonicalize(state) as string, StateSpecError, (err: StateSpecError) =>
      assert.match(err.message, /key missing/),
    )
  })
})

describe('parseRevision refuses unsafe keys', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['absolute path', '/etc/passwd', /starts with "\/"/],
    ['".." segment', 'app/../../etc/shadow', /\.\." segment/],
    ['leading ".."', '../outside', /\.\." segment/],
    ['"." segment', 'app/./x', /"\." segment/],
    ['empty segment', 'app//x', /empty segment/],
    ['trailing slash', 'app/', /empty segment/],
    ['backslash', 'app\\x', /backslash/],
    ['control character', 'app/x\u0001y', /control character/],
    ['newline', 'app/x\ny', /control character/],
    ['empty key', '', /is empty/],
  ]
  for (const [label, key, message] of cases) {
    it(`refuses a key with ${label}`, () => {
      rejects(stateWith({ [key]: SHA_A }), InvalidKeyError, (err: InvalidKeyError) => {
        assert.equal(err.key, key)
        assert.match(err.message, message)
      })
    })
  }
})

describe('parseRevision refuses bad values', () => {
  it('refuses an uppercase sha, saying so', () => {
    rejects(
      stateWith({ 'app/extra.img': SHA_A.toUpperCase() }),
      InvalidValueError,
      (err: InvalidValueError) => {
        assert.equal(err.key, 'app/extra.img')
        assert.match(
          err.message,
          /expected a lowercase 64-hex sha256.*found a sha256 with uppercase hex digits/,
        )
      },
    )
  })
  it('refuses a short hex string', () => {
    rejects(stateWith({ 'app/extra.img': SHA_A.slice(0, 63) }), InvalidValueError)
  })
  it('refuses inline JSON on a key that does not end .json', () => {
    rejects(
      stateWith({ 'app/config.yaml': { a: 1 } }),
      InvalidValueError,
      (err: InvalidValueError) => {
        assert.equal(err.key, 'app/config.yaml')
        assert.match(err.message, /only keys ending "\.json" may hold inline JSON.*found an object/)
      },
    )
  })
  it('refuses an inline array on a key that does not end .json', () => {
    rejects(stateWith({ 'app/list': [1] }), InvalidValueError, (err: InvalidValueError) =>
      assert.match(err.message, /found an array/),
    )
  })
  it('refuses a number value', () => {
    rejects(stateWith({ 'app/n.json': 3 }), InvalidValueError, (err: InvalidValueError) =>
      assert.match(err.message, /found a number/),
    )
  })
  it('refuses null', () => {
    rejects(stateWith({ 'app/n.json': null }), InvalidValueError, (err: InvalidValueError) =>
      assert.match(err.message, /found null/),
    )
  })
  it('refuses a plain string on a .json key', () => {
    rejects(stateWith({ 'app/x.json': 'hello' }), InvalidValueError, (err: InvalidValueError) =>
      assert.match(err.message, /found the string "hello"/),
    )
  })
  it('accepts a sha on a .json key', () => {
    assert.equal(
      parseRevision(stateWith({ 'app/x.json': SHA_A })).objects.some(
        ref => ref.key === 'app/x.json',
      ),
      true,
    )
  })
})

describe('parseRevision checks bsp/run.json', () => {
  const bsp = {
    'bsp/kernel.img': SHA_A,
    'bsp/pantavisor': SHA_B,
    'bsp/modules.squashfs': SHA_A,
    'bsp/addon.cpio.xz4': SHA_B,
  }
  const run = {
    linux: 'kernel.img',
    initrd: 'pantavisor',
    modules: 'modules.squashfs',
    addons: ['addon.cpio.xz4'],
    initrd_config: '',
  }

  it('accepts a run.json whose files all exist', () => {
    assert.doesNotThrow(() => parseRevision(stateWith({ ...bsp, 'bsp/run.json': run })))
  })
  it('refuses a linux entry naming a missing file', () => {
    rejects(
      stateWith({ ...bsp, 'bsp/run.json': { ...run, linux: 'vmlinuz' } }),
      DanglingReferenceError,
      (err: DanglingReferenceError) => {
        assert.equal(err.key, 'bsp/run.json')
        assert.equal(err.member, 'linux')
        assert.equal(err.target, 'bsp/vmlinuz')
      },
    )
  })
  it('refuses an addon naming a missing file', () => {
    rejects(
      stateWith({ ...bsp, 'bsp/run.json': { ...run, addons: ['gone.cpio'] } }),
      DanglingReferenceError,
      (err: DanglingReferenceError) => assert.equal(err.member, 'addons[0]'),
    )
  })
  it('refuses a firmware entry naming a missing file', () => {
    rejects(
      stateWith({ ...bsp, 'bsp/run.json': { ...run, firmware: 'fw.squashfs' } }),
      DanglingReferenceError,
    )
  })
  it('refuses a run.json with no boot image', () => {
    rejects(
      stateWith({ ...bsp, 'bsp/run.json': { modules: 'modules.squashfs' } }),
      InvalidRunManifestError,
    )
  })
  it('accepts a fit image instead of linux+initrd', () => {
    assert.doesNotThrow(() =>
      parseRevision(stateWith({ 'bsp/image.fit': SHA_A, 'bsp/run.json': { fit: 'image.fit' } })),
    )
  })
  it('refuses a member of the wrong type', () => {
    rejects(stateWith({ ...bsp, 'bsp/run.json': { ...run, linux: 7 } }), InvalidRunManifestError)
  })
})

describe('parseRevision checks container run.json', () => {
  it('refuses a root-volume naming a missing file', () => {
    rejects(
      stateWith({ 'app/run.json': { config: 'lxc.container.conf', 'root-volume': 'rootfs.img' } }),
      DanglingReferenceError,
      (err: DanglingReferenceError) => {
        assert.equal(err.key, 'app/run.json')
        assert.equal(err.member, 'root-volume')
        assert.equal(err.target, 'app/rootfs.img')
      },
    )
  })
  it('strips a dm: prefix before looking the root volume up', () => {
    assert.doesNotThrow(() =>
      parseRevision(
        stateWith({
          'app/run.json': { config: 'lxc.container.conf', 'root-volume': 'dm:root.squashfs' },
        }),
      ),
    )
  })
  it('refuses a dm: root volume naming a missing file, without the prefix in the target', () => {
    rejects(
      stateWith({
        'app/run.json': { config: 'lxc.container.conf', 'root-volume': 'dm:gone.squashfs' },
      }),
      DanglingReferenceError,
      (err: DanglingReferenceError) => assert.equal(err.target, 'app/gone.squashfs'),
    )
  })
  it('refuses a config naming a missing file', () => {
    rejects(
      stateWith({ 'app/run.json': { config: 'other.conf', 'root-volume': 'root.squashfs' } }),
      DanglingReferenceError,
      (err: DanglingReferenceError) => assert.equal(err.member, 'config'),
    )
  })
})

describe('parseRevision checks _sigs entries', () => {
  const good = { '#spec': 'pvs@2', protected: 'eyJhbGciOiJSUzI1NiJ9', signature: 'c2ln' }
  it('refuses a wrong #spec', () => {
    rejects(
      stateWith({ '_sigs/app.json': { ...good, '#spec': 'pvs@1' } }),
      InvalidSignatureEntryError,
      (err: InvalidSignatureEntryError) => {
        assert.equal(err.key, '_sigs/app.json')
        assert.match(err.message, /expected "pvs@2", found "pvs@1"/)
      },
    )
  })
  it('refuses a missing signature', () => {
    const { signature: _, ...entry } = good
    rejects(
      stateWith({ '_sigs/app.json': entry }),
      InvalidSignatureEntryError,
      (err: InvalidSignatureEntryError) => assert.match(err.message, /member signature/),
    )
  })
  it('refuses a protected header that is not base64url', () => {
    rejects(
      stateWith({ '_sigs/app.json': { ...good, protected: 'a+b/c=' } }),
      InvalidSignatureEntryError,
    )
  })
  it('refuses a sha where a signature object belongs', () => {
    rejects(stateWith({ '_sigs/app.json': SHA_A }), InvalidSignatureEntryError)
  })
  it('accepts a well-formed entry', () => {
    assert.doesNotThrow(() => parseRevision(stateWith({ '_sigs/app.json': good })))
  })
})

it('every state rule violation is an InvalidStateError naming its key', () => {
  rejects(stateWith({ 'a/../b': SHA_A }), InvalidStateError, (err: InvalidStateError) =>
    assert.equal(err.key, 'a/../b'),
  )
})
