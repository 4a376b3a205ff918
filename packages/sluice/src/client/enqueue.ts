// The transactional outbox: a job is a row written with the caller's own client or transaction,
// so it exists if and only if that transaction commits.
import { z } from 'zod';
import type { Target } from '../core/target.js';
import { toExecutor, type Executor } from '../core/db.js';
import type { Task } from './define-task.js';
import { InvalidOptionsError, PayloadTooLargeError, UnknownQueueError } from '../core/errors.js';
import { assertName, assertSchemaName } from '../core/names.js';
import { serializePayload, stringProblem } from './payload.js';
import {
  jobFindByUniqueKeys,
  jobInsert,
  jobInsertDiagnose,
  jobInsertMany,
  jobInsertScoped,
  type JobInsertParams,
} from '../queries/job.js';
import { queueCapsGet } from '../queries/queue.js';
import { parseOptions } from '../core/options.js';
import type { RetryPolicy } from './retry-policy.js';
import { runOptionsJson, storedRetrySchema } from './run-options.js';
import { withSendSpan } from '../tracing/send-span.js';

// Keys are stored in text columns: a NUL or a lone surrogate would abort the caller's transaction.
const storableKey = z
  .string()
  .min(1)
  .max(512)
  .superRefine((v, ctx) => {
    const problem = stringProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `key ${problem}` });
  });

const jobOptionsSchema = z
  .object({
    queue: z.string().optional(),
    runAt: z.date().optional(),
    delayMs: z.number().nonnegative().finite().optional(),
    priority: z
      .number()
      .int('priority must be an integer (higher runs first)')
      .min(-2147483648)
      .max(2147483647)
      .optional(),
    uniqueKey: storableKey.optional(),
    uniqueScope: z
      .union([
        z.literal('unfinished'),
        z.literal('retained'),
        z.object({ finishedWithinMs: z.number().int().positive() }).strict(),
      ])
      .optional(),
    groupKey: storableKey.optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    expiresAt: z.date().optional(),
    timeoutMs: z.number().int().positive().optional(),
    retry: storedRetrySchema.optional(),
  })
  .strict()
  .refine((o) => o.uniqueScope === undefined || o.uniqueKey !== undefined, {
    message: 'uniqueScope needs a uniqueKey',
  })
  .refine((o) => o.runAt === undefined || o.delayMs === undefined, {
    message: 'give runAt or delayMs, not both',
  })
  .refine((o) => o.runAt === undefined || !Number.isNaN(o.runAt.getTime()), {
    message: 'runAt is an invalid Date',
  })
  .refine((o) => o.expiresAt === undefined || !Number.isNaN(o.expiresAt.getTime()), {
    message: 'expiresAt is an invalid Date',
  })
  .refine((o) => !o.runAt || !o.expiresAt || o.expiresAt > o.runAt, {
    message: 'expiresAt must be after runAt: the job could never start',
  })
  .refine(
    (o) =>
      o.uniqueScope === undefined ||
      o.uniqueScope === 'unfinished' ||
      (o.expiresAt === undefined && o.timeoutMs === undefined && o.retry === undefined),
    {
      message:
        'expiresAt, timeoutMs and retry cannot be combined with a uniqueScope beyond unfinished',
    },
  );

/** Per-job options. */
export interface JobOptions {
  /** Overrides the task's queue. */
  queue?: string;
  /** Earliest start (database clock decides when it has come). */
  runAt?: Date;
  /** Earliest start as a delay from the database's `now()`. */
  delayMs?: number;
  /**
   * Higher runs first (the reverse of BullMQ, where 1 is the highest), any int4. Default: the
   * task's priority (0).
   */
  priority?: number;
  /** At most one job per (queue, uniqueKey) in `uniqueScope`; a duplicate returns the existing id. */
  uniqueKey?: string;
  /**
   * How long a uniqueKey stays taken. `'unfinished'` (default): while its job is pending,
   * running or blocked; `{ finishedWithinMs }`: also until that long after the job finished
   * (completed, cancelled or dead); `'retained'`: while history or dead letters keep the job.
   * @example await enqueue(charge, p, { db, uniqueKey: `charge:${orderId}`, uniqueScope: 'retained' });
   */
  uniqueScope?: 'unfinished' | 'retained' | { finishedWithinMs: number };
  /** Key for per-group flow control (e.g. a tenant id). */
  groupKey?: string;
  /** Default: the task's maxAttempts. */
  maxAttempts?: number;
  /** Not started by then: moved to history as `expired` and never run. */
  expiresAt?: Date;
  /** This job's timeout, instead of the task's. */
  timeoutMs?: number;
  /** This job's retry policy (an object form; a function cannot be stored), instead of the task's. */
  retry?: Exclude<RetryPolicy, (attempt: number, error: unknown) => number>;
}

