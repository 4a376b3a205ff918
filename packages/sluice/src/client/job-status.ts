// What producers ask about their jobs: where one is now, and waiting until it finishes.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { toExecutor, type DbTarget } from '../core/db.js';
import { InvalidOptionsError, JobNotFoundError, TimeoutError } from '../core/errors.js';
import { assertSchemaName } from '../core/names.js';
import { resolveTarget } from '../core/target.js';
import { jobGet, type JobRow } from '../queries/job-read.js';
import { parseJobEvents } from './job-events.js';
import { doneChannelListen, eventListenerDelete, eventListenerUpsert } from '../queries/worker.js';
import { camelRow } from '../core/camel-row.js';

/** A job as `getJob` reports it, from whichever table holds it. */
export interface JobInfo {
  id: string;
  queue: string;
  task: string;
  state: JobRow['state'];
  attempt: number;
  maxAttempts: number;
  /** Higher runs first (the reverse of BullMQ). */
  priority: number;
  uniqueKey: string | null;
  groupKey: string | null;
  /** The worker holding it while running; in history, the one that finished it. */
  workerId: string | null;
  payload: unknown;
  progress: unknown;
  result: unknown;
  errors: unknown[];
  runAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The flow it belongs to (its first member's id), or null. */
  flowId: string | null;
}

const FINISHED = new Set(['completed', 'cancelled', 'expired', 'dead']);

/** A row of `sluice.all_jobs` as a {@link JobInfo}. */
export function toJobInfo(r: JobRow): JobInfo {
  return { ...camelRow(r), errors: Array.isArray(r.errors) ? (r.errors as unknown[]) : [] };
}

/** A job id as the queries take it (decimal digits), or a typed error. */
export function jobId(id: unknown): string {
  const s = String(id);
  if (!/^\d+$/.test(s)) throw new InvalidOptionsError('job id', `${s} is not a job id`);
  return s;
}

/**
 * Returns a job's state, attempts, progress, result and errors, or undefined if no table has it.
 * @example const job = await getJob({ db: pool, id });
 */
export async function getJob(options: {
  db: DbTarget;
  id: string | number | bigint;
  schema?: string;
}): Promise<JobInfo | undefined> {
  const { exec, schema } = resolveTarget(options);
  const row = await jobGet(exec, schema, jobId(options.id));
  return row && toJobInfo(row);
}

/**
 * Resolves when the job is completed, cancelled or dead (LISTEN-woken, polling as backstop);
 * rejects with TimeoutError after `timeoutMs` (default 30 s).
 * @example const { state, result } = await waitForJob({ db: process.env.DATABASE_URL!, id });
 */
export async function waitForJob(options: {
  db: string | pg.ClientConfig;
  id: string | number | bigint;
  schema?: string;
  timeoutMs?: number;
  pollIntervalMs?: number;
}): Promise<JobInfo> {
  const schema = assertSchemaName(options.schema ?? 'sluice');
  const id = jobId(options.id);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const client = new pg.Client(
    typeof options.db === 'string' ? { connectionString: options.db } : options.db,
  );
  client.on('error', () => undefined);
  await client.connect();
  const exec = toExecutor(client);
  let wake: () => void = () => undefined;
  client.on('notification', (n) => {
    if (parseJobEvents(n.payload ?? '').some((e) => e.id === id)) wake();
  });
  // Workers announce finished jobs only while some listener is registered.
  const listenerId = `wait-${randomUUID()}`;
  try {
    await eventListenerUpsert(exec, schema, listenerId);
    await doneChannelListen(exec, schema);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await jobGet(exec, schema, id);
      if (!row) throw new JobNotFoundError(id);
      if (FINISHED.has(row.state)) return toJobInfo(row);
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(timeoutMs, `waiting for job ${id}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, options.pollIntervalMs ?? 1000));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    await eventListenerDelete(exec, schema, listenerId).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
