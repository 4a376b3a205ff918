// The worker process's runtime: claims jobs of its queues, runs them with concurrency slots,
// batches their outcomes, heartbeats its leases, and (when elected) rescues expired jobs.
// See README.md beside this file for the design notes.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import { toExecutor, type Executor } from '../core/db.js';
import type { Task } from '../client/define-task.js';
import type { Logger } from '../core/logger.js';
import { InvalidOptionsError } from '../core/errors.js';
import { assertName, assertSchemaName, cancelChannel, scheduleChannel } from '../core/names.js';
import type { ClaimedJob } from '../queries/job-claim.js';
import { dependenciesRead } from '../queries/flow.js';
import { Maintenance } from '../maintenance/maintenance.js';
import { CronScheduler } from '../scheduler/cron-scheduler.js';
import { Completer, type Outcome, type Token } from './completer.js';
import {
  activeEvent,
  type JobEvent,
  type JobOutcomeEventName,
  type WorkerEvents,
} from './events.js';
import { unstartedReleaseOutcome, type RunOutcome } from './executor.js';
import { finishJob, type FinishHost } from './finish.js';
import { Heartbeat } from './heartbeat.js';
import { Producer } from './producer.js';
import { StartMarker } from './start-marker.js';
import { Leader } from './leader.js';
import { workerLogger } from './logger.js';
import { Notifier } from './notifier.js';
import { RunningJob, type RunningJobHost } from './running-job.js';
import { saveJobLog } from './job-log.js';
import {
  endClaimed,
  runJobTransaction,
  saveProgress,
  type JobTransactionHost,
} from './job-transaction.js';
import {
  createWorkerPool,
  handledTasks,
  listenConfigOf,
  workerOptionsSchema,
  type WorkerOptions,
} from './worker-options.js';
import { parseOptions } from '../core/options.js';

/**
 * Creates a worker; call `start()` to begin. Its events are typed: see {@link WorkerEvents}.
 * @example const w = createWorker({ db: process.env.DATABASE_URL!, tasks: [sendEmail.handle(send)] }); await w.start();
 */
export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}

/**
 * A worker process's runtime, made by {@link createWorker}: `start()` registers it and begins
 * claiming; `stop({ graceMs })` stops claiming, lets running jobs finish (aborting them after
 * `graceMs`), writes every outcome and unregisters; safe to call twice or before start.
 * @example
 * const worker = createWorker({ db: url, tasks });
 * worker.on('job:dead', ({ job, error }) => report(job, error));
 * await worker.start();
 * handleSignals(worker); // SIGTERM/SIGINT: graceful stop, then exit 0
 */
export class Worker extends EventEmitter<WorkerEvents> {
  /** Random per boot; the worker's row in sluice.worker. */
  readonly id = randomUUID();
  private readonly o: z.output<typeof workerOptionsSchema>;
  private readonly logger: Logger;
  private readonly isDebugLogged: boolean;
  private readonly jobHost: RunningJobHost;
  private readonly finishHost: FinishHost;
  private readonly txHost: JobTransactionHost;
  private readonly tasks: Map<string, Task>;
  private readonly queues: string[];
  private readonly capacity: number;
  private readonly pool: pg.Pool;
  private readonly db: Executor;
  private readonly completer: Completer;
  private readonly notifier: Notifier | undefined;
  private readonly leader: Leader;
  private readonly heartbeat: Heartbeat;
  private readonly producer: Producer;
  private readonly startMarker: StartMarker;
  private readonly cronScheduler: CronScheduler | undefined;
  private readonly running = new Map<string, RunningJob>();
  private buffer: ClaimedJob[] = [];
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private stopPromise: Promise<void> | undefined;
  private readonly inFinish = new Set<Promise<void>>();
  private isDrainAnnounced = false;

