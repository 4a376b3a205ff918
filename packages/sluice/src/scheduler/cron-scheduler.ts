// The cron scheduler: a loop that turns due schedule ticks into jobs. Safe to run in every
// process at once: each tick is claimed by compare-and-set on next_run_at (see
// queries/schedule.ts), so no leader is needed for correctness; running it on the leader only
// saves queries.
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { toExecutor, type Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import type { ServiceDeps } from '../core/service.js';
import { PeriodicLoop } from '../core/periodic-loop.js';
import { assertSchemaName } from '../core/names.js';
import {
  scheduleAdvance,
  scheduleListDue,
  scheduleNextDue,
  type DueScheduleRow,
} from '../queries/schedule.js';
import { planTicks } from './plan-ticks.js';
import { parseOptions } from '../core/options.js';

const cronSchedulerConfigSchema = z
  .object({
    /** How often due schedules are looked for. Default 1000. */
    tickIntervalMs: z.number().int().min(10).max(3_600_000).default(1000),
    /** A tick at most this late is on time (always runs); older ones are missed. Default 60 s. */
    misfireGraceMs: z.number().int().min(0).default(60_000),
    /** Due schedules handled per query. Default 100. */
    batchSize: z.number().int().min(1).max(10_000).default(100),
    /**
     * A tick's job is inserted this long before the tick, due at the tick: the worker's timer
     * then starts it on time, instead of after the scheduler's pass and commit. 0: at the tick.
     * Default 500.
     */
    leadMs: z.number().int().min(0).max(60_000).default(500),
    /** Ceiling of the back-off after database errors. Default 30 s. */
    maxBackoffMs: z.number().int().min(10).default(30_000),
  })
  .strict();

/** Settings of a {@link CronScheduler}; every field has a default. */
export type CronSchedulerConfig = z.input<typeof cronSchedulerConfigSchema>;

/** One pass over the due schedules. */
export interface CronPassSummary {
  /** Due schedules seen. */
  due: number;
  /** Schedules this scheduler advanced (won the compare-and-set). */
  advanced: number;
  /** Schedules another scheduler advanced first. */
  lost: number;
  /** Jobs inserted. */
  jobs: number;
}

/** A schedule this scheduler advanced, with the jobs it inserted. */
export interface ScheduleFiredEvent {
  schedule: string;
  ticks: Date[];
  jobIds: string[];
  nextRunAt: Date;
  hasMissed: boolean;
}

/** Events of {@link CronScheduler}. `error` is emitted only when someone listens. */
export interface CronSchedulerEvents {
  pass: [CronPassSummary];
  fired: [ScheduleFiredEvent];
  error: [Error];
}

/**
 * Turns due cron ticks into jobs every `tickIntervalMs`, exactly once per tick across any number
 * of instances.
 * @example
 * const cron = new CronScheduler({ pool, schema: 'sluice', logger }, { tickIntervalMs: 1000 });
 * cron.on('fired', (e) => console.log(e.schedule, e.jobIds));
 * await cron.start(); … await cron.stop();
 */
export class CronScheduler extends EventEmitter<CronSchedulerEvents> {
  readonly config: Readonly<z.output<typeof cronSchedulerConfigSchema>>;
  readonly #exec: Executor;
  readonly #schema: string;
  readonly #logger: Logger;
  readonly #loop: PeriodicLoop;
  // Rows that cannot be planned (an invalid cron written by hand): reported once, then skipped.
  readonly #reported = new Set<string>();
  /** Until the next tick after the last pass (ms), when sooner than tickIntervalMs. */
  #nextDueInMs: number | undefined;

  constructor(deps: ServiceDeps, config: CronSchedulerConfig = {}) {
    super();
    const parsedData = parseOptions(cronSchedulerConfigSchema, 'cron scheduler config', config);
    this.config = Object.freeze(parsedData);
    this.#schema = assertSchemaName(deps.schema);
    this.#exec = toExecutor(deps.pool);
    this.#logger = deps.logger.child?.({ part: 'cron-scheduler' }) ?? deps.logger;
    this.#loop = new PeriodicLoop({
      runOnce: () => this.runOnce(),
      // After a pass, sleep until the next tick if it comes before the interval: a tick's job is
      // then inserted (and its worker woken) within milliseconds, not up to an interval late.
      delayMs: (failures) =>
        failures === 0
          ? Math.min(this.config.tickIntervalMs, this.#nextDueInMs ?? Infinity)
          : Math.min(
              this.config.maxBackoffMs,
              this.config.tickIntervalMs * 2 ** Math.min(failures, 16),
            ),
      onError: (error, failures) => {
        this.#logger.error({ err: error, failures }, 'cron scheduler pass failed; backing off');
        if (this.listenerCount('error') > 0) this.emit('error', error);
      },
    });
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.#loop.isRunning;
  }

  /** Starts the loop (first run at once); resolves immediately. */
  start(): Promise<void> {
    this.#loop.start();
    return Promise.resolve();
  }

  /** Runs a pass now instead of at the end of its sleep (a schedule was created or changed). */
  wake(): void {
    this.#loop.wake();
  }

  /** Stops the loop and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** Runs one pass now: every due schedule gets its jobs and a new next_run_at. */
  async runOnce(): Promise<CronPassSummary> {
    const summary: CronPassSummary = { due: 0, advanced: 0, lost: 0, jobs: 0 };
    // A full batch means more may be due; stop early if nothing could be advanced.
    for (let round = 0; round < 10; round++) {
      const rows = await scheduleListDue(this.#exec, this.#schema, {
        limit: this.config.batchSize,
        leadMs: this.config.leadMs,
      });
      summary.due += rows.length;
      let isProgress = false;
      for (const row of rows) {
        const jobs = await this.#fire(row);
        if (jobs === 'lost') summary.lost++;
        else if (jobs !== 'invalid') {
          isProgress = true;
          summary.advanced++;
          summary.jobs += jobs;
        }
      }
      if (rows.length < this.config.batchSize || !isProgress) break;
    }
    const dueInMs = await scheduleNextDue(this.#exec, this.#schema, this.config.leadMs);
    // +1 ms: a timer may fire a hair early against the database clock.
    this.#nextDueInMs = dueInMs === null ? undefined : Math.max(1, Math.ceil(dueInMs) + 1);
    this.emit('pass', summary);
    return summary;
  }

  /** Advances one schedule; returns the number of jobs inserted, or why nothing happened. */
  async #fire(row: DueScheduleRow): Promise<number | 'lost' | 'invalid'> {
    let plan;
    try {
      plan = planTicks({
        cron: row.cron,
        timezone: row.timezone,
        nextRunAt: row.next_run_at,
        now: row.db_now,
        missedPolicy: row.missed_policy,
        maxCatchUp: row.max_catch_up,
        misfireGraceMs: this.config.misfireGraceMs,
      });
    } catch (err) {
      const key = `${row.name}\u0000${row.cron}\u0000${row.timezone}`;
      if (!this.#reported.has(key)) {
        this.#reported.add(key);
        this.#logger.error(
          { err, schedule: row.name, cron: row.cron, timezone: row.timezone },
          'schedule cannot be computed; skipping it until its cron or time zone changes',
        );
      }
      return 'invalid';
    }
    const { isAdvanced, jobIds } = await scheduleAdvance(this.#exec, this.#schema, {
      name: row.name,
      token: row.next_run_at_token,
      nextRunAt: plan.nextRunAt,
      ticks: plan.ticks,
    });
    if (!isAdvanced) return 'lost';
    if (plan.hasMissed) {
      this.#logger.info(
        { schedule: row.name, policy: row.missed_policy, jobs: jobIds.length },
        'schedule had missed ticks',
      );
    }
    this.emit('fired', {
      schedule: row.name,
      ticks: plan.ticks,
      jobIds,
      nextRunAt: plan.nextRunAt,
      hasMissed: plan.hasMissed,
    });
    return jobIds.length;
  }
}