/** Where to write: the caller's connection or transaction, and the schema. */
export type EnqueueTarget = Target;

/** The job written (or found, for a uniqueKey duplicate). */
export interface EnqueuedJob {
  id: string;
  /** True when a job with the same uniqueKey already existed and no row was written. */
  isDuplicate: boolean;
}

function uniqueWithinMs(scope: JobOptions['uniqueScope']): number | null {
  if (scope === undefined || scope === 'unfinished') return null;
  return scope === 'retained' ? Infinity : scope.finishedWithinMs;
}

/** A job whose unique key outlives it: checked against history and dead letters. */
async function insertScoped(exec: Executor, schema: string, params: JobInsertParams) {
  // The function would raise (aborting the caller's transaction) on an unknown queue or an
  // oversized payload: refuse those here first, with the typed errors.
  const refusal = await explainRefusal(exec, schema, [params]);
  if (refusal) throw refusal;
  return jobInsertScoped(exec, schema, params);
}

function toInsertParams<S extends z.ZodType>(
  task: Task<S>,
  payload: unknown,
  options: JobOptions | undefined,
): JobInsertParams {
  // Most jobs carry no options: skip the zod pass for them (it is a third of a bulk call's JS).
  let o: JobOptions = {};
  if (options !== undefined && Object.keys(options).length > 0) {
    o = parseOptions(jobOptionsSchema, 'job options', options);
  }
  return {
    queue: assertName('queue', o.queue ?? task.queue),
    task: assertName('task', task.name),
    payloadJson: serializePayload(task, payload),
    runAt: o.runAt ?? null,
    delayMs: o.delayMs ?? null,
    priority: o.priority ?? task.priority,
    maxAttempts: o.maxAttempts ?? task.maxAttempts,
    uniqueKey: o.uniqueKey ?? null,
    uniqueWithinMs: uniqueWithinMs(o.uniqueScope),
    groupKey: o.groupKey ?? null,
    expiresAt: o.expiresAt ?? null,
    runOptionsJson: runOptionsJson(o),
  };
}

/**
 * Enqueues one job in the caller's transaction; the job exists only if it commits.
 * @example
 * await client.query('BEGIN');
 * await client.query('INSERT INTO orders …');
 * const { id } = await enqueue(sendEmail, { to: 'a@b.c' }, { db: client });
 * await client.query('COMMIT');
 */
export async function enqueue<S extends z.ZodType>(
  task: Task<S>,
  payload: z.input<S>,
  options: EnqueueTarget & JobOptions,
): Promise<EnqueuedJob> {
  const {
    db,
    schema = 'sluice',
    preparedStatements,
    ...jobOptions
  } = options ?? ({} as EnqueueTarget);
  assertSchemaName(schema);
  const params = toInsertParams(task, payload, jobOptions);
  const exec = toExecutor(db, { isPrepared: preparedStatements ?? true });
  return withSendSpan([params], () => insertOne(exec, schema, params));
}

async function insertOne(exec: Executor, schema: string, params: JobInsertParams) {
  if (params.uniqueWithinMs !== null) return insertScoped(exec, schema, params);
  // A conflicting unique job may finish between insert and lookup; then insert again.
  for (let i = 0; i < 5; i++) {
    const id = await jobInsert(exec, schema, params);
    if (id !== undefined) return { id, isDuplicate: false };
    const why = await jobInsertDiagnose(exec, schema, params);
    if (why.cap === null) throw new UnknownQueueError(params.queue);
    const bytes = Buffer.byteLength(params.payloadJson);
    if (bytes > why.cap) throw new PayloadTooLargeError(params.queue, bytes, why.cap);
    if (why.existing_id !== null) return { id: why.existing_id, isDuplicate: true };
  }
  throw new Error('enqueue: unique job kept finishing during insert; giving up after 5 tries');
}

