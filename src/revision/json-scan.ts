import { DuplicateKeyError } from './errors.js'

/** One top-level `"key":value` pair and where its raw text lies in the document. */
export interface TopLevelMember {
  readonly key: string
  /** Index of the opening quote of the key. */
  readonly start: number
  /** Index just past the last character of the value. */
  readonly end: number
}

export interface JsonLayout {
  /** Top-level members in document order. */
  readonly members: readonly TopLevelMember[]
  /**
   * pvr's canonical form: no whitespace outside strings, and the members of
   * every object in strictly increasing code-point order.
   */
  readonly canonical: boolean
}

interface Frame {
  readonly isObject: boolean
  readonly keys: Set<string>
  previousKey: string | undefined
  expectingKey: boolean
}

/**
 * Compares two strings by Unicode code point, the order pvr (Go, byte-wise
 * UTF-8) sorts keys in. JavaScript's default `<` compares UTF-16 code units,
 * which differs only when characters above U+FFFF meet U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]()
  const right = b[Symbol.iterator]()
  for (;;) {
    const l = left.next()
    const r = right.next()
    if (l.done === true) return r.done === true ? 0 : -1
    if (r.done === true) return 1
    const diff = (l.value.codePointAt(0) ?? 0) - (r.value.codePointAt(0) ?? 0)
    if (diff !== 0) return diff
  }
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r'])
const VALUE_END = new Set([',', '}', ']', ' ', '\t', '\n', '\r'])

/**
 * Walks JSON text that JSON.parse has already accepted, to learn what
 * JSON.parse hides: where each top-level pair lies (signature payloads are
 * built from that raw text), whether the text is in pvr's canonical form, and
 * whether any object repeats a member name (JSON.parse silently keeps the
 * last one, Pantavisor's jsmn-based code the first; such a state is refused).
 *
 * Iterative, so deeply nested input cannot overflow the call stack.
 */
export function scanJson(text: string): JsonLayout {
  const members: TopLevelMember[] = []
  const stack: Frame[] = []
  let canonical = true
  let topKey: string | undefined
  let topStart = 0
  let lastValueEnd = 0
  let i = 0

  const closeTopMember = (): void => {
    if (stack.length === 1 && topKey !== undefined) {
      members.push({ key: topKey, start: topStart, end: lastValueEnd })
      topKey = undefined
    }
  }

  while (i < text.length) {
    const c = text[i] as string
    if (WHITESPACE.has(c)) {
      canonical = false
      i++
      continue
    }
    const top = stack[stack.length - 1]
    if (c === '{' || c === '[') {
      stack.push({
        isObject: c === '{',
        keys: new Set(),
        previousKey: undefined,
        expectingKey: c === '{',
      })
      i++
    } else if (c === '}' || c === ']') {
      // closing the document ends its last member at the end of that member's value
      if (stack.length === 1) closeTopMember()
      stack.pop()
      lastValueEnd = i + 1
      i++
    } else if (c === ',') {
      closeTopMember()
      if (top?.isObject === true) top.expectingKey = true
      i++
    } else if (c === ':') {
      i++
    } else if (c === '"') {
      const close = endOfString(text, i)
      if (top?.isObject === true && top.expectingKey) {
        const key = JSON.parse(text.slice(i, close)) as string
        if (top.keys.has(key))
          throw new DuplicateKeyError(stack.length === 1 ? key : (topKey ?? key), key)
        top.keys.add(key)
        if (top.previousKey !== undefined && compareCodePoints(top.previousKey, key) >= 0) {
          canonical = false
        }
        top.previousKey = key
        top.expectingKey = false
        if (stack.length === 1) {
          topKey = key
          topStart = i
        }
      }
      lastValueEnd = close
      i = close
    } else {
      // number, true, false or null: runs until a delimiter
      let j = i + 1
      while (j < text.length && !VALUE_END.has(text[j] as string)) j++
      lastValueEnd = j
      i = j
    }
  }
  return { members, canonical }
}

/** Index just past the closing quote of the string starting at `start`. */
function endOfString(text: string, start: number): number {
  let j = start + 1
  while (j < text.length) {
    const c = text[j]
    if (c === '\\') j += 2
    else if (c === '"') return j + 1
    else j++
  }
  return j
}
