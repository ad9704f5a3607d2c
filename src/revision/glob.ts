/**
 * Matches state keys against pvs@2 include/exclude patterns the way
 * Pantavisor does: shell globbing with path semantics (`*`, `?` and bracket
 * expressions never match `/`), except that a whole pattern `**` matches
 * every key and a trailing `/**` matches the directory and everything below
 * it. Elsewhere `**` is just two `*`.
 */
export function globMatcher(pattern: string): (key: string) => boolean {
  if (pattern === '**') return () => true
  const leadingDir = pattern.endsWith('/**')
  const base = leadingDir ? pattern.slice(0, -3) : pattern
  const regex = new RegExp(`^${translate(base)}${leadingDir ? '(?:/.*)?' : ''}$`, 's')
  return key => regex.test(key)
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g

function escape(text: string): string {
  return text.replace(REGEX_SPECIAL, '\\$&')
}

function translate(pattern: string): string {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string
    if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else if (c === '\\' && i + 1 < pattern.length) out += escape(pattern[++i] as string)
    else if (c === '[') {
      const bracket = readBracket(pattern, i)
      if (bracket === undefined) out += '\\['
      else {
        out += bracket.regex
        i = bracket.end
      }
    } else out += escape(c)
  }
  return out
}

/** A bracket expression starting at `start`, or undefined when it never closes (then `[` is literal). */
function readBracket(pattern: string, start: number): { regex: string; end: number } | undefined {
  let i = start + 1
  const negated = pattern[i] === '!' || pattern[i] === '^'
  if (negated) i++
  let body = ''
  let first = true
  while (i < pattern.length) {
    const c = pattern[i] as string
    if (c === ']' && !first) {
      return { regex: negated ? `[^/${body}]` : `(?!/)[${body}]`, end: i }
    }
    // keep "-" so ranges survive; escape everything else that means something in a class
    body += c === '-' ? '-' : c.replace(/[\\\]^[]/, '\\$&')
    first = false
    i++
  }
  return undefined
}
