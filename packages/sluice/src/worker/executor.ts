// What a handler's result or error means for its job: the outcome the completer writes. The
// running of a handler (timeout, interruption) is in running-job.ts.
import type { z } from 'zod';
import type { Task } from '../client/define-task.js';
import { PermanentError, UnknownTaskError } from '../core/errors.js';
import { Cancel, Snooze } from '../client/job-directive.js';
import type { ClaimedJob } from '../queries/job-claim.js';
import { backoffDelay, type RetryPolicy } from '../client/retry-policy.js';
import type { Outcome, Token } from './completer.js';

export type RunOutcome =
  | Outcome
  | { kind: 'cancel'; token: Token; reason: string }
  | { kind: 'aborted'; token: Token }
  // Claimed after its expires_at: finished as expired, never run.
  | { kind: 'expire'; token: Token }
  // Completed inside the handler's own transaction: already written.
  | { kind: 'committed'; token: Token };

export function errorJson(err: unknown, attempt: number): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const out: Record<string, unknown> = {
    attempt,
    name: e.name,
    message: e.message,
    stack: e.stack?.split('\n').slice(0, 12).join('\n'),
  };
  if ('issues' in e && Array.isArray((e as { issues: unknown }).issues)) {
    out.issues = (e as { issues: unknown }).issues;
  }
  return JSON.stringify(out);
}

export function resultJson(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}

export function tokenOf(job: ClaimedJob): Token {
  return { id: job.id, queue: job.queue, task: job.task, attempt: job.attempt };
}

/** A failed attempt: retried with back-off unless permanent or out of attempts. */
export function failOutcome(
  job: ClaimedJob,
  task: Task | undefined,
  err: unknown,
  isPermanent: boolean,
): RunOutcome {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    kind: 'fail',
    token: tokenOf(job),
    isPermanent,
    errorJson: errorJson(e, job.attempt),
    error: { name: e.name, message: e.message },
    delayMs: isPermanent
      ? 0
      : backoffDelay(
          (job.run_options?.retry as RetryPolicy | undefined) ?? task?.retry,
          job.attempt,
          err,
        ),
  };
}

/** The outcome of a handler that returned (or resolved to) `value`. */
export function valueOutcome(job: ClaimedJob, value: unknown): RunOutcome {
  if (value instanceof Snooze) {
    return {
      kind: 'release',
      token: tokenOf(job),
      refund: true,
      delayMs: value.delayMs,
      errorJson: null,
    };
  }
  if (value instanceof Cancel) return { kind: 'cancel', token: tokenOf(job), reason: value.reason };
  return { kind: 'complete', token: tokenOf(job), resultJson: resultJson(value) };
}

/** The outcome of a handler that threw (or rejected with) `err`. */
export function errorOutcome(job: ClaimedJob, task: Task | undefined, err: unknown): RunOutcome {
  if (err instanceof Snooze || err instanceof Cancel) return valueOutcome(job, err);
  return failOutcome(job, task, err, err instanceof PermanentError);
}

export function unknownTaskOutcome(job: ClaimedJob): RunOutcome {
  return failOutcome(job, undefined, new UnknownTaskError(job.task), false);
}

/** A stored payload that the task's current schema rejects: retrying cannot help. */
export function payloadMismatchOutcome(job: ClaimedJob, task: Task, error: z.ZodError): RunOutcome {
  const err = Object.assign(new PermanentError(`payload no longer matches task "${job.task}"`), {
    issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
  return failOutcome(job, task, err, true);
}

/** A claimed job given back before its handler started: the attempt is refunded. */
export function unstartedReleaseOutcome(job: ClaimedJob): Outcome {
  return { kind: 'release', token: tokenOf(job), refund: true, delayMs: 0, errorJson: null };
}
