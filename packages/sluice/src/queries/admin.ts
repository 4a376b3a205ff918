// Operator statements behind `sluice stats|jobs|dlq` (and the dashboard): read the views, and
// call the SQL API by name so the CLI and plain SQL always do the same thing.
// These are public, so each validates the schema name before it reaches the SQL text.
import { resolveTarget, type Target } from '../core/target.js';
import { inSchema } from '../core/schema-sql.js';
import type { JobRow } from './job-read.js';
import type { DeadLetterTable, JobState, Selected } from '../core/types.js';

/** Where an admin statement runs. */
export type AdminTarget = Target;

function run(t: AdminTarget) {
  const { exec, schema } = resolveTarget(t);
  return {
    query: <R>(text: string, values?: unknown[]) => exec.query<R>(inSchema(text, schema), values),
  };
}

/** One queue's line of `sluice.queue_stats`, counts as numbers. */
export interface QueueStats {
  queue: string;
  isPaused: boolean;
  ready: number;
  scheduled: number;
  running: number;
  blocked: number;
  dead: number;
  completedLastHour: number;
  oldestReadyAgeSeconds: number;
}

/** Per-queue counts from the `queue_stats` view, by queue name. */
export async function queueStatsList(t: AdminTarget): Promise<QueueStats[]> {
  const { rows } = await run(t).query<Record<string, string | number | boolean>>(
    `SELECT queue, is_paused, ready, scheduled, running, blocked, dead, completed_last_hour,
      oldest_ready_age_seconds FROM sluice.queue_stats ORDER BY queue`,
  );
  return rows.map((r) => ({
    queue: String(r.queue),
    isPaused: r.is_paused === true,
    ready: Number(r.ready),
    scheduled: Number(r.scheduled),
    running: Number(r.running),
    blocked: Number(r.blocked),
    dead: Number(r.dead),
    completedLastHour: Number(r.completed_last_hour),
    oldestReadyAgeSeconds: Number(r.oldest_ready_age_seconds),
  }));
}

/**
 * Completed jobs per queue with `finished_at` in (`since`, now], and the database's now to pass
 * as the next `since`. Counting a window that moves with the caller gives a true rate, where the
 * delta of a sliding "last hour" count drops to zero under a steady load.
 */
export async function jobHistoryCountCompletedSince(
  t: AdminTarget & { since: string | null },
): Promise<{ now: string; counts: Record<string, number> }> {
  const { rows } = await run(t).query<{ now: string; counts: Record<string, number> }>(
    `SELECT now()::text AS now, coalesce(json_object_agg(c.queue, c.n), '{}') AS counts
     FROM (SELECT queue, count(*)::int AS n FROM sluice.job_history
           WHERE state = 'completed' AND finished_at > coalesce($1::timestamptz, now())
             AND finished_at <= now()
           GROUP BY queue) c`,
    [t.since],
  );
  return rows[0] ?? { now: t.since ?? '', counts: {} };
}

export type { JobRow } from './job-read.js';

/** Filters of {@link jobList}; each is skipped when null. */
export interface JobListFilter {
  queue?: string | null;
  state?: JobState | null;
  task?: string | null;
  id?: string | null;
  uniqueKey?: string | null;
  groupKey?: string | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  /** Keyset cursor: only ids below this one (the last id of the previous page). */
  beforeId?: string | null;
}

/**
 * Newest jobs first from `all_jobs`, filtered. Each branch of the view walks its id index
 * backwards (a merge append), so a page costs its LIMIT plus the rows the filters skip.
 */
export async function jobList(
  t: AdminTarget & JobListFilter & { limit: number },
): Promise<JobRow[]> {
  const { rows } = await run(t).query<JobRow>(
    `SELECT * FROM sluice.all_jobs
     WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR state = $2)
       AND ($3::text IS NULL OR task = $3) AND ($4::bigint IS NULL OR id = $4)
       AND ($5::text IS NULL OR unique_key = $5) AND ($6::text IS NULL OR group_key = $6)
       AND ($7::timestamptz IS NULL OR created_at >= $7)
       AND ($8::timestamptz IS NULL OR created_at < $8)
       AND ($9::bigint IS NULL OR id < $9)
     ORDER BY id DESC LIMIT $10`,
    [
      t.queue ?? null,
      t.state ?? null,
      t.task ?? null,
      t.id ?? null,
      t.uniqueKey ?? null,
      t.groupKey ?? null,
      t.createdAfter ?? null,
      t.createdBefore ?? null,
      t.beforeId ?? null,
      t.limit,
    ],
  );
  return rows;
}

