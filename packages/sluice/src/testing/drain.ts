// drainQueue: runs, one at a time and in the caller's own connection, the jobs that code under
// test enqueued, with their real handlers and the worker's own claim and finish statements. On
// a client inside an open transaction it sees (and runs) jobs that transaction wrote, so a test
// that rolls back at the end leaves nothing behind.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Task } from '../client/define-task.js';
import { saveJobLog } from '../worker/job-log.js';
import type { Logger } from '../core/logger.js';
import { jobClaim, queueLimitsGet, type ClaimedJob } from '../queries/job-claim.js';
import { jobCancelRunning, jobComplete, jobFail, jobRelease } from '../queries/job-worker.js';
import { jobProgressSet } from '../queries/job-lease.js';
import { jobMakeDueNow } from '../queries/testing.js';
import { workerRegister, workerUnregister } from '../queries/worker.js';
import { resolveTarget, type Target } from '../core/target.js';
import type { Executor } from '../core/db.js';
import type { RunOutcome } from '../worker/executor.js';
import { RunningJob, type RunningJobHost } from '../worker/running-job.js';
import { dependenciesRead } from '../queries/flow.js';
import { parseOptions } from '../core/options.js';

const drainOptionsSchema = z
  .object({
    tasks: z.array(z.custom<Task>((t) => typeof (t as Task)?.name === 'string')).min(1),
    queues: z.array(z.string()).min(1).optional(),
    withScheduled: z.boolean().default(false),
    maxJobs: z.number().int().min(1).default(10_000),
    logger: z.custom<Logger>().optional(),
  })
  .strict();

/** Options of {@link drainQueue}. */
export interface DrainOptions extends Target {
  /** Tasks with their handlers (`task.handle(fn)`), as given to a worker. */
  tasks: Task[];
  /** Queues to drain. Default: the queues of `tasks`. */
  queues?: string[];
  /**
   * Also run jobs scheduled for later (delayed, snoozed, retries waiting for their back-off), by
   * making them due now, until nothing is left. Default false: only jobs due now run.
   */
  withScheduled?: boolean;
  /** Stop after this many attempts (a job that always snoozes would never end). Default 10,000. */
  maxJobs?: number;
  /** Where handlers' `ctx.logger` writes. Default: nowhere. */
  logger?: Logger;
}

/** What a drain did, counted per attempt. */
export interface DrainResult {
  completed: number;
  /** Failed and scheduled for another attempt. */
  retried: number;
  /** Out of attempts or permanent: moved to dead letters. */
  dead: number;
  cancelled: number;
  snoozed: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Runs the jobs waiting in the queues of `tasks` with their real handlers until none is due,
 * in the caller's connection (a transaction's client too), one at a time, oldest first by
 * priority as a worker would. Returns what happened.
 * @example
 * await signUp(client, 'ada@example.com'); // enqueues send-email in the same transaction
 * const result = await drainQueue({ db: client, tasks: [sendEmail.handle(send)] });
 * expect(result.completed).toBe(1);
 */
export async function drainQueue(options: DrainOptions): Promise<DrainResult> {
  const { db, schema: s, ...rest } = options;
  const { exec, schema } = resolveTarget({ db, schema: s });
  const parsedData = parseOptions(drainOptionsSchema, 'drain options', rest);
  const o = parsedData;
  const tasks = new Map(o.tasks.map((t) => [t.name, t]));
  const queues = o.queues ?? [...new Set(o.tasks.map((t) => t.queue))];
  const result: DrainResult = { completed: 0, retried: 0, dead: 0, cancelled: 0, snoozed: 0 };
  // Registered like a worker, so a leader elsewhere sees its claims as held, not orphaned.
  const workerId = `sluice-testing-${randomUUID()}`;
  await workerRegister(exec, schema, {
    id: workerId,
    host: hostname(),
    pid: process.pid,
    queues,
    concurrency: 1,
  });
  try {
    const { limits } = await queueLimitsGet(exec, schema, queues);
    const partitions = new Map(limits.map((r) => [r.name, r.partition_name]));
    let attempts = 0;
    for (;;) {
      if (o.withScheduled) await jobMakeDueNow(exec, schema, queues);
      let isAnyClaimed = false;
      for (const queue of queues) {
        const partition = partitions.get(queue);
        if (partition === undefined) continue;
        const [job] = await jobClaim(exec, schema, {
          queue,
          partition,
          limit: 1,
          workerId,
          leaseMs: 600_000,
        });
        if (!job) continue;
        isAnyClaimed = true;
        const outcome = await runOne(job, tasks.get(job.task), exec, schema, workerId, o.logger);
        await write(exec, schema, workerId, outcome, result);
        if (++attempts >= o.maxJobs) return result;
      }
      if (!isAnyClaimed) return result;
    }
  } finally {
    await workerUnregister(exec, schema, workerId);
  }
}

function runOne(
  job: ClaimedJob,
  task: Task | undefined,
  exec: Executor,
  schema: string,
  workerId: string,
  logger: Logger = silent,
): Promise<RunOutcome> {
  return new Promise<RunOutcome>((resolve) => {
    const host: RunningJobHost = {
      logger,
      heartbeat: () => Promise.resolve(),
      onProgress: () => {},
      saveProgress: (j, value) =>
        jobProgressSet(exec, schema, {
          queue: j.queue,
          id: j.id,
          attempt: j.attempt,
          workerId,
          progressJson: JSON.stringify(value ?? null),
        }),
      saveLog: (j, lines, firstSeq) => saveJobLog({ db: exec, schema }, j, lines, firstSeq),
      finish: (entry, outcome) => {
        // History's started_at is when the handler started, as from a worker.
        if (outcome.kind === 'complete' || outcome.kind === 'fail') {
          outcome.startedAt = entry.startedAt;
        }
        resolve(outcome);
      },
      dependencies: (j) => dependenciesRead(exec, schema, j.id),
    };
    new RunningJob(job, task, host).start();
  });
}

async function write(
  exec: Executor,
  schema: string,
  workerId: string,
  outcome: RunOutcome,
  result: DrainResult,
): Promise<void> {
  const { token } = outcome;
  const queue = token.queue;
  switch (outcome.kind) {
    case 'complete':
      await jobComplete(exec, schema, { queue, workerId, jobs: [outcome] });
      result.completed++;
      return;
    case 'fail': {
      const [row] = await jobFail(exec, schema, {
        queue,
        workerId,
        jobs: [{ ...outcome, id: token.id, attempt: token.attempt }],
      });
      if (row?.outcome === 'dead') result.dead++;
      else result.retried++;
      return;
    }
    case 'release':
      await jobRelease(exec, schema, {
        queue,
        workerId,
        jobs: [{ ...outcome, id: token.id, attempt: token.attempt }],
      });
      result.snoozed++;
      return;
    case 'cancel':
      await jobCancelRunning(exec, schema, {
        queue,
        id: token.id,
        attempt: token.attempt,
        workerId,
        reason: outcome.reason,
      });
      result.cancelled++;
      return;
    case 'expire':
      await jobCancelRunning(exec, schema, {
        ...token,
        workerId,
        reason: 'expired before it started',
        state: 'expired',
      });
      return;
    case 'committed':
      result.completed++;
      return;
    case 'aborted':
      // Only a worker's shutdown or a cancel request interrupts a job; neither happens here.
      await jobRelease(exec, schema, {
        queue,
        workerId,
        jobs: [{ id: token.id, attempt: token.attempt, refund: true, delayMs: 0, errorJson: null }],
      });
      return;
  }
}