  constructor(options: WorkerOptions) {
    super();
    const parsedData = parseOptions(workerOptionsSchema, 'worker options', options);
    this.o = parsedData;
    assertSchemaName(this.o.schema);
    this.tasks = handledTasks(this.o.tasks);
    this.queues = [...new Set(this.o.queues ?? this.o.tasks.map((t) => t.queue))];
    this.queues.forEach((q) => assertName('queue', q));
    this.capacity = this.o.concurrency + (this.o.bufferSize ?? this.o.concurrency);
    this.logger = workerLogger(this.o.logger, this.id);
    this.isDebugLogged = this.logger.isLevelEnabled?.('debug') ?? true;
    // One host object for every running job, so starting a job builds no closures over `this`.
    this.jobHost = {
      logger: this.logger,
      heartbeat: () => this.heartbeat.beat(),
      onProgress: (job, value) => this.emit('job:progress', { job, progress: value }),
      saveProgress: (job, value) => saveProgress(this.txHost, job, value),
      saveLog: (job, lines, firstSeq) => saveJobLog(this.txHost, job, lines, firstSeq),
      finish: (entry, outcome) => this.finish(entry, outcome),
      dependencies: (job) => dependenciesRead(this.db, this.o.schema, job.id),
      transaction: (entry, fn) => runJobTransaction(this.txHost, entry, fn),
    };
    this.pool = createWorkerPool(this.o);
    this.pool.on('error', (err) => this.logger.warn({ err }, 'idle connection error'));
    const onPreparedFallback = (err: unknown) =>
      this.logger.warn({ err }, 'named statements fail here (a pooler?): running them unnamed');
    this.db = toExecutor(this.pool, { isPrepared: this.o.preparedStatements, onPreparedFallback });
    this.completer = new Completer(this.db, this.o.schema, this.id, this.logger);
    const { pool, db, logger } = this;
    this.txHost = { pool, db, logger, schema: this.o.schema, workerId: this.id };
    this.finishHost = {
      logger: this.logger,
      isDebugLogged: this.isDebugLogged,
      completer: this.completer,
      emit: (event, payload) => this.emit(event, payload),
      recordEnd: (token, end, startedAt) =>
        this.trackFinish(
          endClaimed(this.txHost, token, end).then((ok) =>
            this.emitJob(ok ? `job:${end.state}` : 'job:rejected', token, startedAt),
          ),
        ),
    };
    for (const kind of ['completed', 'dead', 'rejected'] as const) {
      this.completer.on(kind, (o: Outcome) => this.emitJob(`job:${kind}`, o.token, o.startedAt));
    }
    this.completer.on('retried', (o: Outcome) => {
      this.producer.wake(o.token.queue, true); // its back-off often ends before the next poll
      this.emitJob('job:retried', o.token, o.startedAt);
    });
    this.completer.on('written', () => this.producer.request());
    this.completer.on('released', (o: Outcome) => {
      if (o.kind === 'release' && o.delayMs > 0) this.producer.wake(o.token.queue, true);
      this.emitJob('job:released', o.token, o.startedAt);
    });
    this.producer = new Producer(
      {
        db: this.db,
        schema: this.o.schema,
        workerId: this.id,
        queues: this.queues,
        capacity: this.capacity,
        leaseMs: this.o.leaseMs,
        pollIntervalMs: this.o.pollIntervalMs,
        isListening: this.o.isListenEnabled,
        logger: this.logger,
      },
      {
        // Unwritten outcomes beyond a capacity's worth count too: claims never outrun completions.
        room: () =>
          this.capacity - this.inFlight - Math.max(0, this.completer.unwritten - this.capacity),
        isClaiming: () => this.state === 'started',
        accept: (jobs) => {
          const now = Date.now();
          for (const j of jobs) j.claimed_at_ms = now;
          if (jobs.length > 0) this.isDrainAnnounced = false;
          this.buffer.push(...jobs);
          this.pump();
        },
        giveBack: (job) => this.completer.push(unstartedReleaseOutcome(job)),
        onPaused: (queues) => this.releaseBuffered(queues),
        onDrained: () => this.announceDrained(),
        // An 'error' event without listeners would throw and crash the process.
        onError: (err) => this.listenerCount('error') > 0 && this.emit('error', err),
      },
    );
    this.cronScheduler = this.o.isMaintenanceEnabled
      ? new CronScheduler({ pool: this.pool, schema: this.o.schema, logger: this.logger })
      : undefined;
    if (this.o.isListenEnabled) {
      this.notifier = new Notifier({
        connection: listenConfigOf(this.o),
        schema: this.o.schema,
        workerId: this.id,
        logger: this.logger,
        livenessIntervalMs: this.o.livenessIntervalMs,
        maxBackoffMs: 5000,
        channels: [cancelChannel(this.o.schema), scheduleChannel(this.o.schema)],
      });
      this.notifier.on('job', (payload: string) => this.producer.wakeFor(payload));
      this.notifier.on('cancel', (id: string) => this.abortForCancel(id));
      this.notifier.on('notification', (channel: string) => {
        if (channel === scheduleChannel(this.o.schema)) this.cronScheduler?.wake();
      });
      // Catch up after every (re)connect: notifications sent while disconnected are lost.
      this.notifier.on('connected', (again: boolean) => {
        this.producer.wakeAll();
        if (again) this.emit('listener:reconnected');
      });
    }
    this.heartbeat = new Heartbeat({
      db: this.db,
      schema: this.o.schema,
      workerId: this.id,
      queues: this.queues,
      concurrency: this.o.concurrency,
      leaseMs: this.o.leaseMs,
      intervalMs: this.o.heartbeatIntervalMs ?? Math.max(50, Math.floor(this.o.leaseMs / 3)),
      logger: this.logger,
      heldJobs: () => this.heldJobs(),
      onCancelRequested: (id) => this.abortForCancel(id),
      // A new row has no waiting marks: record them again on the next short claim.
      onRegisteredAgain: () => this.producer.forgetWaiting(),
    });
    this.startMarker = new StartMarker({
      db: this.db,
      schema: this.o.schema,
      workerId: this.id,
      queues: this.queues,
      logger: this.logger,
      running: () => this.running.values(),
    });
    this.leader = new Leader({
      db: this.db,
      schema: this.o.schema,
      workerId: this.id,
      logger: this.logger,
      leaderLeaseMs: this.o.leaderLeaseMs ?? this.o.leaseMs,
      staleWorkerMs: this.o.staleWorkerMs ?? 2 * this.o.leaseMs,
      // At most half a lease, so a lease nobody renews is rescued within one more lease.
      rescueIntervalMs: this.o.rescueIntervalMs ?? Math.min(5000, Math.floor(this.o.leaseMs / 2)),
      rescueBackoffMs: this.o.rescueBackoffMs,
      services: [
        ...(this.o.isMaintenanceEnabled
          ? [
              this.cronScheduler!,
              new Maintenance({ pool: this.pool, schema: this.o.schema, logger: this.logger }),
            ]
          : []),
        ...this.o.leaderServices,
      ],
      isEligible: this.o.isLeaderEligible,
      onLeadership: (isLeader) => this.emit('leadership', { isLeader }),
      onRescued: (rows) =>
        rows.forEach((r) => {
          this.producer.wake(r.queue, true);
          this.emit('job:rescued', { job: r, outcome: r.outcome });
        }),
    });
  }

