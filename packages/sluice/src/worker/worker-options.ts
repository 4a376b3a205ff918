// Options of createWorker: the documented interface users read, and the zod schema that checks
// it at the boundary and fills in the defaults (kept in step by the `satisfies` below).
import pg from 'pg';
import { z } from 'zod';
import type { Task } from '../client/define-task.js';
import type { Logger } from '../core/logger.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { LeaderService } from './leader.js';

/**
 * Options of {@link createWorker}. Only `db` and `tasks` are required.
 * @example
 * createWorker({
 *   db: process.env.DATABASE_URL!,
 *   tasks: [sendEmail.handle(send), resize.handleInThread(new URL('./resize.js', import.meta.url))],
 *   concurrency: 20,
 * });
 */
export interface WorkerOptions {
  /**
   * Where to connect: a connection string, a `pg.PoolConfig` (its `max` is honoured), or a
   * `pg.Pool`, whose settings are copied into the worker's own pool (the worker sets
   * `synchronous_commit` on its connections, which it must not do to yours). One more
   * connection is used for LISTEN. Default pool size 4.
   */
  db: string | pg.PoolConfig | pg.Pool;
  /** Tasks with their handlers (`task.handle(fn)` or `task.handleInThread(url)`). */
  tasks: Task[];
  /** Queues to claim from. Default: the queues of `tasks`. */
  queues?: string[];
  /** Jobs running at once in this process. Default 10. */
  concurrency?: number;
  /** Claimed jobs waiting locally for a free slot (their leases are kept). Default: `concurrency`. */
  bufferSize?: number;
  /** Schema Sluice was migrated into. Default `sluice`. */
  schema?: string;
  /** Claim when no NOTIFY came for this long; the backstop of LISTEN. Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * How long a claimed job is this worker's without a heartbeat: a job whose lease lapses is
   * rescued and may run again elsewhere. Default 30 s. A handler that blocks the event loop
   * longer than this should run in a thread (`task.handleInThread`).
   */
  leaseMs?: number;
  /**
   * How long the leader's lease lasts without renewal: when the leader dies, another worker takes
   * over (rescue, cron, maintenance) within this. Default: `leaseMs`.
   */
  leaderLeaseMs?: number;
  /**
   * A worker whose heartbeat is older than this is removed from `sluice.worker` by the leader,
   * and the jobs it held are rescued at once. Default: `2 × leaseMs`.
   */
  staleWorkerMs?: number;
  /** Heartbeat (lease renewal of held jobs). Default `leaseMs / 3`. */
  heartbeatIntervalMs?: number;
  /** How often the leader rescues lapsed jobs. Default `min(5 s, leaseMs / 2)`. */
  rescueIntervalMs?: number;
  /** Back-off of a rescued job: `rescueBackoffMs · 2^(attempt-1)`. Default 1000 ms. */
  rescueBackoffMs?: number;
  /**
   * `'async'` (default): the worker's own writes (claims, completions) commit with
   * `synchronous_commit = off`, so a Postgres crash may lose the last fraction of a second of
   * them; the leases then run those jobs again (never lose them). `'durable'`: they wait for
   * the WAL flush like any other commit. Producers' transactions are never changed.
   */
  commitMode?: 'async' | 'durable';
  /**
   * Run the claim and complete statements as named prepared statements. Default true; false
   * behind PgBouncer in transaction mode before 1.21.
   */
  preparedStatements?: boolean;
  /** Wake on NOTIFY instead of waiting for the poll. Default true. */
  isListenEnabled?: boolean;
  /**
   * Where the LISTEN connection goes when `db` is a pooler in transaction mode (PgBouncer), which
   * cannot carry LISTEN: a direct connection string to the same database. Everything else still
   * goes through `db`. Default: the connection settings of `db`.
   * @example createWorker({ db: 'postgres://app@pgbouncer:6432/app', listenUrl: 'postgres://app@db:5432/app', tasks });
   */
  listenUrl?: string;
  /** May become the leader (rescue, cron, maintenance). Default true. */
  isLeaderEligible?: boolean;
  /** How often the LISTEN connection proves it is alive. Default 30 s. */
  livenessIntervalMs?: number;
  /** On stop, how long running jobs may finish before they are aborted. Default 25 s. */
  graceMs?: number;
  /** Where the worker logs (pino-shaped). Default: JSON lines on stderr at `info`. */
  logger?: Logger;
  /** Runs the cron scheduler and maintenance when this worker is the leader. Default true. */
  isMaintenanceEnabled?: boolean;
  /** More parts to run only while this worker is the leader. Default none. */
  leaderServices?: LeaderService[];
}

