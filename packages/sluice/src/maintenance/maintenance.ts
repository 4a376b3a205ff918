// Retention and upkeep on a timer: history day partitions created ahead and dropped past
// retention, expired dead letters purged, partitioned parents analyzed. Every step is safe to
// run from many processes at once (advisory lock inside the partition functions, SKIP LOCKED
// for dead letters, last_analyze shared through the statistics system).
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { toExecutor, type Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { PeriodicLoop } from '../core/periodic-loop.js';
import { assertSchemaName } from '../core/names.js';
import {
  deadLetterDeleteExpired,
  dependenciesPrune,
  historyPartitionsCreate,
  historyPartitionsDropExpired,
  parentsAnalyze,
  parentsAnalyzeDue,
} from '../queries/maintenance.js';
import { jobLogPrune } from '../queries/job-log.js';
import type { ServiceDeps } from '../core/service.js';
import { parseOptions } from '../core/options.js';

const maintenanceConfigSchema = z
  .object({
    /** Time between runs. Default 60 s. */
    intervalMs: z.number().int().min(10).max(86_400_000).default(60_000),
    /**
     * Wait before the first run after start. Default 10 s: a worker that just started (a deploy,
     * a scale-up) claims its first jobs without partition DDL and ANALYZE competing for the
     * database; migrations already created today's partitions.
     */
    startDelayMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /** ANALYZE of the partitioned parents at most this often; 0 turns it off. Default 10 min. */
    analyzeIntervalMs: z.number().int().min(0).default(600_000),
    /** History partitions kept for past UTC days (late rows). Default 1. */
    partitionsBehindDays: z.number().int().min(0).max(31).default(1),
    /** History partitions created ahead of today (UTC). Default 3. */
    partitionsAheadDays: z.number().int().min(1).max(31).default(3),
    /** Dead letters deleted per statement. Default 1000. */
    deadLetterBatchSize: z.number().int().min(1).max(100_000).default(1000),
    /** Ceiling of the back-off after database errors. Default 5 min. */
    maxBackoffMs: z.number().int().min(10).default(300_000),
  })
  .strict();

/** Settings of {@link Maintenance}; every field has a default. */
export type MaintenanceConfig = z.input<typeof maintenanceConfigSchema>;

/** What one run did. */
export interface MaintenanceRun {
  partitionsCreated: number;
  partitionsDropped: string[];
  deadLettersDeleted: number;
  /** Flow edges pruned: older than every queue's retention, their dependent finished. */
  dependenciesDeleted: number;
  /** ctx.log lines pruned: older than every queue's retention, their job finished. */
  jobLogsDeleted: number;
  isAnalyzed: boolean;
  durationMs: number;
}

/** Events of {@link Maintenance}. `error` is emitted only when someone listens. */
export interface MaintenanceEvents {
  run: [MaintenanceRun];
  error: [Error];
}

/**
 * Keeps history partitions and dead letters within retention and the parents' statistics
 * fresh. Never deletes from sluice.job: unfinished jobs are never removed by retention.
 * @example
 * const m = new Maintenance({ pool, schema: 'sluice', logger }, { intervalMs: 60_000 });
 * m.on('run', (r) => console.log(r.partitionsDropped));
 * await m.start(); … await m.stop();
 */
export class Maintenance extends EventEmitter<MaintenanceEvents> {
  readonly config: Readonly<z.output<typeof maintenanceConfigSchema>>;
  readonly #exec: Executor;
  readonly #schema: string;
  readonly #logger: Logger;
  readonly #loop: PeriodicLoop;
  // Local guard besides pg_stat's last_analyze, whose updates may lag a little.
  #lastAnalyzeAt = 0;

  constructor(deps: ServiceDeps, config: MaintenanceConfig = {}) {
    super();
    const parsedData = parseOptions(maintenanceConfigSchema, 'maintenance config', config);
    this.config = Object.freeze(parsedData);
    this.#schema = assertSchemaName(deps.schema);
    this.#exec = toExecutor(deps.pool);
    this.#logger = deps.logger.child?.({ part: 'maintenance' }) ?? deps.logger;
    this.#loop = new PeriodicLoop({
      runOnce: () => this.runOnce(),
      firstDelayMs: this.config.startDelayMs,
      delayMs: (failures) =>
        failures === 0
          ? this.config.intervalMs
          : // After a failure retry sooner than a full interval, then back off.
            Math.min(this.config.maxBackoffMs, 1000 * 2 ** Math.min(failures, 16)),
      onError: (error, failures) => {
        this.#logger.error({ err: error, failures }, 'maintenance run failed; backing off');
        if (this.listenerCount('error') > 0) this.emit('error', error);
      },
    });
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.#loop.isRunning;
  }

  /** Starts the loop (first run after `startDelayMs`); resolves immediately. */
  start(): Promise<void> {
    this.#loop.start();
    return Promise.resolve();
  }

  /** Stops the loop and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** Runs every step once now. */
  async runOnce(): Promise<MaintenanceRun> {
    const started = performance.now();
    const c = this.config;
    const partitionsCreated = await historyPartitionsCreate(this.#exec, this.#schema, {
      behindDays: c.partitionsBehindDays,
      days: c.partitionsBehindDays + 1 + c.partitionsAheadDays,
    });
    const partitionsDropped = await historyPartitionsDropExpired(this.#exec, this.#schema);
    let deadLettersDeleted = 0;
    for (;;) {
      const n = await deadLetterDeleteExpired(this.#exec, this.#schema, c.deadLetterBatchSize);
      deadLettersDeleted += n;
      // Stopping mid-purge is fine: the next run continues.
      if (n < c.deadLetterBatchSize || this.#loop.isStopping) break;
    }
    let dependenciesDeleted = 0;
    for (;;) {
      const n = await dependenciesPrune(this.#exec, this.#schema, c.deadLetterBatchSize);
      dependenciesDeleted += n;
      if (n < c.deadLetterBatchSize || this.#loop.isStopping) break;
    }
    let jobLogsDeleted = 0;
    for (;;) {
      const n = await jobLogPrune(this.#exec, this.#schema, c.deadLetterBatchSize);
      jobLogsDeleted += n;
      if (n < c.deadLetterBatchSize || this.#loop.isStopping) break;
    }
    const isAnalyzed = await this.#analyzeIfDue();
    const run: MaintenanceRun = {
      partitionsCreated,
      partitionsDropped,
      deadLettersDeleted,
      dependenciesDeleted,
      jobLogsDeleted,
      isAnalyzed,
      durationMs: Math.round(performance.now() - started),
    };
    if (partitionsCreated > 0 || partitionsDropped.length > 0 || deadLettersDeleted > 0) {
      this.#logger.info({ ...run }, 'maintenance changed partitions or dead letters');
    }
    this.emit('run', run);
    return run;
  }

  async #analyzeIfDue(): Promise<boolean> {
    const intervalMs = this.config.analyzeIntervalMs;
    if (intervalMs === 0 || Date.now() - this.#lastAnalyzeAt < intervalMs) return false;
    if (!(await parentsAnalyzeDue(this.#exec, this.#schema, intervalMs))) return false;
    await parentsAnalyze(this.#exec, this.#schema);
    this.#lastAnalyzeAt = Date.now();
    return true;
  }
}
