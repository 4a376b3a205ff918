// Statements on sluice.schedule, and the insert of a tick's jobs. Values always bound; the
// schema is substituted by inSchema.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { ScheduleTable, Selected } from '../core/types.js';

/** A row of `sluice.schedule`. */
export type ScheduleRow = Selected<ScheduleTable>;

/** A due schedule, with the database clock and next_run_at's exact text for compare-and-set. */
export interface DueScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  missed_policy: 'run_once' | 'run_all' | 'skip';
  max_catch_up: number;
  next_run_at: Date | null;
  next_run_at_token: string | null;
  db_now: Date;
}

const COLUMNS = `name, cron, timezone, task, queue, payload, priority, max_attempts, is_enabled,
  missed_policy, max_catch_up, next_run_at, last_run_at, created_at, updated_at`;

/** The database clock: every schedule time is computed from it, never from the host's. */
export async function dbNow(db: Executor): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now;
}

export interface ScheduleUpsertParams {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  queue: string;
  payloadJson: string;
  priority: number;
  maxAttempts: number | null;
  isEnabled: boolean;
  missedPolicy: string;
  maxCatchUp: number;
  /** First tick after the database's now() in the new cron and zone. */
  nextRunAt: Date;
}

// The NOTIFY wakes the leader's scheduler, asleep until the next tick it knew of: a new or
// changed schedule's first tick must not wait for that sleep to end.
// Re-running schedule() at every deploy must not move next_run_at: a tick due during the
// restart would be lost. It is recomputed only when the timing changed, was never set, or the
// schedule is being re-enabled (no catch-up for the time it was off).
const SCHEDULE_UPSERT = `
WITH up AS (
INSERT INTO sluice.schedule AS s (name, cron, timezone, task, queue, payload, priority,
  max_attempts, is_enabled, missed_policy, max_catch_up, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
ON CONFLICT (name) DO UPDATE SET
  cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, task = EXCLUDED.task,
  queue = EXCLUDED.queue, payload = EXCLUDED.payload, priority = EXCLUDED.priority,
  max_attempts = EXCLUDED.max_attempts, is_enabled = EXCLUDED.is_enabled,
  missed_policy = EXCLUDED.missed_policy, max_catch_up = EXCLUDED.max_catch_up,
  next_run_at = CASE
    WHEN s.cron <> EXCLUDED.cron OR s.timezone <> EXCLUDED.timezone OR s.next_run_at IS NULL
      OR (NOT s.is_enabled AND EXCLUDED.is_enabled)
    THEN EXCLUDED.next_run_at ELSE s.next_run_at END,
  updated_at = now()
RETURNING ${COLUMNS}, (xmax = 0) AS is_created)
SELECT up.* FROM up WHERE pg_notify('sluice:schedule', up.name) IS NOT NULL`;

export async function scheduleUpsert(db: Executor, schema: string, p: ScheduleUpsertParams) {
  const { rows } = await db.query<ScheduleRow & { is_created: boolean }>(
    inSchema(SCHEDULE_UPSERT, schema),
    [
      p.name,
      p.cron,
      p.timezone,
      p.task,
      p.queue,
      p.payloadJson,
      p.priority,
      p.maxAttempts,
      p.isEnabled,
      p.missedPolicy,
      p.maxCatchUp,
      p.nextRunAt,
    ],
  );
  return rows[0]!;
}

export async function scheduleDelete(db: Executor, schema: string, name: string) {
  const { rowCount } = await db.query(
    inSchema(`DELETE FROM sluice.schedule WHERE name = $1`, schema),
    [name],
  );
  return rowCount > 0;
}

export async function scheduleGet(db: Executor, schema: string, name: string) {
  const { rows } = await db.query<ScheduleRow>(
    inSchema(`SELECT ${COLUMNS} FROM sluice.schedule WHERE name = $1`, schema),
    [name],
  );
  return rows[0];
}

export async function scheduleList(db: Executor, schema: string) {
  const { rows } = await db.query<ScheduleRow>(
    inSchema(`SELECT ${COLUMNS} FROM sluice.schedule ORDER BY name`, schema),
  );
  return rows;
}

/** Sets is_enabled; re-enabling moves next_run_at to `nextRunAt` (no catch-up for the gap). */
export async function scheduleSetEnabled(
  db: Executor,
  schema: string,
  p: { name: string; isEnabled: boolean; nextRunAt: Date | null },
) {
  const { rowCount } = await db.query(
    inSchema(
      `UPDATE sluice.schedule SET is_enabled = $2, updated_at = now(),
        next_run_at = CASE WHEN $2 AND NOT is_enabled THEN $3 ELSE next_run_at END
      WHERE name = $1 AND pg_notify('sluice:schedule', $1) IS NOT NULL`,
      schema,
    ),
    [p.name, p.isEnabled, p.nextRunAt],
  );
  return rowCount > 0;
}

// NULL next_run_at (a row inserted by hand) is due too: the scheduler fills it in. A schedule is
// due $2 ms before its tick (the scheduler's lead); db_now is the horizon ticks are planned to.
const SCHEDULE_LIST_DUE = `
SELECT name, cron, timezone, missed_policy, max_catch_up, next_run_at,
  next_run_at::text AS next_run_at_token, now() + $2 * interval '1 millisecond' AS db_now
FROM sluice.schedule
WHERE is_enabled
  AND (next_run_at IS NULL OR next_run_at <= now() + $2 * interval '1 millisecond')
ORDER BY next_run_at NULLS FIRST
LIMIT $1`;

