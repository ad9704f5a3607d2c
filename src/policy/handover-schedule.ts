/**
 * When a complete release may be handed to Pantavisor. A trial can reboot the
 * device, so operators pick the moment: at once, never (download only, an
 * operator runs it by hand), or inside a daily window of local wall-clock time.
 */
export type HandoverSchedule =
  | { mode: 'now' }
  | { mode: 'never' }
  | {
      mode: 'window'
      /** local time the window opens, "HH:MM" (00:00–23:59) */
      start: string
      /** local time it closes, "HH:MM"; before `start` means the window crosses midnight */
      end: string
    }

/** The answer to "may I hand over now?", with the reason and, when waiting, until when. */
export type HandoverTiming =
  | { allowed: true; reason: string }
  | {
      allowed: false
      reason: string
      /** when the window next opens (ms since the epoch); absent when it never will */
      opensAtMs?: number
    }

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/

/** Minutes after local midnight of an "HH:MM" text. @throws RangeError when malformed */
function minuteOfDay(text: string, field = 'time'): number {
  const match = HH_MM.exec(text)
  if (match === null) {
    throw new RangeError(
      `hand-over window ${field}: expected "HH:MM" from 00:00 to 23:59, got ${JSON.stringify(text)}`,
    )
  }
  return Number(match[1]) * 60 + Number(match[2])
}

/**
 * Decides whether a hand-over may start at `now`, reading `now` in the
 * process's local time zone. A window is [start, end): it includes its start
 * minute and excludes its end minute. Pure: the caller supplies the time.
 *
 * @throws RangeError when a window time is malformed or start equals end
 */
export function handoverAllowed(schedule: HandoverSchedule, now: Date): HandoverTiming {
  if (schedule.mode === 'now') return { allowed: true, reason: 'schedule is "now"' }
  if (schedule.mode === 'never') {
    return { allowed: false, reason: 'schedule is "never": this device only downloads' }
  }

  const { start, end } = windowMinutes(schedule)
  const window = `${schedule.start}–${schedule.end}`
  const minute = now.getHours() * 60 + now.getMinutes()
  const inside = start < end ? minute >= start && minute < end : minute >= start || minute < end
  if (inside) return { allowed: true, reason: `inside the hand-over window ${window}` }

  const opensAt = nextLocalTime(now, start)
  return {
    allowed: false,
    reason: `outside the hand-over window ${window}; it opens at ${opensAt.toString()}`,
    opensAtMs: opensAt.getTime(),
  }
}

/**
 * Checks a schedule as configuration is loaded, so a typo fails at start-up
 * rather than at the first hand-over.
 *
 * @throws RangeError when a window time is malformed or start equals end
 */
export function checkHandoverSchedule(schedule: HandoverSchedule): void {
  if (schedule.mode === 'window') windowMinutes(schedule)
}

function windowMinutes(schedule: { start: string; end: string }): { start: number; end: number } {
  const start = minuteOfDay(schedule.start, 'start')
  const end = minuteOfDay(schedule.end, 'end')
  if (start === end) {
    throw new RangeError(
      `hand-over window: start and end are both ${schedule.start}; expected two different times`,
    )
  }
  return { start, end }
}

/** The first moment after `now` whose local time is `minute` (built from the calendar, so DST-safe). */
function nextLocalTime(now: Date, minute: number): Date {
  const hours = Math.floor(minute / 60)
  const minutes = minute % 60
  const y = now.getFullYear()
  const m = now.getMonth()
  const d = now.getDate()
  const today = new Date(y, m, d, hours, minutes)
  if (today.getTime() > now.getTime()) return today
  // A local time a DST jump skips resolves to the moment after the jump: still the right opening.
  return new Date(y, m, d + 1, hours, minutes)
}
