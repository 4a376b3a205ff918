// Runs one claimed job: parses its payload again (old rows meet new code), calls the handler with
// its context, enforces the timeout, and turns what happened into an outcome for the completer.
import type { Task, JobContext, Logger } from '../define-task.js';
import { PermanentError, TimeoutError, UnknownTaskError } from '../errors.js';
import { Cancel, Snooze } from '../job-directive.js';
import type { ClaimedJob } from '../queries/job-worker.js';
import { backoffDelay } from '../retry-policy.js';
import type { Outcome, Token } from './completer.js';

export type RunOutcome =
  Outcome | { kind: 'cancel'; token: Token; reason: string } | { kind: 'aborted'; token: Token };

export interface RunDeps {
  /** Created on first use: most handlers never look at their signal. */
  signal: () => AbortSignal;
  logger: () => Logger;
  heartbeat: () => Promise<void>;
  progress: (value: unknown) => Promise<void>;
  /** Resolves when the worker interrupts the job (shutdown past grace, or cancellation). */
  interrupted: Promise<'interrupted'>;
  /** Fires the job's signal with a timeout error. */
  abortForTimeout: (err: Error) => void;
}

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

function resultJson(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}

/** Runs `job` with `task`'s handler; never throws. */
export async function runJob(
  job: ClaimedJob,
  task: Task | undefined,
  deps: RunDeps,
): Promise<RunOutcome> {
  const token: Token = { id: job.id, queue: job.queue, task: job.task, attempt: job.attempt };
  const fail = (err: unknown, isPermanent: boolean): RunOutcome => {
    const e = err instanceof Error ? err : new Error(String(err));
    return {
      kind: 'fail',
      token,
      isPermanent,
      errorJson: errorJson(e, job.attempt),
      error: { name: e.name, message: e.message },
      delayMs: isPermanent ? 0 : backoffDelay(task?.retry, job.attempt, err),
    };
  };
  if (!task?.handler) return fail(new UnknownTaskError(job.task), false);
  const parsed = task.schema.safeParse(job.payload);
  if (!parsed.success) {
    const err = Object.assign(new PermanentError(`payload no longer matches task "${job.task}"`), {
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
    return fail(err, true);
  }
  const ctx: JobContext = {
    get signal() {
      return deps.signal();
    },
    attempt: job.attempt,
    maxAttempts: job.max_attempts,
    job: {
      id: job.id,
      queue: job.queue,
      task: job.task,
      get createdAt() {
        return new Date(job.created_at_ms);
      },
      groupKey: job.group_key,
    },
    heartbeat: deps.heartbeat,
    progress: deps.progress,
    get logger() {
      return deps.logger();
    },
  };
  const timeoutMs = task.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let isTimedOut = false;
  try {
    const running = task.handler(parsed.data, ctx);
    // A handler that ignores its signal still loses its slot at the timeout: the race below ends
    // the attempt, and whatever the handler does later is ignored (its lease token is spent).
    const racers: Promise<unknown>[] = [Promise.resolve(running), deps.interrupted];
    if (timeoutMs !== undefined) {
      racers.push(
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => {
            isTimedOut = true;
            resolve('timeout');
            deps.abortForTimeout(new TimeoutError(timeoutMs));
          }, timeoutMs);
        }),
      );
    }
    const value = await Promise.race(racers);
    if (isTimedOut) return fail(new TimeoutError(timeoutMs ?? 0), false);
    if (value === 'interrupted') return { kind: 'aborted', token };
    if (value instanceof Snooze) {
      return { kind: 'release', token, refund: true, delayMs: value.delayMs, errorJson: null };
    }
    if (value instanceof Cancel) return { kind: 'cancel', token, reason: value.reason };
    return { kind: 'complete', token, resultJson: resultJson(value) };
  } catch (err) {
    if (isTimedOut) return fail(new TimeoutError(timeoutMs ?? 0), false);
    if (err instanceof Snooze) {
      return { kind: 'release', token, refund: true, delayMs: err.delayMs, errorJson: null };
    }
    if (err instanceof Cancel) return { kind: 'cancel', token, reason: err.reason };
    return fail(err, err instanceof PermanentError);
  } finally {
    clearTimeout(timer);
  }
}