/** One job of a bulk enqueue. */
export interface BulkJob<S extends z.ZodType = z.ZodType> extends JobOptions {
  task: Task<S>;
  payload: z.input<S>;
}

/**
 * Enqueues many jobs with one INSERT per 10,000 jobs (or 32 MB of payloads); returns ids in
 * input order.
 * @example await enqueueMany(users.map((u) => ({ task: sendEmail, payload: { to: u.email } })), { db: pool });
 */
export async function enqueueMany(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each job carries its own task type
  jobs: readonly BulkJob<any>[],
  options: EnqueueTarget & { chunkSize?: number },
): Promise<EnqueuedJob[]> {
  const {
    db,
    schema = 'sluice',
    chunkSize = 10_000,
    preparedStatements,
  } = options ?? ({} as EnqueueTarget);
  assertSchemaName(schema);
  if (!Array.isArray(jobs)) throw new InvalidOptionsError('jobs', 'must be an array');
  const params = jobs.map((j: BulkJob) => {
    // Most bulk jobs carry only task and payload: skip building an options object for them.
    for (const key in j) {
      if (key !== 'task' && key !== 'payload') {
        const { task, payload, ...rest } = j;
        return toInsertParams(task, payload, rest);
      }
    }
    return toInsertParams(j.task, j.payload, undefined);
  });
  if (params.length === 0) return [];
  const exec = toExecutor(db, { isPrepared: preparedStatements ?? true });
  const insert = params.some((p) => p.uniqueWithinMs !== null) ? insertWithScoped : insertBulk;
  return withSendSpan(params, () => insert(exec, schema, params, chunkSize));
}

async function insertBulk(
  exec: Executor,
  schema: string,
  params: JobInsertParams[],
  chunkSize: number,
): Promise<EnqueuedJob[]> {
  const sizes = params.map((p) => Buffer.byteLength(p.payloadJson));
  const caps = largestPayloads(params, sizes);
  const out: EnqueuedJob[] = [];
  for (const [from, to] of chunkBounds(sizes, chunkSize)) {
    out.push(...(await insertChunk(exec, schema, params.slice(from, to), caps)));
  }
  return out;
}

/**
 * Jobs whose unique keys outlive them go one statement each (sorted by key, so two such calls
 * take their advisory locks in the same order), after the others' bulk insert; ids keep input
 * order. Every queue and payload is checked before anything is written.
 */
async function insertWithScoped(
  exec: Executor,
  schema: string,
  params: JobInsertParams[],
  chunkSize: number,
): Promise<EnqueuedJob[]> {
  const refusal = await explainRefusal(exec, schema, params);
  if (refusal) throw refusal;
  const plainIdx = params.flatMap((p, i) => (p.uniqueWithinMs === null ? [i] : []));
  const scopedIdx = params
    .flatMap((p, i) => (p.uniqueWithinMs === null ? [] : [i]))
    .sort((a, b) => {
      const ka = `${params[a]!.queue}|${params[a]!.uniqueKey}`;
      const kb = `${params[b]!.queue}|${params[b]!.uniqueKey}`;
      return ka < kb ? -1 : ka > kb ? 1 : a - b;
    });
  const out: EnqueuedJob[] = new Array<EnqueuedJob>(params.length);
  if (plainIdx.length > 0) {
    const plain = await insertBulk(
      exec,
      schema,
      plainIdx.map((i) => params[i]!),
      chunkSize,
    );
    plainIdx.forEach((i, k) => (out[i] = plain[k]!));
  }
  for (const i of scopedIdx) out[i] = await jobInsertScoped(exec, schema, params[i]!);
  return out;
}

// A chunk's payloads travel as one jsonb array, and a jsonb value must stay under 256 MB:
// chunks also end at this many bytes of payload, far below that limit.
const CHUNK_PAYLOAD_BYTES = 32 * 1024 * 1024;

