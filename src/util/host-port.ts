/**
 * `host:port` as the local API is given everywhere (flags, config, clients): a host without
 * slashes or spaces (an IPv6 one in brackets) and a port from 0 to 65535. Undefined for
 * anything else; the brackets are dropped from the host.
 */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^([^/\s]+):(\d{1,5})$/.exec(text)
  if (match === null) return undefined
  const port = Number(match[2])
  if (port > 65535) return undefined
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}