  /** Jobs claimed and not yet finished: running plus buffered. */
  get inFlight(): number {
    return this.running.size + this.buffer.length;
  }

  /** Lease tokens of every job this process holds: running, buffered, or awaiting its write. */
  private heldJobs(): { id: string; attempt: number }[] {
    const out: { id: string; attempt: number }[] = [...this.buffer];
    for (const r of this.running.values()) out.push(r.job);
    this.completer.collectHeld(out);
    return out;
  }

  private emitJob(event: JobOutcomeEventName, token: Token, startedAt: number | undefined): void {
    // A finished job of a limited queue frees a global slot only once its outcome is written.
    if (this.producer.isLimited(token.queue)) this.producer.wake(token.queue);
    if (this.listenerCount(event) === 0) return;
    const durationMs = startedAt === undefined ? undefined : Date.now() - startedAt;
    this.emit(event, { job: token, durationMs } satisfies JobEvent);
  }

  /** Registers the worker and starts claiming. Resolves once the first claim ran. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new InvalidOptionsError('worker', 'start() called twice');
    this.state = 'started';
    await this.heartbeat.register();
    // Limits decide which claim statement a queue needs: known before the first claim.
    await this.producer.start();
    this.notifier?.start();
    this.leader.start();
    this.heartbeat.start();
    this.startMarker.start();
    this.logger.info({ queues: this.queues, concurrency: this.o.concurrency }, 'worker started');
    this.producer.wakeAll();
  }

  private pump(): void {
    while (
      this.running.size < this.o.concurrency &&
      this.buffer.length > 0 &&
      this.state !== 'stopped'
    ) {
      this.startJob(this.buffer.shift()!);
    }
    // Refill before the buffer runs dry, so slots never wait for a claim round trip.
    if (this.buffer.length <= Math.floor((this.capacity - this.o.concurrency) / 2))
      this.producer.request();
  }

  private startJob(job: ClaimedJob): void {
    const entry = new RunningJob(job, this.tasks.get(job.task), this.jobHost);
    this.running.set(job.id, entry);
    if (!job.is_expired && this.listenerCount('job:active') > 0) {
      this.emit('job:active', activeEvent(job));
    }
    entry.start();
  }

  /** Once per emptying: nothing held and every queue's last claim came back short. */
  private announceDrained(): void {
    if (this.inFlight > 0 || this.isDrainAnnounced || this.state !== 'started') return;
    // Outcomes still being written: their events come first.
    if (!this.completer.isIdle || this.inFinish.size > 0) {
      const writes = Promise.all([this.completer.drain(), ...this.inFinish]);
      return void writes.then(() => this.announceDrained());
    }
    this.isDrainAnnounced = true;
    this.emit('drained');
  }