/** One job from whichever table holds it, or undefined. */
export async function jobGet(t: AdminTarget & { id: string }): Promise<JobRow | undefined> {
  const { rows } = await run(t).query<JobRow>(`SELECT * FROM sluice.all_jobs WHERE id = $1`, [
    t.id,
  ]);
  return rows[0];
}

/** Runs a pending job now through `sluice.retry_job`; false when the job is not pending. */
export async function jobRetry(t: AdminTarget & { id: string }): Promise<boolean> {
  const { rows } = await run(t).query<{ ok: boolean | null }>(`SELECT sluice.retry_job($1) AS ok`, [
    t.id,
  ]);
  return rows[0]?.ok === true;
}

/** A row of `dead_letter`. */
export type DeadLetterRow = Selected<DeadLetterTable>;

/**
 * Newest dead letters first, optionally of one queue and/or task, failed at or after `since`;
 * `before` is the keyset cursor (failed_at and id of the previous page's last row).
 */
export async function deadLetterList(
  t: AdminTarget & {
    queue?: string | null;
    task?: string | null;
    since?: Date | null;
    before?: { failedAt: Date; id: string } | null;
    limit: number;
  },
): Promise<DeadLetterRow[]> {
  const { rows } = await run(t).query<DeadLetterRow>(
    `SELECT * FROM sluice.dead_letter
     WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR task = $2)
       AND ($3::timestamptz IS NULL OR failed_at >= $3)
       AND ($4::timestamptz IS NULL OR (failed_at, id) < ($4, $5::bigint))
     ORDER BY failed_at DESC, id DESC LIMIT $6`,
    [
      t.queue ?? null,
      t.task ?? null,
      t.since ?? null,
      t.before?.failedAt ?? null,
      t.before?.id ?? null,
      t.limit,
    ],
  );
  return rows;
}

/** One dead letter, or undefined. */
export async function deadLetterGet(
  t: AdminTarget & { id: string },
): Promise<DeadLetterRow | undefined> {
  const { rows } = await run(t).query<DeadLetterRow>(
    `SELECT * FROM sluice.dead_letter WHERE id = $1`,
    [t.id],
  );
  return rows[0];
}

/** Replays one dead letter through `sluice.replay_dead_letter`; the job id, or null if none. */
export async function deadLetterReplay(t: AdminTarget & { id: string }): Promise<string | null> {
  const { rows } = await run(t).query<{ id: string | null }>(
    `SELECT sluice.replay_dead_letter($1) AS id`,
    [t.id],
  );
  return rows[0]?.id ?? null;
}

/** Replays the matching dead letters through `sluice.replay_dead_letters`; how many. */
export async function deadLetterReplayMany(
  t: AdminTarget & { queue?: string | null; task?: string | null; since?: Date | null },
): Promise<number> {
  const { rows } = await run(t).query<{ n: number | null }>(
    `SELECT sluice.replay_dead_letters($1, $2, $3) AS n`,
    [t.queue ?? null, t.task ?? null, t.since ?? null],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Deletes dead letters of a queue and/or task, failed before `before` and/or at or after `since`
 * (all when every filter is null).
 */
export async function deadLetterPurge(
  t: AdminTarget & {
    queue?: string | null;
    task?: string | null;
    before?: Date | null;
    since?: Date | null;
  },
): Promise<number> {
  const { rowCount } = await run(t).query(
    `DELETE FROM sluice.dead_letter
     WHERE ($1::text IS NULL OR queue = $1) AND ($2::timestamptz IS NULL OR failed_at < $2)
       AND ($3::text IS NULL OR task = $3) AND ($4::timestamptz IS NULL OR failed_at >= $4)`,
    [t.queue ?? null, t.before ?? null, t.task ?? null, t.since ?? null],
  );
  return rowCount;
}
