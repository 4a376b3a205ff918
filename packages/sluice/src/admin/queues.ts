// Queue administration from code; each call is one statement on the caller's db.
import { z } from 'zod';
import { resolveTarget, type Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { jobCancel } from '../queries/job.js';
import {
  queueCreate,
  queueGet,
  queueList,
  queueSetPaused,
  queueUpdate,
  type QueueRow,
} from '../queries/queue.js';
import { parseOptions } from '../core/options.js';
import { camelRow } from '../core/camel-row.js';

const limit = z.number().int().positive().nullable().optional();
const interval = z
  .string()
  .regex(/^\d+\s*(second|minute|hour|day|week)s?$/i, 'use e.g. "7 days" or "12 hours"')
  .optional();

const queueSettingsSchema = z
  .object({
    name: z.string(),
    maxPayloadBytes: z.number().int().positive().optional(),
    concurrencyLimit: limit,
    rateLimit: limit,
    rateWindowMs: z.number().int().positive().optional(),
    groupConcurrencyLimit: limit,
    groupRateLimit: limit,
    historyRetention: interval,
    deadLetterRetention: interval,
  })
  .strict();

/** Settings of a queue. Limits apply across all workers; `null` clears a limit. */
export type QueueSettings = z.input<typeof queueSettingsSchema>;

function parseSettings(settings: QueueSettings) {
  const parsedData = parseOptions(queueSettingsSchema, 'queue settings', settings);
  assertName('queue', parsedData.name);
  return parsedData;
}

/**
 * Creates a queue and its job partition; returns false if it already existed (settings are then
 * applied with {@link updateQueue}). Defaults: 256 KiB payload cap, no limits, 7 days history.
 * @example await createQueue({ db: pool, name: 'mail', concurrencyLimit: 5 });
 */
export async function createQueue(options: Target & QueueSettings): Promise<boolean> {
  const { db, schema: s, ...settings } = options;
  const { exec, schema } = resolveTarget({ db, schema: s });
  const o = parseSettings(settings);
  const created = await queueCreate(exec, schema, {
    name: o.name,
    maxPayloadBytes: o.maxPayloadBytes ?? 262_144,
    concurrencyLimit: o.concurrencyLimit ?? null,
    rateLimit: o.rateLimit ?? null,
    rateWindowMs: o.rateWindowMs ?? 1000,
    historyRetention: o.historyRetention ?? '7 days',
    deadLetterRetention: o.deadLetterRetention ?? '30 days',
  });
  if (o.groupConcurrencyLimit !== undefined || o.groupRateLimit !== undefined || !created) {
    await queueUpdate(exec, schema, o);
  }
  return created;
}

/**
 * Changes the given settings of an existing queue; returns false if there is no such queue.
 * @example await updateQueue({ db: pool, name: 'mail', rateLimit: 100, rateWindowMs: 60_000 });
 */
export async function updateQueue(options: Target & QueueSettings): Promise<boolean> {
  const { db, schema: s, ...settings } = options;
  const { exec, schema } = resolveTarget({ db, schema: s });
  return queueUpdate(exec, schema, parseSettings(settings));
}

/**
 * Stops new starts of a queue's jobs on every worker; running jobs finish.
 * @example await pauseQueue({ db: pool, name: 'mail' }); // or: select sluice.pause_queue('mail')
 */
export async function pauseQueue(options: Target & { name: string }): Promise<boolean> {
  const { exec, schema } = resolveTarget(options);
  return queueSetPaused(exec, schema, assertName('queue', options.name), true);
}

/**
 * Lets workers start a paused queue's jobs again.
 * @example await resumeQueue({ db: pool, name: 'mail' });
 */
export async function resumeQueue(options: Target & { name: string }): Promise<boolean> {
  const { exec, schema } = resolveTarget(options);
  return queueSetPaused(exec, schema, assertName('queue', options.name), false);
}

/**
 * One queue's settings, or undefined.
 * @example const q = await getQueue({ db: pool, name: 'mail' }); console.log(q?.concurrencyLimit);
 */
export async function getQueue(options: Target & { name: string }): Promise<QueueInfo | undefined> {
  const { exec, schema } = resolveTarget(options);
  const row = await queueGet(exec, schema, assertName('queue', options.name));
  return row && toQueueInfo(row);
}

/**
 * All queues with their settings, by name.
 * @example for (const q of await listQueues({ db: pool })) console.log(q.name, q.isPaused);
 */
export async function listQueues(options: Target): Promise<QueueInfo[]> {
  const { exec, schema } = resolveTarget(options);
  return (await queueList(exec, schema)).map(toQueueInfo);
}

/**
 * Cancels an unfinished job: a pending one at once, a running one through its worker's signal.
 * Returns false when the job is not pending, blocked or running.
 * @example if (!(await cancelJob({ db: pool, id }))) console.log('already finished');
 */
export async function cancelJob(
  options: Target & { id: string | number | bigint; reason?: string },
): Promise<boolean> {
  const { exec, schema } = resolveTarget(options);
  const id = String(options.id);
  if (!/^\d+$/.test(id)) throw new InvalidOptionsError('job id', `${id} is not a job id`);
  return jobCancel(exec, schema, id, options.reason ?? 'cancelled');
}

/** A queue's settings, as {@link getQueue} and {@link listQueues} report them. */
export interface QueueInfo {
  name: string;
  /** Its partition of sluice.job. */
  partitionName: string;
  isPaused: boolean;
  concurrencyLimit: number | null;
  rateLimit: number | null;
  rateWindowMs: number;
  groupConcurrencyLimit: number | null;
  groupRateLimit: number | null;
  maxPayloadBytes: number;
  /** A Postgres interval, e.g. `7 days`. */
  historyRetention: string;
  deadLetterRetention: string;
}

function toQueueInfo(r: QueueRow): QueueInfo {
  return camelRow(r);
}
