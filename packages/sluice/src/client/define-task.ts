// A task is a value: producers import it to enqueue typed payloads, workers attach a handler.
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { InvalidOptionsError } from '../core/errors.js';
import type { PoolClient } from 'pg';
import { runInThread } from '../isolation/thread-handler.js';
import type { Logger } from '../core/logger.js';
import { assertName } from '../core/names.js';
import { retryPolicySchema, type RetryPolicy } from './retry-policy.js';
import { parseOptions } from '../core/options.js';

/** What a handler receives besides its payload. */
export interface JobContext {
  /** Fires on timeout, on shutdown past the grace period, and on cancellation. */
  signal: AbortSignal;
  attempt: number;
  maxAttempts: number;
  job: { id: string; queue: string; task: string; createdAt: Date; groupKey: string | null };
  /** Extends this job's lease now (the worker also does so on its own heartbeat). */
  heartbeat(): Promise<void>;
  /** Records progress (throttled) on the job row. */
  progress(value: unknown): Promise<void>;
  logger: Logger;
  /**
   * Stores a line with the job (sluice.job_log), shown by the dashboard and `sluice jobs show`:
   * at most 100 lines per attempt (then one "N lines dropped" line), messages cut at 2,048
   * characters, fields over 4 KiB of JSON replaced. Written with the attempt's outcome.
   * @example ctx.log('charged card', { amountCents: 1200 });
   */
  log(message: string, fields?: Record<string, unknown>): void;
  /**
   * The jobs this one waited for (flows), in the order they were given, with their results (or
   * last error, for one that failed under `onFailure: 'ignore'`). Read from the database on
   * first call; empty for a job without dependencies.
   * @example const [charge, reserve] = await ctx.dependencies();
   */
  dependencies(): Promise<DependencyResult[]>;
  /**
   * Runs `fn` in a transaction that also completes this job with `fn`'s return value as its
   * result: the handler's writes, any jobs it enqueues with `tx`, and the completion commit
   * together or not at all. If the job's lease was lost meanwhile (rescued, cancelled), the
   * transaction rolls back and this throws LeaseLostError. Once it returns the job is complete;
   * what the handler returns afterwards is ignored.
   * @example
   * return ctx.transaction(async (tx) => {
   *   await tx.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [amount, id]);
   *   return { charged: amount };
   * });
   */
  transaction<T>(fn: (tx: PoolClient) => Promise<T>): Promise<T>;
}

/** One dependency of a job, as {@link JobContext.dependencies} returns it. */
export interface DependencyResult {
  id: string;
  task: string | null;
  queue: string | null;
  /** How it finished ('pending' only for a job revived while another dependency is replayed). */
  state: 'completed' | 'dead' | 'cancelled' | 'expired' | 'pending';
  /** Its handler's return value, when completed. */
  result: unknown;
  /** Its last error, when dead. */
  error: { name?: string; message?: string } | null;
}

/** A task's handler: its return value is the job's result (JSON), a throw fails the attempt. */
export type TaskHandler<S extends z.ZodType> = (payload: z.output<S>, ctx: JobContext) => unknown;

// A zod 4 schema from another copy of zod (the app's own) carries `_zod` and works too.
function isZod4Schema(v: unknown): boolean {
  if (v instanceof z.ZodType) return true;
  return (
    typeof v === 'object' &&
    v !== null &&
    '_zod' in v &&
    typeof (v as z.ZodType).safeParse === 'function'
  );
}

// zod 3 schemas (with `_def` but no `_zod`) are the common mistake: say what to import instead.
function schemaProblem(v: unknown): string {
  const isZod3 = typeof v === 'object' && v !== null && '_def' in v && !('_zod' in v);
  return isZod3
    ? "schema is a zod 3 schema: Sluice needs zod 4. Install zod@^4 and import { z } from 'zod' (with zod 3.25, import { z } from 'zod/v4')"
    : "schema must be a zod 4 schema (import { z } from 'zod', zod@^4)";
}

const taskOptionsSchema = z
  .object({
    name: z.string(),
    queue: z.string().default('default'),
    schema: z.custom<z.ZodType>(isZod4Schema, { error: (issue) => schemaProblem(issue.input) }),
    maxAttempts: z.number().int().min(1).max(1000).default(25),
    timeoutMs: z.number().int().positive().optional(),
    priority: z.number().int().min(-2147483648).max(2147483647).default(0),
    retry: retryPolicySchema.optional(),
  })
  .strict();

