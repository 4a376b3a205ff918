// The worker's events, typed: `worker.on('job:complted', …)` does not compile. Each payload
// carries the job's lease token (id, queue, task, attempt); metrics and logs build on these.
import type { ClaimedJob } from '../queries/job-claim.js';
import type { Token } from './completer.js';

/** A finished or failed attempt as events report it. */
export interface JobEvent {
  job: Token;
  /** From the handler's start to its outcome, when it started. */
  durationMs?: number;
  error?: unknown;
  result?: unknown;
}

/** An attempt whose handler starts now. */
export interface JobActiveEvent {
  job: Token;
  /** From the job's due time (database clock) until its handler started. */
  waitMs: number;
}

/** A job the leader took back from a lost worker: retried (`pending`) or dead-lettered. */
export interface JobRescuedEvent {
  job: Token;
  outcome: string;
}

/** Events whose payload is a {@link JobEvent}. */
export type JobOutcomeEventName =
  | 'job:completed'
  | 'job:failed'
  | 'job:retried'
  | 'job:dead'
  | 'job:cancelled'
  | 'job:expired'
  | 'job:released'
  | 'job:rejected';

/**
 * Every event a worker emits. `job:failed` fires for each failed attempt, then `job:retried` or
 * `job:dead` once that outcome is written; `job:rejected` is a late result refused because the
 * lease was lost (rescued, cancelled); `job:released` a job given back without running (pause,
 * shutdown, snooze); `drained` when the worker holds no job and its last claims came back empty.
 */
export type WorkerEvents = { [E in JobOutcomeEventName]: [JobEvent] } & {
  'job:active': [JobActiveEvent];
  'job:progress': [{ job: Token; progress: unknown }];
  'job:rescued': [JobRescuedEvent];
  /** This process became the leader (true) or stopped being it (false). */
  leadership: [{ isLeader: boolean }];
  /** The LISTEN connection is up again after a loss (not on the first connect). */
  'listener:reconnected': [];
  drained: [];
  error: [unknown];
  stopped: [];
};

/** The `job:active` payload for a job starting now; `claimedAt` is the local claim time. */
export function activeEvent(job: ClaimedJob): JobActiveEvent {
  const { id, queue, task, attempt } = job;
  const waitMs =
    job.due_wait_ms + (job.claimed_at_ms !== null ? Date.now() - job.claimed_at_ms : 0);
  return { job: { id, queue, task, attempt }, waitMs };
}