export const workerOptionsSchema = z
  .object({
    db: z.union([
      z.string().min(1),
      z.instanceof(pg.Pool),
      z.custom<pg.PoolConfig>((v) => typeof v === 'object' && v !== null),
    ]),
    tasks: z
      .array(z.custom<Task>((t) => typeof t === 'object' && t !== null && 'name' in t))
      .min(1),
    queues: z.array(z.string()).min(1).optional(),
    concurrency: z.number().int().min(1).max(10_000).default(10),
    bufferSize: z.number().int().min(0).optional(),
    schema: z.string().default('sluice'),
    pollIntervalMs: z.number().int().min(10).default(1000),
    leaseMs: z.number().int().min(100).default(30_000),
    leaderLeaseMs: z.number().int().min(100).optional(),
    staleWorkerMs: z.number().int().min(100).optional(),
    heartbeatIntervalMs: z.number().int().min(10).optional(),
    rescueIntervalMs: z.number().int().min(10).optional(),
    rescueBackoffMs: z.number().int().min(0).default(1000),
    commitMode: z.enum(['async', 'durable']).default('async'),
    preparedStatements: z.boolean().default(true),
    isListenEnabled: z.boolean().default(true),
    listenUrl: z.string().min(1).optional(),
    isLeaderEligible: z.boolean().default(true),
    livenessIntervalMs: z.number().int().min(100).default(30_000),
    graceMs: z.number().int().min(0).default(25_000),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    isMaintenanceEnabled: z.boolean().default(true),
    leaderServices: z.array(z.custom<LeaderService>()).default([]),
  })
  .strict() satisfies z.ZodType<unknown, WorkerOptions>;

/** The connection settings of the worker's own pool, from any accepted `db`. */
export function poolConfigOf(db: string | pg.PoolConfig | pg.Pool): pg.PoolConfig {
  if (typeof db === 'string') return { connectionString: db };
  if (db instanceof pg.Pool) return { ...(db as unknown as { options: pg.PoolConfig }).options };
  return db;
}

/** The connection of the worker's LISTEN client: `listenUrl` when given, else that of `db`. */
export function listenConfigOf(o: {
  db: string | pg.PoolConfig | pg.Pool;
  listenUrl?: string | undefined;
}): pg.ClientConfig {
  return o.listenUrl === undefined ? poolConfigOf(o.db) : { connectionString: o.listenUrl };
}

/** The worker's own pool: the connection settings of `db`, and its commit mode per session. */
export function createWorkerPool(o: {
  db: string | pg.PoolConfig | pg.Pool;
  commitMode: 'async' | 'durable';
}): pg.Pool {
  const connection = poolConfigOf(o.db);
  // In the default 'async' commit mode, worker statements may be lost in a server crash without
  // harm (the job just runs again), so they skip the commit flush; producers' transactions are
  // never touched.
  const commitOption = o.commitMode === 'async' ? '-c synchronous_commit=off' : '';
  return new pg.Pool({
    max: 4,
    ...connection,
    options: [connection.options, commitOption].filter(Boolean).join(' '),
  });
}

/** The worker's tasks by name; each must have its handler (`task.handle(fn)`). */
export function handledTasks(tasks: readonly Task[]): Map<string, Task> {
  const out = new Map<string, Task>();
  for (const t of tasks) {
    if (typeof t.handler !== 'function') {
      throw new InvalidOptionsError(
        'worker tasks',
        `task "${t.name}" has no handler: use task.handle(fn)`,
      );
    }
    out.set(t.name, t);
  }
  return out;
}
