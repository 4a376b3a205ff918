// Statements behind the dashboard's pages that the CLI does not need: the last hour per minute,
// live workers with what they run, and a transaction with a statement timeout around a page.
import { resolveTarget, type Target } from '../core/target.js';
import type { Pool, PoolClient } from 'pg';
import { inSchema } from '../core/schema-sql.js';

/** One minute of one queue: jobs completed, cancelled and dead-lettered in it. */
export interface MinuteCountRow {
  queue: string;
  minute: Date;
  completed: number;
  cancelled: number;
  dead: number;
}

/**
 * Finished jobs per queue and minute over the last `minutes` minutes (this one included). Both
 * tables are read by time only (job_history by its BRIN index, which also prunes day partitions;
 * dead_letter by dead_letter_failed_idx), so the cost follows the last hour's volume, not the
 * size of history. Minutes without any finish are absent. The bound is written out in both
 * branches (not a CTE): as an expression of now() it prunes the day partitions when the executor
 * starts, where a CTE's value would leave every partition in the plan.
 */
export async function finishedCountPerMinute(
  t: Target & { minutes: number },
): Promise<MinuteCountRow[]> {
  const { exec, schema } = resolveTarget(t);
  const { rows } = await exec.query<MinuteCountRow>(
    inSchema(
      `SELECT queue, minute, sum(completed)::int AS completed, sum(cancelled)::int AS cancelled,
         sum(dead)::int AS dead
       FROM (
         SELECT queue, date_trunc('minute', finished_at) AS minute,
           count(*) FILTER (WHERE state = 'completed') AS completed,
           count(*) FILTER (WHERE state = 'cancelled') AS cancelled, 0 AS dead
         FROM sluice.job_history
         WHERE finished_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
         GROUP BY 1, 2
         UNION ALL
         SELECT queue, date_trunc('minute', failed_at), 0, 0, count(*)
         FROM sluice.dead_letter
         WHERE failed_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
         GROUP BY 1, 2
       ) c
       GROUP BY queue, minute ORDER BY queue, minute`,
      schema,
    ),
    [t.minutes],
  );
  return rows;
}

/** One queue's live counts: `queue_stats` without its history column. */
export interface QueueCountsRow {
  queue: string;
  is_paused: boolean;
  ready: number;
  scheduled: number;
  running: number;
  blocked: number;
  dead: number;
  oldest_ready_age_seconds: number;
}

/**
 * The counts of `queue_stats` but completed_last_hour, for every queue or one. One pass over the
 * job table and one over dead letters grouped by queue, where the view runs one lateral
 * aggregate per queue, and no read of job_history at all: with 1M rows of history, 100k pending
 * and 10k dead letters, about 4x cheaper than the view (scripts/bench/dashboard.mjs). With
 * `queue` set, only that queue's partition is read (the planner prunes with the bound value).
 */
export async function queueCountsList(
  t: Target & { queue: string | null },
): Promise<QueueCountsRow[]> {
  const { exec, schema } = resolveTarget(t);
  const { rows } = await exec.query<QueueCountsRow>(
    inSchema(
      `SELECT q.name AS queue, q.is_paused, coalesce(j.ready, 0)::int AS ready,
         coalesce(j.scheduled, 0)::int AS scheduled, coalesce(j.running, 0)::int AS running,
         coalesce(j.blocked, 0)::int AS blocked, coalesce(d.dead, 0)::int AS dead,
         coalesce(extract(epoch FROM now() - j.oldest_ready_run_at), 0)::float8
           AS oldest_ready_age_seconds
       FROM sluice.queue q
       LEFT JOIN (
         SELECT queue,
           count(*) FILTER (WHERE (state = 'pending' AND run_at <= now())
             OR (state = 'running' AND started_at IS NULL)) AS ready,
           count(*) FILTER (WHERE state = 'pending' AND run_at > now()) AS scheduled,
           count(*) FILTER (WHERE state = 'running' AND started_at IS NOT NULL) AS running,
           count(*) FILTER (WHERE state = 'blocked') AS blocked,
           min(run_at) FILTER (WHERE state = 'pending' AND run_at <= now()) AS oldest_ready_run_at
         FROM sluice.job WHERE ($1::text IS NULL OR queue = $1) GROUP BY queue
       ) j ON j.queue = q.name
       LEFT JOIN (
         SELECT queue, count(*) AS dead FROM sluice.dead_letter
         WHERE ($1::text IS NULL OR queue = $1) GROUP BY queue
       ) d ON d.queue = q.name
       WHERE ($1::text IS NULL OR q.name = $1)
       ORDER BY q.name`,
      schema,
    ),
    [t.queue],
  );
  return rows;
}

/** A live worker process with the number of jobs it runs and whether it holds a leader lease. */
export interface WorkerActivityRow {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  started_at: Date;
  heartbeat_at: Date;
  heartbeat_age_seconds: number;
  running: number;
  leads: string[];
}

/**
 * Registered workers (at most `limit`, oldest first) with their running jobs, counted from the
 * running rows only (job_running_idx is partial on state = 'running'), and the current leases
 * they hold.
 */
export async function workerListActivity(
  t: Target & { limit: number },
): Promise<WorkerActivityRow[]> {
  const { exec, schema } = resolveTarget(t);
  const { rows } = await exec.query<WorkerActivityRow>(
    inSchema(
      `SELECT w.id, w.host, w.pid, w.queues, w.concurrency, w.started_at, w.heartbeat_at,
         extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age_seconds,
         coalesce(r.n, 0)::int AS running,
         coalesce((SELECT array_agg(l.name ORDER BY l.name) FROM sluice.leader l
                   WHERE l.worker_id = w.id AND l.expires_at > now()), '{}') AS leads
       FROM sluice.worker w
       LEFT JOIN (SELECT worker_id, count(*) AS n FROM sluice.job
                  WHERE state = 'running' GROUP BY worker_id) r ON r.worker_id = w.id
       ORDER BY w.started_at, w.id LIMIT $1`,
      schema,
    ),
    [t.limit],
  );
  return rows;
}

/**
 * Runs `fn` on one connection inside a transaction whose statements each stop after `timeoutMs`
 * (`SET LOCAL`: the setting ends with the transaction, so the pooled connection is not changed).
 */
export async function transactionRun<T>(
  pool: Pool,
  options: { timeoutMs: number; isReadOnly: boolean },
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let isBroken = false;
  try {
    await client.query(options.isReadOnly ? 'BEGIN READ ONLY' : 'BEGIN');
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [
      String(options.timeoutMs),
    ]);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      isBroken = true;
    });
    throw err;
  } finally {
    client.release(isBroken);
  }
}