  private finish(entry: RunningJob, result: RunOutcome): void {
    this.running.delete(entry.job.id);
    finishJob(this.finishHost, entry, result);
    this.pump();
  }

  private trackFinish(p: Promise<void>): void {
    this.inFinish.add(p);
    void p.finally(() => this.inFinish.delete(p));
  }

  private abortForCancel(id: string): void {
    const entry = this.running.get(id);
    entry?.interrupt('cancel', new Error('job cancelled'));
  }

  /** Gives back buffered jobs of `queues` (paused since they were claimed). */
  private releaseBuffered(queues: Set<string>): void {
    if (!this.buffer.some((j) => queues.has(j.queue))) return;
    this.buffer
      .filter((j) => queues.has(j.queue))
      .forEach((j) => this.completer.push(unstartedReleaseOutcome(j)));
    this.buffer = this.buffer.filter((j) => !queues.has(j.queue));
  }

  /**
   * Stops claiming at once, gives back buffered jobs without using an attempt, lets running jobs
   * finish within `graceMs` (default the worker's, 25 s), then aborts and releases the rest.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopPromise ??= this.doStop(options.graceMs ?? this.o.graceMs);
    return this.stopPromise;
  }

  /** Aborts running jobs now (a second signal during a graceful stop). */
  abortAll(): void {
    for (const entry of this.running.values()) {
      entry.interrupt('shutdown', new Error('worker shutting down'));
    }
  }

  private async doStop(graceMs: number): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      await this.pool.end();
      return;
    }
    this.state = 'stopping';
    this.logger.info(
      { running: this.running.size, buffered: this.buffer.length },
      'worker stopping',
    );
    await this.notifier?.stop();
    const buffered = this.buffer;
    this.buffer = [];
    buffered.forEach((j) => this.completer.push(unstartedReleaseOutcome(j)));
    await this.producer.stop();
    const graceTimer = setTimeout(() => this.abortAll(), graceMs);
    await Promise.all([...this.running.values()].map((r) => r.done));
    clearTimeout(graceTimer);
    await this.startMarker.stop();
    await Promise.all(this.inFinish);
    await this.completer.drain();
    this.state = 'stopped';
    await this.heartbeat.stop();
    await this.leader.stop();
    await this.heartbeat.unregister();
    // Rows still running under this worker's id are not held by it (a completion lost in a server
    // crash): with the worker row gone, one rescue pass returns them now rather than leaving them
    // running until some other worker's leader notices.
    await this.leader.rescue({ isWorkerGone: true });
    await this.pool.end();
    this.logger.info({}, 'worker stopped');
    this.emit('stopped');
  }
}
