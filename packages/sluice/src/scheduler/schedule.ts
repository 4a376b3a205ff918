// Cron schedules from code: rows of sluice.schedule, upserted by name. A CronScheduler (run by
// the worker's leader, or anywhere) turns their ticks into jobs.
import { z } from 'zod';
import type { Task } from '../client/define-task.js';
import type { EnqueuedJob } from '../client/enqueue.js';
import { resolveTarget, type Target } from '../core/target.js';
import {
  InvalidOptionsError,
  InvalidPayloadError,
  PayloadTooLargeError,
  UnknownQueueError,
} from '../core/errors.js';
import { assertName } from '../core/names.js';
import { jsonIssues, serializePayload } from '../client/payload.js';
import { queueCapsGet } from '../queries/queue.js';
import {
  dbNow,
  scheduleDelete,
  scheduleGet,
  scheduleList,
  scheduleRunNow,
  scheduleSetEnabled,
  scheduleUpsert,
  type ScheduleRow,
} from '../queries/schedule.js';
import { assertCron, canonicalTimezone, nextTick } from './next-tick.js';
import { parseOptions } from '../core/options.js';
import { camelRow } from '../core/camel-row.js';

const scheduleOptionsSchema = z
  .object({
    name: z.string(),
    cron: z.string(),
    timezone: z.string().default('UTC'),
    task: z.union([
      z.string(),
      z.custom<Task>(
        (v) => typeof v === 'object' && v !== null && 'schema' in v && 'name' in v,
        'task must be a Task from defineTask or a task name',
      ),
    ]),
    queue: z.string().optional(),
    payload: z.unknown().optional(),
    priority: z.number().int().min(-2147483648).max(2147483647).optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    missedPolicy: z.enum(['run_once', 'run_all', 'skip']).default('run_once'),
    maxCatchUp: z.number().int().min(1).max(1000).default(10),
    isEnabled: z.boolean().default(true),
  })
  .strict();

/** Options of {@link schedule}. */
export interface ScheduleOptions<S extends z.ZodType = z.ZodType> extends Target {
  /** Schedule name (upsert key): 1-128 letters, digits or `_ . - :`. */
  name: string;
  /** 5 fields, or 6 with seconds first (`* * * * * *` = every second); `@daily` etc. */
  cron: string;
  /** IANA zone the cron is read in. Default `UTC`. */
  timezone?: string;
  /** A task from defineTask (payload validated by its schema), or a bare task name. */
  task: Task<S> | string;
  /** Default: the task's queue, or `default` for a bare name. */
  queue?: string;
  /** Payload of every tick's job. Default `{}`. */
  payload?: z.input<S>;
  /** Default: the task's priority, else 0. */
  priority?: number;
  /** Default: the task's maxAttempts, else 25. */
  maxAttempts?: number;
  /** What to do with ticks missed while no scheduler ran. Default `run_once`. */
  missedPolicy?: 'run_once' | 'run_all' | 'skip';
  /** `run_all` enqueues at most this many missed ticks. Default 10. */
  maxCatchUp?: number;
  /** Default true. Re-enabling starts from the next tick, with no catch-up. */
  isEnabled?: boolean;
}

function payloadJson(task: Task | string, payload: unknown): string {
  if (typeof task !== 'string') return serializePayload(task, payload ?? {});
  const issues = jsonIssues(payload ?? {});
  if (issues.length > 0) throw new InvalidPayloadError(task, issues);
  return JSON.stringify(payload ?? {});
}

/**
 * Creates or updates the schedule `name`; returns its row and whether it was created. Running
 * it at every deploy is safe: next_run_at moves only when cron or time zone change.
 * @example await schedule({ db: pool, name: 'nightly-report', cron: '0 2 * * *', timezone: 'Europe/Paris', task: sendReport, payload: {} });
 */