/** Options of {@link defineTask}; `name` and `schema` are required. */
export interface TaskOptions<S extends z.ZodType> {
  /** Task name: 1-128 letters, digits or `_ . - :`. */
  name: string;
  /** Queue its jobs go to. Default `default`. */
  queue?: string;
  /** zod schema of the payload, checked at enqueue and again before the handler runs. */
  schema: S;
  /** Attempts before the job is dead-lettered. Default 25. */
  maxAttempts?: number;
  /** The handler's signal fires after this long and the attempt fails. Default: none. */
  timeoutMs?: number;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Delay between attempts. Default exponential with jitter (see {@link RetryPolicy}). */
  retry?: RetryPolicy;
}

/** A defined task: what producers enqueue and workers run. */
export interface Task<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly queue: string;
  readonly schema: S;
  readonly maxAttempts: number;
  readonly timeoutMs: number | undefined;
  readonly priority: number;
  readonly retry: RetryPolicy | undefined;
  readonly handler: TaskHandler<S> | undefined;
  /** Returns the same task with `handler` attached, for a worker's task list. */
  handle(handler: TaskHandler<S>): Task<S> & { readonly handler: TaskHandler<S> };
  /**
   * Returns the same task with its handler run in a worker thread: the function exported as
   * `exportName` (default `default`) by the module at `module` (a URL, or an absolute path of a
   * JavaScript file). Use it for CPU-bound work: in the default mode a handler runs on the
   * worker's event loop, and one that computes for longer than the lease without awaiting stops
   * the heartbeat, so its job is rescued and runs again elsewhere. In a thread, heartbeats, cancel
   * and timeouts go on; a job that is aborted (timeout, cancel, shutdown) and does not return
   * within a second has its thread terminated. Threads are reused; payloads and results cross
   * by structured clone, and ctx.heartbeat, ctx.progress and ctx.logger call back to the worker.
   * @example
   * export const resize = defineTask({ name: 'resize', schema }).handleInThread(
   *   new URL('./resize-handler.js', import.meta.url),
   * );
   */
  handleInThread(
    module: string | URL,
    options?: { exportName?: string },
  ): Task<S> & { readonly handler: TaskHandler<S> };
}

/**
 * Defines a task with a typed payload.
 * @example
 * export const sendEmail = defineTask({ name: 'send-email', queue: 'mail', schema: z.object({ to: z.email() }) });
 */
export function defineTask<S extends z.ZodType>(options: TaskOptions<S>): Task<S> {
  const parsedData = parseOptions(taskOptionsSchema, 'task options', options);
  const o = parsedData;
  assertName('task', o.name);
  assertName('queue', o.queue);
  return makeTask(options.schema, o, undefined);
}

function makeTask<S extends z.ZodType>(
  schema: S,
  o: z.output<typeof taskOptionsSchema>,
  handler: TaskHandler<S> | undefined,
): Task<S> {
  return Object.freeze({
    name: o.name,
    queue: o.queue,
    schema,
    maxAttempts: o.maxAttempts,
    timeoutMs: o.timeoutMs,
    priority: o.priority,
    retry: o.retry,
    handler,
    handle(h: TaskHandler<S>) {
      if (typeof h !== 'function') throw new InvalidOptionsError('handler', 'must be a function');
      return makeTask(schema, o, h) as Task<S> & { readonly handler: TaskHandler<S> };
    },
    handleInThread(module: string | URL, options: { exportName?: string } = {}) {
      const url = moduleUrl(module);
      const exportName = options.exportName ?? 'default';
      const h: TaskHandler<S> = (payload, ctx) => runInThread(url, exportName, payload, ctx);
      return makeTask(schema, o, h) as Task<S> & { readonly handler: TaskHandler<S> };
    },
  });
}

// Checked when the task is defined, not at its first job: a typo should fail the deploy.
function moduleUrl(module: string | URL): string {
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && isAbsolute(module)) url = pathToFileURL(module);
  else if (typeof module === 'string' && /^file:/.test(module)) url = new URL(module);
  else {
    throw new InvalidOptionsError(
      'handleInThread',
      "module must be a URL or an absolute path, e.g. new URL('./handler.js', import.meta.url)",
    );
  }
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) {
    throw new InvalidOptionsError('handleInThread', `no such module: ${fileURLToPath(url)}`);
  }
  return url.href;
}