/** [from, to) index pairs: at most `chunkSize` jobs and CHUNK_PAYLOAD_BYTES per chunk. */
function chunkBounds(sizes: number[], chunkSize: number): [number, number][] {
  const bounds: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  sizes.forEach((size, i) => {
    if (i > from && (i - from >= chunkSize || bytes + size > CHUNK_PAYLOAD_BYTES)) {
      bounds.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += size;
  });
  bounds.push([from, sizes.length]);
  return bounds;
}

/** The largest payload per queue, checked against the queues' caps inside the insert. */
function largestPayloads(params: JobInsertParams[], sizes: number[]) {
  const largest = new Map<string, number>();
  params.forEach((p, i) => {
    if (sizes[i]! > (largest.get(p.queue) ?? -1)) largest.set(p.queue, sizes[i]!);
  });
  return { queues: [...largest.keys()], maxBytes: [...largest.values()] };
}

/** Names the first bad job of a call whose insert was refused by the queue check. */
async function explainRefusal(exec: Executor, schema: string, params: JobInsertParams[]) {
  const caps = await queueCapsGet(exec, schema, [...new Set(params.map((p) => p.queue))]);
  for (const p of params) {
    const cap = caps.get(p.queue);
    if (cap === undefined) return new UnknownQueueError(p.queue);
    const bytes = Buffer.byteLength(p.payloadJson);
    if (bytes > cap) return new PayloadTooLargeError(p.queue, bytes, cap);
  }
  return undefined;
}

async function insertChunk(
  exec: Executor,
  schema: string,
  chunk: JobInsertParams[],
  caps: { queues: string[]; maxBytes: number[] },
): Promise<EnqueuedJob[]> {
  const { ids: inserted, keyed } = await jobInsertMany(exec, schema, chunk, caps);
  // Nothing at all: the queue check refused the call, or (unique keys) every job was a duplicate.
  if (inserted.length === 0) {
    const refusal = await explainRefusal(exec, schema, chunk);
    if (refusal) throw refusal;
  }
  if (keyed.length === 0 && inserted.length === chunk.length) {
    return inserted.map((id) => ({ id, isDuplicate: false }));
  }
  const insertedKeys = new Set(keyed.map((r) => `${r.queue}\u0000${r.unique_key}`));
  const out: EnqueuedJob[] = [];
  const firstInBatch = new Map<string, number>();
  const missing: { index: number; queue: string; uniqueKey: string }[] = [];
  let next = 0;
  chunk.forEach((p, index) => {
    if (p.uniqueKey === null) {
      out.push({ id: inserted[next++]!, isDuplicate: false });
      return;
    }
    const key = `${p.queue}\u0000${p.uniqueKey}`;
    const first = firstInBatch.get(key);
    if (first !== undefined) {
      out.push({ id: out[first]!.id, isDuplicate: true });
    } else if (insertedKeys.has(key)) {
      firstInBatch.set(key, index);
      out.push({ id: inserted[next++]!, isDuplicate: false });
    } else {
      firstInBatch.set(key, index);
      out.push({ id: '', isDuplicate: true });
      missing.push({ index, queue: p.queue, uniqueKey: p.uniqueKey });
    }
  });
  if (missing.length > 0) {
    const found = await jobFindByUniqueKeys(exec, schema, missing);
    const byKey = new Map(found.map((f) => [`${f.queue}\u0000${f.unique_key}`, f.id]));
    for (const m of missing) {
      const id = byKey.get(`${m.queue}\u0000${m.uniqueKey}`);
      // The duplicate finished meanwhile: enqueue it on its own (rare).
      out[m.index] = id
        ? { id, isDuplicate: true }
        : { id: (await jobInsert(exec, schema, chunk[m.index]!)) ?? '', isDuplicate: false };
    }
  }
  // Batch duplicates point at their first occurrence, which may have been filled in above.
  out.forEach((o, i) => {
    if (o.id === '') {
      const p = chunk[i]!;
      const first = firstInBatch.get(`${p.queue}\u0000${p.uniqueKey}`);
      if (first !== undefined) o.id = out[first]!.id;
    }
  });
  return out;
}
