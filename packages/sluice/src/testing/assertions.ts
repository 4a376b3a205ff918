// Assertions on what code under test enqueued (Oban.Testing's assert_enqueued, rivertest's
// RequireInserted): read from sluice.job through the caller's connection, so jobs written by an
// open transaction count too. Failures throw node's AssertionError, which vitest, node:test and
// jest all report with the message.
import { AssertionError } from 'node:assert';
import type { Task } from '../client/define-task.js';
import { jobListUnfinished, type UnfinishedJobRow } from '../queries/testing.js';
import { resolveTarget, type Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import { camelRow } from '../core/camel-row.js';

/** What to look for: a task (or its name), optionally a partial payload and a queue. */
export interface EnqueuedQuery extends Target {
  task: Task | string;
  /**
   * A partial payload: every key given must match, nested objects partially too (JSON
   * containment, `@>`); an array matches if it contains the elements given. Default: any.
   */
  payload?: unknown;
  /** Default: any queue. */
  queue?: string;
}

/** An unfinished job, as the assertions report it. */
export interface EnqueuedJobInfo {
  id: string;
  queue: string;
  task: string;
  payload: unknown;
  state: string;
  runAt: Date;
  attempt: number;
  priority: number;
  uniqueKey: string | null;
  groupKey: string | null;
}

function toInfo(r: UnfinishedJobRow): EnqueuedJobInfo {
  return camelRow(r);
}

function describeQuery(q: EnqueuedQuery): string {
  const name = typeof q.task === 'string' ? q.task : q.task.name;
  const payload =
    q.payload === undefined ? '' : ` with payload matching ${JSON.stringify(q.payload)}`;
  return `task "${name}"${q.queue ? ` in queue "${q.queue}"` : ''}${payload}`;
}

/**
 * The unfinished jobs (pending, scheduled or running) matching the query, oldest first.
 * @example const [job] = await enqueuedJobs({ db: client, task: sendEmail });
 */
export async function enqueuedJobs(query: EnqueuedQuery): Promise<EnqueuedJobInfo[]> {
  const { exec, schema } = resolveTarget(query);
  if (typeof query.task !== 'string' && typeof query.task?.name !== 'string') {
    throw new InvalidOptionsError('task', 'pass a task from defineTask or a task name');
  }
  const task = typeof query.task === 'string' ? query.task : query.task.name;
  const rows = await jobListUnfinished(exec, schema, {
    task,
    queue: query.queue ?? null,
    payloadJson: query.payload === undefined ? null : JSON.stringify(query.payload),
  });
  return rows.map(toInfo);
}

/**
 * Asserts that jobs matching the query are waiting (exactly `count` of them, if given); returns
 * them. The message lists what the task does have enqueued.
 * @example await assertEnqueued({ db: client, task: sendEmail, payload: { to: 'ada@example.com' } });
 */
export async function assertEnqueued(
  query: EnqueuedQuery & { count?: number },
): Promise<EnqueuedJobInfo[]> {
  const { count, ...rest } = query;
  const found = await enqueuedJobs(rest);
  const isOk = count === undefined ? found.length > 0 : found.length === count;
  if (!isOk) {
    const all = await enqueuedJobs({ ...rest, payload: undefined, queue: undefined });
    const want = count === undefined ? 'at least one job' : `${count} job(s)`;
    throw new AssertionError({
      message:
        `expected ${want} of ${describeQuery(rest)}, found ${found.length}. ` +
        (all.length === 0
          ? 'Nothing of that task is enqueued.'
          : `Enqueued for the task: ${all
              .slice(0, 10)
              .map((j) => `${j.queue} ${JSON.stringify(j.payload)}`)
              .join('; ')}`),
      actual: found.length,
      expected: count ?? '≥ 1',
      stackStartFn: assertEnqueued,
    });
  }
  return found;
}

/**
 * Asserts that no job matching the query is waiting.
 * @example await refuteEnqueued({ db: client, task: sendEmail, payload: { to: 'spam@example.com' } });
 */
export async function refuteEnqueued(query: EnqueuedQuery): Promise<void> {
  const found = await enqueuedJobs(query);
  if (found.length > 0) {
    throw new AssertionError({
      message: `expected no job of ${describeQuery(query)}, found ${found.length}: ${found
        .slice(0, 10)
        .map((j) => `#${j.id} ${JSON.stringify(j.payload)}`)
        .join('; ')}`,
      actual: found.length,
      expected: 0,
      stackStartFn: refuteEnqueued,
    });
  }
}
