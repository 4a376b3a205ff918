// Writes about one running job outside the batching completer: a handler's work that commits
// with its job (ctx.transaction), its dependency results (ctx.dependencies), and the finish of a
// job cancelled while running or claimed after its expiry.
import type pg from 'pg';
import type { Executor } from '../core/db.js';
import { LeaseLostError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { jobCompleteHeldText } from '../queries/flow.js';
import type { ClaimedJob } from '../queries/job-claim.js';
import { jobCancelRunning } from '../queries/job-worker.js';
import { jobProgressSet } from '../queries/job-lease.js';
import type { Token } from './completer.js';
import { resultJson } from './executor.js';
import type { RunningJob } from './running-job.js';

export interface JobTransactionHost {
  pool: pg.Pool;
  db: Executor;
  schema: string;
  workerId: string;
  logger: Logger;
}

/**
 * BEGIN, the handler's `fn(tx)`, then its job's completion and COMMIT sent as one query: one
 * round trip more than a plain completion. A lost lease makes the completion raise, so the
 * COMMIT never runs and the handler's writes roll back.
 */
export async function runJobTransaction<T>(
  host: JobTransactionHost,
  entry: RunningJob,
  fn: (tx: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const { job } = entry;
  const client = await host.pool.connect();
  let isOpen = false;
  let broken: Error | undefined;
  entry.isInTransaction = true;
  try {
    await client.query('BEGIN');
    isOpen = true;
    const value = await fn(client);
    const text = jobCompleteHeldText(host.schema, (v) => client.escapeLiteral(v), {
      queue: job.queue,
      id: job.id,
      attempt: job.attempt,
      workerId: host.workerId,
      resultJson: resultJson(value),
      ranMs: Date.now() - entry.startedAt,
    });
    try {
      await client.query(`${text};\nCOMMIT`);
      isOpen = false;
    } catch (err) {
      if ((err as { code?: string }).code === 'SL409') throw new LeaseLostError(job.id);
      throw err;
    }
    entry.isCommitted = true;
    return value;
  } finally {
    entry.isInTransaction = false;
    if (isOpen) {
      await client.query('ROLLBACK').catch((err: unknown) => (broken = err as Error));
    }
    // A connection that failed mid-transaction is discarded, not returned to the pool.
    client.release(broken);
  }
}

/** Writes a job's progress (the caller throttles). */
export async function saveProgress(host: JobTransactionHost, job: ClaimedJob, value: unknown) {
  await jobProgressSet(host.db, host.schema, {
    queue: job.queue,
    id: job.id,
    attempt: job.attempt,
    workerId: host.workerId,
    progressJson: JSON.stringify(value ?? null),
  });
}

/**
 * Ends a claimed job without a result: cancelled (its handler cancelled, or it was asked to) or
 * expired (not started by its expiresAt). False when its lease was lost meanwhile.
 */
export async function endClaimed(
  host: JobTransactionHost,
  token: Token,
  end: { state: 'cancelled' | 'expired'; reason: string },
): Promise<boolean> {
  try {
    return await jobCancelRunning(host.db, host.schema, {
      ...token,
      workerId: host.workerId,
      reason: end.reason,
      state: end.state,
    });
  } catch (err) {
    host.logger.error({ err, jobId: token.id }, `recording the job ${end.state} failed`);
    return false;
  }
}
