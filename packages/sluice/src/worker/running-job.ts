// One running job: calls its handler, ends the attempt at the first of the handler settling, the
// task's timeout, or an interruption (cancel, shutdown), and hands the outcome to the host once.
// Built for the drain path: per job one entry, one context and one promise reaction, with the
// abort controller, logger and `job` object made only when a handler asks for them.
import type { PoolClient } from 'pg';
import type { DependencyResult, JobContext, Task } from '../client/define-task.js';
import type { Logger } from '../core/logger.js';
import { InvalidOptionsError, TimeoutError } from '../core/errors.js';
import type { ClaimedJob } from '../queries/job-claim.js';
import { JobLogBuffer, type JobLogLine } from './job-log.js';
import {
  errorOutcome,
  failOutcome,
  payloadMismatchOutcome,
  tokenOf,
  unknownTaskOutcome,
  valueOutcome,
  type RunOutcome,
} from './executor.js';
import { startProcessSpan, type ProcessSpan } from '../tracing/process-span.js';

/** What a running job needs from the worker that runs it. */
export interface RunningJobHost {
  logger: Logger;
  heartbeat(): Promise<void>;
  /** Every progress() call, for events. */
  onProgress(job: ClaimedJob, value: unknown): void;
  /** Throttled progress() calls, for the row. */
  saveProgress(job: ClaimedJob, value: unknown): Promise<void>;
  /** Writes some of an attempt's ctx.log lines, numbered from firstSeq (one statement). */
  saveLog(job: ClaimedJob, lines: JobLogLine[], firstSeq: number): Promise<void>;
  finish(entry: RunningJob, outcome: RunOutcome): void;
  /** The job's dependencies and their results (flows). */
  dependencies(job: ClaimedJob): Promise<DependencyResult[]>;
  /** Runs `fn` in a transaction that completes the job (see JobContext.transaction). */
  transaction?<T>(entry: RunningJob, fn: (tx: PoolClient) => Promise<T>): Promise<T>;
}

/** The fields every log line about a job carries. */
export function logFields(job: ClaimedJob) {
  return { jobId: job.id, queue: job.queue, task: job.task, attempt: job.attempt };
}

export class RunningJob {
  readonly startedAt = Date.now();
  abortedBy: 'shutdown' | 'cancel' | undefined;
  controller: AbortController | undefined;
  logger: Logger | undefined;
  lastProgressAt = 0;
  /** started_at was written for this attempt (see start-marker.ts). */
  isStartMarked = false;
  /** The handler's transaction committed the job's completion: nothing is left to write. */
  isCommitted = false;
  isInTransaction = false;
  /** The last progress() value not yet written (throttled), and the write in flight. */
  unsavedProgress: { value: unknown } | undefined;
  progressWrite: Promise<void> | undefined;
  progressTimer: NodeJS.Timeout | undefined;
  /** This attempt's OpenTelemetry span; undefined while tracing is off. */
  private span: ProcessSpan | undefined;
  /** ctx.log lines of this attempt (see openLog). */
  log: JobLogBuffer | undefined;
  private isSettled = false;
  private isFinished = false;
  private timer: NodeJS.Timeout | undefined;
  private whenDone: Promise<void> | undefined;
  private resolveDone: (() => void) | undefined;

  constructor(
    readonly job: ClaimedJob,
    readonly task: Task | undefined,
    readonly host: RunningJobHost,
  ) {}

  /** Resolves once the host has the outcome. */
  get done(): Promise<void> {
    if (this.isFinished) return Promise.resolve();
    return (this.whenDone ??= new Promise<void>((r) => (this.resolveDone = r)));
  }

  start(): void {
    const { job, task } = this;
    if (job.is_expired) return this.settleSoon({ kind: 'expire', token: tokenOf(job) });
    this.span = startProcessSpan(job);
    if (!task?.handler) return this.settleSoon(unknownTaskOutcome(job));
    // Parsed again: a row stored by older code may no longer match the task's schema.
    const parsed = task.schema.safeParse(job.payload);
    if (!parsed.success) return this.settleSoon(payloadMismatchOutcome(job, task, parsed.error));
    // A handler that ignores its signal still loses its slot at the timeout: the attempt ends
    // there, and whatever the handler does later is ignored (its lease token is spent).
    const timeoutMs = this.timeoutMs;
    if (timeoutMs !== undefined) this.timer = setTimeout(() => this.timeOut(), timeoutMs);
    let value: unknown;
    try {
      const ctx = new HandlerContext(this);
      value = this.span
        ? this.span.run(() => task.handler?.(parsed.data, ctx))
        : task.handler(parsed.data, ctx);
    } catch (err) {
      return this.settleSoon(errorOutcome(job, task, err));
    }
    Promise.resolve(value).then(
      (v) => this.settle(valueOutcome(job, v)),
      (err: unknown) => this.settle(errorOutcome(job, task, err)),
    );
  }

  /** Ends the attempt now (cancel or shutdown); the handler's late result is ignored. */
  interrupt(by: 'shutdown' | 'cancel', reason: Error): void {
    if (this.abortedBy || this.isSettled) return;
    this.abortedBy = by;
    this.settleSoon({ kind: 'aborted', token: tokenOf(this.job) });
    this.abort(reason);
  }

  /** Fires the job's signal (creating it if the handler never asked for it). */
  abort(reason: Error): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  /** The job's own timeout (run options), else its task's. */
  get timeoutMs(): number | undefined {
    return this.job.run_options?.timeoutMs ?? this.task?.timeoutMs;
  }

