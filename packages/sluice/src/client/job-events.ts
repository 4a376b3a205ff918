// Cross-process job events for producers: completion, retry, dead letter, cancellation and expiry
// of any job (and, on request, its start and progress), announced by the statements that make
// them, as JSON arrays of bounded events (migrations/0019_job_events.sql).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { z } from 'zod';
import { toExecutor } from '../core/db.js';
import { parseOptions } from '../core/options.js';
import { eventListenerDelete, eventListenerUpsert } from '../queries/worker.js';
import type { Logger } from '../core/logger.js';
import { assertSchemaName, doneChannel } from '../core/names.js';
import { Notifier } from '../worker/notifier.js';
import { createLogger } from '../worker/logger.js';

/** The events {@link listenJobEvents} delivers; 'active' and 'progress' only when asked for. */
export type JobEventName =
  'active' | 'progress' | 'completed' | 'retried' | 'dead' | 'cancelled' | 'expired';

/**
 * What a job event carries. Values travel only up to 512 bytes of JSON (`resultTruncated` or
 * `progressTruncated` says one did not: `getJob` has it whole); error messages up to 300
 * characters.
 */
export interface JobEventInfo {
  event: JobEventName;
  id: string;
  queue: string;
  task: string;
  /** The attempt that ended (or started, for 'active'); 0 for a job that never started. */
  attempt: number;
  /** The job's state after the event: 'retried' leaves it pending, 'active' running. */
  state: 'running' | 'pending' | 'completed' | 'dead' | 'cancelled' | 'expired';
  /** completed: the handler's return value. */
  result?: unknown;
  resultTruncated?: true;
  /** progress: the value passed to ctx.progress. */
  progress?: unknown;
  progressTruncated?: true;
  /** retried and dead: the last attempt's error (or why a dependency failed). */
  error?: { name?: string; message?: string };
  /** cancelled: the reason given. */
  reason?: string;
}

/** Events of {@link JobEvents}, typed by name. */
export type JobEventsMap = { [E in JobEventName]: [JobEventInfo] } & {
  /** Subscribed (again, after a lost connection: events in between are lost). */
  connected: [];
};

/** Asks for events that are off by default; each costs a NOTIFY per claim batch or progress call. */
export interface JobEventsOptions {
  db: string | pg.ClientConfig;
  schema?: string;
  logger?: Logger;
  /** 'active' (a worker claimed the job) and 'progress' (ctx.progress), announced on request. */
  include?: readonly ('active' | 'progress')[];
}

const includeSchema = z.array(z.enum(['active', 'progress'])).optional();

/** The events of one NOTIFY payload: a JSON array of job events (see migrations/0019). */
export function parseJobEvents(payload: string): JobEventInfo[] {
  if (!payload.startsWith('[')) return [];
  try {
    return JSON.parse(payload) as JobEventInfo[];
  } catch {
    return [];
  }
}

/**
 * Emits each {@link JobEventName} with {@link JobEventInfo}, for jobs of every worker; made by
 * {@link listenJobEvents}.
 * @example
 * const events = await listenJobEvents({ db: process.env.DATABASE_URL! });
 * events.on('dead', ({ id, task, error }) => alert(`${task} ${id} is dead: ${error?.message}`));
 * await events.stop();
 */
export class JobEvents extends EventEmitter<JobEventsMap> {
  private readonly notifier: Notifier;
  private readonly pool: pg.Pool;
  private readonly id = `events-${randomUUID()}`;
  private readonly schema: string;
  private renewTimer: NodeJS.Timeout | undefined;

  private readonly wants: { active: boolean; progress: boolean };

  constructor(options: JobEventsOptions) {
    super();
    const include = parseOptions(includeSchema, 'listenJobEvents include', options.include) ?? [];
    this.wants = { active: include.includes('active'), progress: include.includes('progress') };
    const schema = assertSchemaName(options.schema ?? 'sluice');
    this.schema = schema;
    const channel = doneChannel(schema);
    const connection =
      typeof options.db === 'string' ? { connectionString: options.db } : options.db;
    this.pool = new pg.Pool({ ...connection, max: 1 });
    this.pool.on('error', () => undefined);
    this.notifier = new Notifier({
      connection: typeof options.db === 'string' ? { connectionString: options.db } : options.db,
      schema,
      workerId: this.id,
      logger: options.logger ?? createLogger('warn'),
      livenessIntervalMs: 30_000,
      maxBackoffMs: 5000,
      channels: [channel],
    });
    this.notifier.on('connected', () => this.emit('connected'));
    this.notifier.on('notification', (ch: string, payload: string) => {
      if (ch !== channel) return;
      // One channel for all listeners: 'active' and 'progress' only to those that asked.
      for (const e of parseJobEvents(payload)) {
        if ((e.event === 'active' || e.event === 'progress') && !this.wants[e.event]) continue;
        this.emit(e.event, e);
      }
    });
  }

  /** Starts listening; resolves once subscribed. */
  private stopping: Promise<void> | undefined;

  async start(): Promise<void> {
    // Workers announce outcomes only while a listener is registered; renewed, and forgotten by
    // the leader if this process dies.
    await eventListenerUpsert(toExecutor(this.pool), this.schema, this.id, this.wants);
    this.renewTimer = setInterval(() => {
      eventListenerUpsert(toExecutor(this.pool), this.schema, this.id, this.wants).catch(
        () => undefined,
      );
    }, 30_000);
    this.renewTimer.unref();
    const connected = new Promise<void>((r) => this.notifier.once('connected', () => r()));
    this.notifier.start();
    await connected;
  }

  /** Stops listening and closes the connections; safe to call twice (each waits for the first). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.renewTimer);
      await this.notifier.stop();
      await eventListenerDelete(toExecutor(this.pool), this.schema, this.id).catch(() => undefined);
      await this.pool.end();
    })();
    return this.stopping;
  }
}

/**
 * Subscribes to finished jobs across all workers, and to started and progressing ones on request
 * (`include`; workers start announcing those at once, or at their next poll if not listening).
 * @example const events = await listenJobEvents({ db: url }); events.on('completed', ({ id, result }) => …);
 */
export async function listenJobEvents(options: JobEventsOptions): Promise<JobEvents> {
  const events = new JobEvents(options);
  await events.start();
  return events;
}
