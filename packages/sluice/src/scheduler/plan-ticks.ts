// What one scheduler pass does for one due schedule: which ticks get a job and where
// next_run_at moves. Pure, so DST and missed-tick policies are tested with fixed dates.
import { nextTick, ticksAfter } from './next-tick.js';

/** What happens to ticks missed while no scheduler ran. Default `run_once`. */
export type MissedPolicy = 'run_once' | 'run_all' | 'skip';

/** Inputs of {@link planTicks}; all times from the database clock. */
export interface TickPlanInput {
  cron: string;
  /** Canonical IANA zone. */
  timezone: string;
  /** The schedule's stored next_run_at (null: never computed, e.g. a row inserted by SQL). */
  nextRunAt: Date | null;
  now: Date;
  missedPolicy: MissedPolicy;
  maxCatchUp: number;
  /** A tick at most this late is on time and always gets its job; older ones are missed. */
  misfireGraceMs: number;
}

/** The outcome: jobs to enqueue (one per tick, ascending) and the new next_run_at (> now). */
export interface TickPlan {
  ticks: Date[];
  nextRunAt: Date;
  /** Some due tick was older than the grace and went through the missed policy. */
  hasMissed: boolean;
}

// Look-back windows for the newest missed ticks, widening until enough are found, so a long
// outage of a per-second schedule never makes us iterate every tick since it began.
const WINDOWS_MS = [
  60e3,
  600e3,
  3600e3,
  6 * 3600e3,
  86400e3,
  7 * 86400e3,
  35 * 86400e3,
  366 * 86400e3,
];

/** The newest `n` ticks in [first, last], where `first` (the stored next_run_at) counts as one. */
function newestTicks(cron: string, timezone: string, first: Date, last: Date, n: number): Date[] {
  for (const w of [...WINDOWS_MS, Infinity]) {
    const start = Math.max(first.getTime(), last.getTime() - w);
    const found = start === first.getTime() ? [first] : [];
    for (const t of ticksAfter(cron, timezone, new Date(start))) {
      if (t > last) break;
      found.push(t);
    }
    if (found.length >= n || start === first.getTime()) return found.slice(-n);
  }
  return [];
}

/**
 * Plans one pass for one schedule. Ticks within `misfireGraceMs` of now each get a job whatever
 * the policy (the scheduler was merely late). Older ticks are missed: `run_once` runs one job
 * for the newest of them unless an on-time tick already runs, `run_all` runs the newest
 * `maxCatchUp` of them, `skip` runs none. next_run_at becomes the first tick after now.
 * @example planTicks({ cron: '* * * * *', timezone: 'UTC', nextRunAt, now, missedPolicy: 'run_once', maxCatchUp: 10, misfireGraceMs: 60_000 })
 */
export function planTicks(p: TickPlanInput): TickPlan {
  const { cron, timezone, now } = p;
  if (p.nextRunAt === null) {
    return { ticks: [], nextRunAt: nextTick(cron, timezone, now), hasMissed: false };
  }
  const first = p.nextRunAt;
  if (first > now) return { ticks: [], nextRunAt: first, hasMissed: false };

  const graceStart = new Date(now.getTime() - p.misfireGraceMs);
  const onTime: Date[] = [];
  let from = graceStart;
  if (first > graceStart) {
    onTime.push(first);
    from = first;
  }
  let nextRunAt: Date | undefined;
  for (const t of ticksAfter(cron, timezone, from)) {
    if (t > now) {
      nextRunAt = t;
      break;
    }
    onTime.push(t);
  }
  const hasMissed = first <= graceStart;
  let ticks = onTime;
  if (hasMissed) {
    switch (p.missedPolicy) {
      case 'skip':
        break;
      case 'run_once':
        if (onTime.length === 0) ticks = newestTicks(cron, timezone, first, graceStart, 1);
        break;
      case 'run_all':
        ticks = [...newestTicks(cron, timezone, first, graceStart, p.maxCatchUp), ...onTime];
        break;
    }
  }
  return { ticks, nextRunAt: nextRunAt!, hasMissed };
}
