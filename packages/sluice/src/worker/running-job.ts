// One running job's bookkeeping: its abort controller (made on first use), the hook that ends
// its attempt early (cancel, shutdown), and the context functions runJob hands to its handler.
import type { Logger, Task } from '../define-task.js';
import type { ClaimedJob } from '../queries/job-worker.js';
import { runJob, type RunOutcome } from './executor.js';

export interface RunningJob {
  job: ClaimedJob;
  controller: AbortController | undefined;
  abortedBy: 'shutdown' | 'cancel' | undefined;
  interrupt: (v: 'interrupted') => void;
  startedAt: number;
  done: Promise<void>;
}

/** What a running job needs from the worker that runs it. */
export interface RunningJobHost {
  logger: Logger;
  heartbeat(): Promise<void>;
  /** Every progress() call, for events. */
  onProgress(job: ClaimedJob, value: unknown): void;
  /** Throttled progress() calls, for the row. */
  saveProgress(job: ClaimedJob, value: unknown): Promise<void>;
  finish(entry: RunningJob, outcome: RunOutcome): void;
}

/** The fields every log line about a job carries. */
export function logFields(job: ClaimedJob) {
  return { jobId: job.id, queue: job.queue, task: job.task, attempt: job.attempt };
}

/** Fires the job's signal (creating it if the handler never asked for it). */
export function abortJob(entry: RunningJob, reason: Error): void {
  entry.controller ??= new AbortController();
  entry.controller.abort(reason);
}

/** Starts `job` with `task`'s handler; the host's finish() gets its outcome. */
export function startRunningJob(
  job: ClaimedJob,
  task: Task | undefined,
  host: RunningJobHost,
): RunningJob {
  let interrupt: (v: 'interrupted') => void = () => undefined;
  const interrupted = new Promise<'interrupted'>((resolve) => (interrupt = resolve));
  const entry: RunningJob = {
    job,
    controller: undefined,
    abortedBy: undefined,
    interrupt,
    startedAt: Date.now(),
    done: Promise.resolve(),
  };
  let logger: Logger | undefined;
  let lastProgressAt = 0;
  entry.done = runJob(job, task, {
    signal: () => (entry.controller ??= new AbortController()).signal,
    logger: () => (logger ??= host.logger.child?.(logFields(job)) ?? host.logger),
    interrupted,
    abortForTimeout: (err) => abortJob(entry, err),
    heartbeat: () => host.heartbeat(),
    progress: async (value: unknown) => {
      host.onProgress(job, value);
      // Throttled: progress is advisory and must not turn into a write per tick.
      if (Date.now() - lastProgressAt < 250) return;
      lastProgressAt = Date.now();
      await host.saveProgress(job, value);
    },
  }).then((outcome) => host.finish(entry, outcome));
  return entry;
}
