// What the dashboard draws and lists beside the queue counts: finishes per minute, live workers,
// and a transaction with a statement timeout to run a page's reads (or an action) in.
import {
  finishedCountPerMinute,
  queueCountsList,
  transactionRun,
  workerListActivity,
} from '../queries/admin-browse.js';
import type { Pool, PoolClient } from 'pg';
import type { Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import { camelRow } from '../core/camel-row.js';
import { assertName } from '../core/names.js';

/** A queue's live counts, as in `sluice.queue_stats` but without the completed count. */
export interface QueueCounts {
  queue: string;
  isPaused: boolean;
  /** Pending and due, or claimed but not started yet. */
  ready: number;
  /** Pending with run_at in the future. */
  scheduled: number;
  running: number;
  blocked: number;
  dead: number;
  /** Age of the oldest ready job (0 when none). */
  oldestReadyAgeSeconds: number;
}

/**
 * Live counts per queue (all, or the one named), like {@link listQueueStats} without
 * `completedLastHour`: it never reads job_history, so it stays cheap however large history
 * grows. Pair it with {@link countFinishedPerMinute} for recent throughput.
 * @example const [mail] = await listQueueCounts({ db: pool, queue: 'mail' });
 */
export async function listQueueCounts(
  options: Target & { queue?: string },
): Promise<QueueCounts[]> {
  const queue = options.queue === undefined ? null : assertName('queue', options.queue);
  const rows = await queueCountsList({ ...options, queue });
  return rows.map((r) => camelRow(r));
}

/** Finishes of one queue in one minute. */
export interface MinuteCounts {
  queue: string;
  /** The minute's start. */
  minute: Date;
  completed: number;
  cancelled: number;
  /** Jobs dead-lettered (failed for good) in that minute. */
  dead: number;
}

/**
 * Completed, cancelled and dead-lettered jobs per queue and minute over the last `minutes`
 * (default 60, at most 1440; the current minute included). Minutes without finishes are left
 * out. Reads only that time range of job_history and dead_letter.
 * @example const last = await countFinishedPerMinute({ db: pool }); // for a per-minute chart
 */
export async function countFinishedPerMinute(
  options: Target & { minutes?: number },
): Promise<MinuteCounts[]> {
  const minutes = options.minutes ?? 60;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
    throw new InvalidOptionsError('minutes', 'expected a whole number of minutes from 1 to 1440');
  }
  const rows = await finishedCountPerMinute({ ...options, minutes });
  return rows.map((r) => camelRow(r));
}

/** A registered worker process, what it runs, and the leader leases it holds. */
export interface WorkerActivity {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  startedAt: Date;
  heartbeatAt: Date;
  heartbeatAgeSeconds: number;
  /** Jobs it is running now. */
  running: number;
  /** Names of the current leader leases it holds (`maintenance`, ...); empty if none. */
  leads: string[];
}

/**
 * Registered worker processes, oldest first, with their running job counts and leader leases.
 * Default limit 200.
 * @example for (const w of await listWorkers({ db: pool })) console.log(w.host, w.running);
 */
export async function listWorkers(options: Target & { limit?: number }): Promise<WorkerActivity[]> {
  const rows = await workerListActivity({ ...options, limit: options.limit ?? 200 });
  return rows.map((r) => camelRow(r));
}

/**
 * Runs `fn` with one connection of a pg `pool` inside a transaction where every statement stops after
 * `statementTimeoutMs` (default 5000); commits when `fn` resolves, rolls back when it throws.
 * `isReadOnly` opens a READ ONLY transaction. Pass the client on as `db` to admin functions.
 * @example const stats = await withTransaction({ pool, statementTimeoutMs: 2000 }, (db) => listQueueStats({ db }));
 */
export async function withTransaction<T>(
  options: { pool: Pool; statementTimeoutMs?: number; isReadOnly?: boolean },
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const timeoutMs = options.statementTimeoutMs ?? 5000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new InvalidOptionsError('statementTimeoutMs', 'expected a positive whole number');
  }
  return transactionRun(options.pool, { timeoutMs, isReadOnly: options.isReadOnly ?? false }, fn);
}