export async function schedule<S extends z.ZodType>(
  options: ScheduleOptions<S>,
): Promise<ScheduleInfo & { isCreated: boolean }> {
  const { db, schema: s, ...rest } = options ?? ({} as ScheduleOptions<S>);
  const { exec, schema } = resolveTarget({ db, schema: s });
  const parsedData = parseOptions(scheduleOptionsSchema, 'schedule options', rest);
  const o = parsedData;
  const task = o.task;
  const name = assertName('schedule', o.name);
  const taskName = assertName('task', typeof task === 'string' ? task : task.name);
  const queue = assertName('queue', o.queue ?? (typeof task === 'string' ? 'default' : task.queue));
  const timezone = canonicalTimezone(o.timezone);
  const cron = assertCron(o.cron, timezone);
  const json = payloadJson(task, o.payload);

  const cap = (await queueCapsGet(exec, schema, [queue])).get(queue);
  if (cap === undefined) throw new UnknownQueueError(queue);
  const bytes = Buffer.byteLength(json);
  if (bytes > cap) throw new PayloadTooLargeError(queue, bytes, cap);

  const now = await dbNow(exec);
  const row = await scheduleUpsert(exec, schema, {
    name,
    cron,
    timezone,
    task: taskName,
    queue,
    payloadJson: json,
    priority: o.priority ?? (typeof task === 'string' ? 0 : task.priority),
    maxAttempts: o.maxAttempts ?? (typeof task === 'string' ? null : task.maxAttempts),
    isEnabled: o.isEnabled,
    missedPolicy: o.missedPolicy,
    maxCatchUp: o.maxCatchUp,
    nextRunAt: nextTick(cron, timezone, now),
  });
  return { ...toScheduleInfo(row), isCreated: row.is_created };
}

/**
 * Deletes the schedule; returns false if there was none. Jobs already enqueued stay.
 * @example await unschedule({ db: pool, name: 'nightly-report' });
 */
export async function unschedule(options: Target & { name: string }): Promise<boolean> {
  const { exec, schema } = resolveTarget(options);
  return scheduleDelete(exec, schema, assertName('schedule', options.name));
}

/**
 * Enables or disables a schedule; returns false if there is none. Re-enabling continues from
 * the next tick after now: ticks of the disabled period are not caught up.
 * @example await setScheduleEnabled({ db: pool, name: 'nightly-report', isEnabled: false });
 */
export async function setScheduleEnabled(
  options: Target & { name: string; isEnabled: boolean },
): Promise<boolean> {
  const { exec, schema } = resolveTarget(options);
  const name = assertName('schedule', options.name);
  if (typeof options.isEnabled !== 'boolean') {
    throw new InvalidOptionsError('isEnabled', 'must be a boolean');
  }
  const row = await scheduleGet(exec, schema, name);
  if (row === undefined) return false;
  const nextRunAt = options.isEnabled ? nextTick(row.cron, row.timezone, await dbNow(exec)) : null;
  return scheduleSetEnabled(exec, schema, { name, isEnabled: options.isEnabled, nextRunAt });
}

/**
 * All schedules, by name.
 * @example for (const s of await listSchedules({ db: pool })) console.log(s.name, s.nextRunAt);
 */
export async function listSchedules(options: Target): Promise<ScheduleInfo[]> {
  const { exec, schema } = resolveTarget(options);
  return (await scheduleList(exec, schema)).map(toScheduleInfo);
}

/**
 * One schedule, or undefined.
 * @example const s = await getSchedule({ db: pool, name: 'nightly-report' });
 */
export async function getSchedule(
  options: Target & { name: string },
): Promise<ScheduleInfo | undefined> {
  const { exec, schema } = resolveTarget(options);
  const row = await scheduleGet(exec, schema, assertName('schedule', options.name));
  return row && toScheduleInfo(row);
}

/**
 * Enqueues one job of the schedule now (even if disabled), leaving next_run_at as it is;
 * returns null if there is no such schedule.
 * @example await runScheduleNow({ db: pool, name: 'nightly-report' });
 */
export async function runScheduleNow(
  options: Target & { name: string },
): Promise<EnqueuedJob | null> {
  const { exec, schema } = resolveTarget(options);
  const id = await scheduleRunNow(exec, schema, assertName('schedule', options.name));
  return id === undefined ? null : { id, isDuplicate: false };
}

/** A schedule, as {@link schedule}, {@link getSchedule} and {@link listSchedules} report it. */
export interface ScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  queue: string;
  payload: unknown;
  priority: number;
  maxAttempts: number | null;
  isEnabled: boolean;
  missedPolicy: 'run_once' | 'run_all' | 'skip';
  maxCatchUp: number;
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

function toScheduleInfo(r: ScheduleRow): ScheduleInfo {
  return camelRow(r);
}