  private timeOut(): void {
    if (this.isSettled) return;
    const err = new TimeoutError(this.timeoutMs ?? 0);
    this.settle(failOutcome(this.job, this.task, err, false));
    this.abort(err);
  }

  // Outcomes always reach the host from a microtask, never from inside start(): the worker starts
  // jobs in a loop that must not see a job finish half-way through.
  private settleSoon(outcome: RunOutcome): void {
    queueMicrotask(() => this.settle(outcome));
  }

  private settle(result: RunOutcome): void {
    if (this.isSettled) return;
    this.isSettled = true;
    // Completed by the handler's transaction: whatever happened after, that is the outcome.
    const outcome: RunOutcome = this.isCommitted
      ? { kind: 'committed', token: result.token }
      : result;
    clearTimeout(this.timer);
    // The value a handler set last is the one stored: it is written before the outcome, which
    // moves the row out of sluice.job.
    if (this.unsavedProgress || this.progressWrite || this.log) {
      // The last log lines are written before the outcome too; a failed write loses only them.
      void Promise.all([this.flushProgress(), this.log?.flush()]).then(() =>
        this.handOver(outcome),
      );
      return;
    }
    this.handOver(outcome);
  }

  private handOver(outcome: RunOutcome): void {
    this.isFinished = true;
    this.span?.end(outcome);
    this.host.finish(this, outcome);
    this.resolveDone?.();
  }

  /** Sets progress: written at once, or at most every 250 ms with the last value kept. */
  setProgress(value: unknown): Promise<void> {
    this.host.onProgress(this.job, value);
    this.unsavedProgress = { value };
    if (this.progressWrite || this.progressTimer) return Promise.resolve();
    const wait = this.lastProgressAt + 250 - Date.now();
    if (wait > 0) {
      this.progressTimer = setTimeout(() => {
        this.progressTimer = undefined;
        void this.writeProgress();
      }, wait);
      return Promise.resolve();
    }
    return this.writeProgress();
  }

  private writeProgress(): Promise<void> {
    const pending = this.unsavedProgress;
    if (!pending || this.progressWrite) return this.progressWrite ?? Promise.resolve();
    this.unsavedProgress = undefined;
    this.lastProgressAt = Date.now();
    this.progressWrite = this.host
      .saveProgress(this.job, pending.value)
      .catch((err: unknown) =>
        this.host.logger.warn({ err, ...logFields(this.job) }, 'progress write failed'),
      )
      .finally(() => (this.progressWrite = undefined));
    return this.progressWrite;
  }

  /** This attempt's ctx.log lines, made on the first line. */
  openLog(): JobLogBuffer {
    return (this.log ??= new JobLogBuffer((lines, firstSeq) =>
      this.host
        .saveLog(this.job, lines, firstSeq)
        .catch((err: unknown) =>
          this.host.logger.warn({ err, ...logFields(this.job) }, 'job log write failed'),
        ),
    ));
  }

  /** Waits for the write in flight, then writes the last unsaved value (if any). */
  private async flushProgress(): Promise<void> {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    await this.progressWrite;
    await this.writeProgress();
  }
}

/** The handler's `ctx`: reads through to its RunningJob, so a job costs one small object. */
class HandlerContext implements JobContext {
  readonly #run: RunningJob;
  #job: JobContext['job'] | undefined;
  #heartbeat: (() => Promise<void>) | undefined;
  #progress: ((value: unknown) => Promise<void>) | undefined;
  #log: ((message: string, fields?: Record<string, unknown>) => void) | undefined;
  #dependencies: Promise<DependencyResult[]> | undefined;

  constructor(run: RunningJob) {
    this.#run = run;
  }

  get signal(): AbortSignal {
    return (this.#run.controller ??= new AbortController()).signal;
  }

  get attempt(): number {
    return this.#run.job.attempt;
  }

  get maxAttempts(): number {
    return this.#run.job.max_attempts;
  }

  get job(): JobContext['job'] {
    const { job } = this.#run;
    return (this.#job ??= {
      id: job.id,
      queue: job.queue,
      task: job.task,
      createdAt: new Date(job.created_at_ms),
      groupKey: job.group_key,
    });
  }

  get logger(): Logger {
    const run = this.#run;
    return (run.logger ??= run.host.logger.child?.(logFields(run.job)) ?? run.host.logger);
  }

  // Getters returning functions bound on first read, not methods: handlers may destructure
  // them from ctx, and most handlers never read them.
  get heartbeat(): () => Promise<void> {
    const run = this.#run;
    return (this.#heartbeat ??= () => run.host.heartbeat());
  }

  get progress(): (value: unknown) => Promise<void> {
    const run = this.#run;
    // Throttled: progress must not turn into a write per tick; the last value is never dropped.
    return (this.#progress ??= (value: unknown) => run.setProgress(value));
  }

  get log(): (message: string, fields?: Record<string, unknown>) => void {
    const run = this.#run;
    return (this.#log ??= (message, fields) => run.openLog().add(message, fields));
  }

  get dependencies(): () => Promise<DependencyResult[]> {
    const run = this.#run;
    return () => (this.#dependencies ??= run.host.dependencies(run.job));
  }

  get transaction(): <T>(fn: (tx: PoolClient) => Promise<T>) => Promise<T> {
    const run = this.#run;
    return <T>(fn: (tx: PoolClient) => Promise<T>) => {
      if (!run.host.transaction) {
        throw new InvalidOptionsError('ctx.transaction', 'needs a worker (not available here)');
      }
      if (run.isCommitted || run.isInTransaction) {
        throw new InvalidOptionsError('ctx.transaction', 'runs once per attempt');
      }
      return run.host.transaction(run, fn);
    };
  }
}
