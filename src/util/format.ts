/**
 * Bytes in binary units for people: `1536` → `1.50 KiB` (two decimals below
 * 10, one above), or always `decimals` when given (`1.5 KiB`).
 */
export function formatBytes(bytes: number, decimals?: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(decimals ?? (value < 10 ? 2 : 1))} ${units[unit]}`
}
