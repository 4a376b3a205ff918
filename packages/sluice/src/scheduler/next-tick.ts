// Cron ticks as instants, computed by cron-parser in the schedule's IANA time zone.
//
// cron-parser's own iteration is the reference sequence (see README: a time skipped by
// spring-forward fires at the first instant after the gap; a fixed-hour time repeated by
// fall-back fires once, at its first occurrence; wildcard-hour schedules fire at every real
// instant). Its `next()` is only consistent with that sequence when started from a tick or from
// outside a repeated hour: started inside the second pass of a repeated hour, `30 1 * * *` fires
// a second time that night. `nextTick` detects that case and starts from just before the
// repeated range. `prev()` disagrees with `next()` around transitions and is never used.
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { InvalidCronError, InvalidTimezoneError } from './schedule-errors.js';

const HOUR_MS = 3_600_000;
// Longer than any DST shift in tzdata (2 h at most), so one lookback sees a whole repeat.
const LOOKBACK_MS = 3 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

function offsetFormatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' });
    formatters.set(timezone, f);
  }
  return f;
}

/** UTC offset of `timezone` at `ms`, in minutes (e.g. -300 for New York in winter). */
export function utcOffsetMinutes(timezone: string, ms: number): number {
  const name = offsetFormatter(timezone)
    .formatToParts(ms)
    .find((p) => p.type === 'timeZoneName')?.value;
  const m = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name ?? '');
  if (m === null) return 0; // "GMT": UTC itself
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/**
 * Returns the runtime's canonical name of an IANA time zone, or throws
 * {@link InvalidTimezoneError}.
 * @example canonicalTimezone('europe/paris') // 'Europe/Paris'
 */
export function canonicalTimezone(timezone: unknown): string {
  if (typeof timezone !== 'string' || timezone.trim() === '' || timezone.length > 64) {
    throw new InvalidTimezoneError(String(timezone));
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch (err) {
    throw new InvalidTimezoneError(timezone, { cause: err });
  }
}

function parse(cron: string, timezone: string, from: number): CronExpression {
  return CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(from) });
}

/**
 * Throws {@link InvalidCronError} unless `cron` (5 fields, or 6 with seconds first) parses and
 * fires at least once after `from` in `timezone` (which must be canonical).
 * @example assertCron('0 2 * * *', 'America/New_York')
 */
export function assertCron(cron: unknown, timezone: string, from = new Date()): string {
  // cron-parser reads an empty expression as "every minute".
  if (typeof cron !== 'string' || cron.trim() === '' || cron.length > 256) {
    throw new InvalidCronError(String(cron), 'give 5 fields (6 with seconds first) or @daily etc.');
  }
  try {
    parse(cron, timezone, from.getTime()).next();
  } catch (err) {
    throw new InvalidCronError(cron, err instanceof Error ? err.message : String(err), {
      cause: err,
    });
  }
  return cron;
}

/**
 * The first tick of `cron` in `timezone` strictly after `after`, consistent with cron-parser's
 * iteration across DST transitions.
 * @example nextTick('0 2 * * *', 'America/New_York', new Date('2025-03-09T05:00:00Z')) // 07:00Z (03:00 EDT)
 */
export function nextTick(cron: string, timezone: string, after: Date): Date {
  const x = after.getTime();
  const direct = parse(cron, timezone, x);
  // Every-hour schedules fire at every real instant of a repeated hour: no phantom possible,
  // and dense ones (per second) would make the walk below costly.
  if (direct.fields.hour.values.length === 24) return direct.next().toDate();
  const before = utcOffsetMinutes(timezone, x - LOOKBACK_MS);
  const now = utcOffsetMinutes(timezone, x);
  if (now < before) {
    // Clocks went back within the lookback: find the instant they did (offsets are constant
    // between transitions, and there is at most one transition in 3 hours).
    let lo = x - LOOKBACK_MS;
    let hi = x;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (utcOffsetMinutes(timezone, mid) === before) lo = mid;
      else hi = mid;
    }
    const shiftMs = (before - now) * 60_000;
    if (x < hi + shiftMs) {
      // `after` lies in the second pass of the repeated wall-clock range: iterate from just
      // before the first pass began, where every wall-clock time is unambiguous. (From the end
      // of the first pass, cron-parser still fires a phantom in zones with 30-minute shifts.)
      const it = parse(cron, timezone, hi - shiftMs - 1);
      for (;;) {
        const t = it.next().getTime();
        if (t > x) return new Date(t);
      }
    }
  }
  return direct.next().toDate();
}

/**
 * Ticks strictly after `after`, in order, without end.
 * @example for (const t of ticksAfter('* * * * *', 'UTC', new Date())) { … break; }
 */
export function* ticksAfter(cron: string, timezone: string, after: Date): Generator<Date> {
  const first = nextTick(cron, timezone, after);
  yield first;
  // Stepping from a tick follows cron-parser's reference sequence.
  const it = parse(cron, timezone, first.getTime());
  for (;;) yield it.next().toDate();
}