// When the next enabled schedule is due (less the lead), so the scheduler sleeps until then
// instead of a whole interval (database clock).
const SCHEDULE_NEXT_DUE = `
SELECT (extract(epoch FROM min(next_run_at) - now()) * 1000 - $1)::float8 AS due_in_ms
FROM sluice.schedule WHERE is_enabled AND next_run_at > now() + $1 * interval '1 millisecond'`;

/** Milliseconds until the next schedule is due `leadMs` before its tick, or null if none is. */
export async function scheduleNextDue(db: Executor, schema: string, leadMs: number) {
  const { rows } = await db.query<{ due_in_ms: number | null }>(
    inSchema(SCHEDULE_NEXT_DUE, schema),
    [leadMs],
  );
  return rows[0]?.due_in_ms ?? null;
}

/** Schedules whose next tick is at most `leadMs` away, with that horizon as `db_now`. */
export async function scheduleListDue(
  db: Executor,
  schema: string,
  p: { limit: number; leadMs: number },
) {
  const { rows } = await db.query<DueScheduleRow>(inSchema(SCHEDULE_LIST_DUE, schema), [
    p.limit,
    p.leadMs,
  ]);
  return rows;
}

// One statement, so one transaction: the compare-and-set on next_run_at decides which scheduler
// owns the tick (a loser's UPDATE waits on the row lock, re-reads it and matches nothing), and
// only the winner's CTE row feeds the INSERT. The job values come from the row the CAS locked,
// so a concurrent schedule() edit is never half-applied. unique_key `schedule:<name>:<tick>` is
// a second guard against a duplicate while the first job is unfinished.
const SCHEDULE_ADVANCE = `
WITH advanced AS (
  UPDATE sluice.schedule s
  SET next_run_at = $3, updated_at = now(),
    last_run_at = CASE WHEN cardinality($4::timestamptz[]) > 0 THEN now() ELSE s.last_run_at END
  WHERE s.name = $1 AND s.is_enabled AND s.next_run_at IS NOT DISTINCT FROM $2::timestamptz
  RETURNING s.name, s.task, s.queue, s.payload, s.priority, s.max_attempts
), inserted AS (
  INSERT INTO sluice.job (queue, task, payload, run_at, priority, max_attempts, unique_key)
  SELECT a.queue, a.task, a.payload, t.tick, a.priority, coalesce(a.max_attempts, 25),
    'schedule:' || a.name || ':' || t.tick_key
  FROM advanced a
  CROSS JOIN unnest($4::timestamptz[], $5::text[]) AS t(tick, tick_key)
  ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
  RETURNING id, queue, run_at
), woken AS (
  -- Wake a waiting worker at commit, as enqueue does: ticks must not wait for a poll. A tick
  -- inserted ahead says '|later', so the worker arms a timer for its run_at.
  SELECT pg_notify('sluice:job', CASE WHEN d.is_due THEN d.queue ELSE d.queue || '|later' END)
  FROM (SELECT queue, bool_or(run_at <= now()) AS is_due FROM inserted GROUP BY queue) d
  WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
)
SELECT (SELECT count(*) FROM advanced)::int AS advanced,
  coalesce((SELECT array_agg(id::text ORDER BY id) FROM inserted), '{}') AS job_ids
WHERE (SELECT count(*) FROM woken) >= 0`;

/**
 * Moves next_run_at from `token` (its exact text as read) to `nextRunAt` and inserts one job per
 * tick, atomically. `isAdvanced` is false when another scheduler got there first.
 */
export async function scheduleAdvance(
  db: Executor,
  schema: string,
  p: { name: string; token: string | null; nextRunAt: Date; ticks: Date[] },
) {
  const { rows } = await db.query<{ advanced: number; job_ids: string[] }>(
    inSchema(SCHEDULE_ADVANCE, schema),
    [p.name, p.token, p.nextRunAt, p.ticks, p.ticks.map((t) => t.toISOString())],
  );
  const row = rows[0]!;
  return { isAdvanced: row.advanced > 0, jobIds: row.job_ids };
}

// Run-now leaves next_run_at alone and carries no unique key: it is an extra run.
const SCHEDULE_RUN_NOW = `
INSERT INTO sluice.job AS j (queue, task, payload, run_at, priority, max_attempts)
SELECT s.queue, s.task, s.payload, now(), s.priority, coalesce(s.max_attempts, 25)
FROM sluice.schedule s WHERE s.name = $1
RETURNING j.id::text AS id, (SELECT pg_notify('sluice:job', w.queue) FROM sluice.worker_waiting w
  WHERE w.queue = j.queue LIMIT 1) IS NOT NULL AS is_notified`;

export async function scheduleRunNow(db: Executor, schema: string, name: string) {
  const { rows } = await db.query<{ id: string }>(inSchema(SCHEDULE_RUN_NOW, schema), [name]);
  return rows[0]?.id;
}
