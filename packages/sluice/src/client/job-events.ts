// Cross-process job events for producers: completion, retry, dead letter and cancellation of any
// job, announced by workers with one NOTIFY per finished batch.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { toExecutor } from '../core/db.js';
import { eventListenerDelete, eventListenerUpsert } from '../queries/worker.js';
import type { Logger } from '../core/logger.js';
import { assertSchemaName, doneChannel } from '../core/names.js';
import { Notifier } from '../worker/notifier.js';
import { createLogger } from '../worker/logger.js';

/** What a job event carries. */
export interface JobEventInfo {
  id: string;
  queue: string;
}

/**
 * Emits 'completed', 'retried', 'dead' and 'cancelled' with {@link JobEventInfo}; made by
 * {@link listenJobEvents}.
 * @example
 * const events = await listenJobEvents({ db: process.env.DATABASE_URL! });
 * events.on('dead', ({ id, queue }) => alert(`job ${id} of ${queue} is dead`));
 * await events.stop();
 */
export class JobEvents extends EventEmitter {
  private readonly notifier: Notifier;
  private readonly pool: pg.Pool;
  private readonly id = `events-${randomUUID()}`;
  private readonly schema: string;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(options: { db: string | pg.ClientConfig; schema?: string; logger?: Logger }) {
    super();
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
      const [outcome = '', queue = '', ids = ''] = payload.split('|');
      for (const id of ids.split(','))
        if (id) this.emit(outcome, { id, queue } satisfies JobEventInfo);
    });
  }

  /** Starts listening; resolves once subscribed. */
  private stopping: Promise<void> | undefined;

  async start(): Promise<void> {
    // Workers announce outcomes only while a listener is registered; renewed, and forgotten by
    // the leader if this process dies.
    await eventListenerUpsert(toExecutor(this.pool), this.schema, this.id);
    this.renewTimer = setInterval(() => {
      eventListenerUpsert(toExecutor(this.pool), this.schema, this.id).catch(() => undefined);
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
 * Subscribes to finished jobs across all workers.
 * @example const events = await listenJobEvents({ db: url }); events.on('completed', ({ id }) => …);
 */
export async function listenJobEvents(options: {
  db: string | pg.ClientConfig;
  schema?: string;
  logger?: Logger;
}): Promise<JobEvents> {
  const events = new JobEvents(options);
  await events.start();
  return events;
}
