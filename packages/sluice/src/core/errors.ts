// Typed errors: every failure the library reports has a stable `code` to branch on.

/** Stable codes of {@link SluiceError}. */
export type SluiceErrorCode =
  | 'INVALID_PAYLOAD'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_NAME'
  | 'INVALID_OPTIONS'
  | 'UNKNOWN_QUEUE'
  | 'UNKNOWN_TASK'
  | 'JOB_NOT_FOUND'
  | 'INVALID_FLOW'
  | 'LEASE_LOST'
  | 'SCHEMA_OUT_OF_DATE'
  | 'SCHEMA_NOT_MIGRATED'
  | 'DATABASE_UNREACHABLE'
  | 'TIMEOUT'
  | 'PERMANENT'
  | 'DATABASE';

/**
 * Base class of every error Sluice throws.
 * @example if (err instanceof SluiceError && err.code === 'UNKNOWN_QUEUE') await createQueue(...)
 */
export class SluiceError extends Error {
  override name = 'SluiceError';
  readonly code: SluiceErrorCode;

  constructor(code: SluiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An issue reported by zod, reduced to what a caller needs. */
export interface PayloadIssue {
  path: (string | number)[];
  message: string;
  code: string;
}

/** The payload failed the task's zod schema, or cannot be stored as JSON. */
export class InvalidPayloadError extends SluiceError {
  override name = 'InvalidPayloadError';
  readonly issues: PayloadIssue[];

  constructor(task: string, issues: PayloadIssue[], options?: { cause?: unknown }) {
    const listed = issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    super('INVALID_PAYLOAD', `invalid payload for task "${task}": ${listed}`, options);
    this.issues = issues;
  }
}

/** The serialised payload is larger than the queue's `max_payload_bytes`. */
export class PayloadTooLargeError extends SluiceError {
  override name = 'PayloadTooLargeError';
  constructor(
    readonly queue: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(
      'PAYLOAD_TOO_LARGE',
      `payload of ${bytes} bytes exceeds queue "${queue}" cap of ${maxBytes} bytes`,
    );
  }
}

/** A queue, task, schedule or schema name outside the allowed characters. */
export class InvalidNameError extends SluiceError {
  override name = 'InvalidNameError';
  constructor(kind: string, value: unknown) {
    super(
      'INVALID_NAME',
      `invalid ${kind} name ${JSON.stringify(value)}: use 1-128 letters, digits or _ . - :`,
    );
  }
}

/** Options failed validation. */
export class InvalidOptionsError extends SluiceError {
  override name = 'InvalidOptionsError';
  constructor(what: string, detail: string, options?: { cause?: unknown }) {
    super('INVALID_OPTIONS', `invalid ${what}: ${detail}`, options);
  }
}

/** The queue has no row in `sluice.queue`. */
export class UnknownQueueError extends SluiceError {
  override name = 'UnknownQueueError';
  constructor(readonly queue: string) {
    super(
      'UNKNOWN_QUEUE',
      `unknown queue "${queue}": create it with createQueue({ name: ${JSON.stringify(queue)} }), ` +
        `\`sluice queue create ${queue}\` or select sluice.create_queue('${queue.replace(/'/g, "''")}')`,
    );
  }
}

/** A worker met a job whose task it has no handler for. */
export class UnknownTaskError extends SluiceError {
  override name = 'UnknownTaskError';
  constructor(readonly task: string) {
    super('UNKNOWN_TASK', `no handler registered for task "${task}"`);
  }
}

/** No job with this id exists in any table. */
export class JobNotFoundError extends SluiceError {
  override name = 'JobNotFoundError';
  constructor(readonly jobId: string) {
    super('JOB_NOT_FOUND', `job ${jobId} not found`);
  }
}

/**
 * A flow that cannot be enqueued as given: too many members, a dependency on a job that does not
 * exist (or failed, without `onFailure: 'ignore'`), a handle from another flow. Thrown before
 * anything is written.
 * @example if (err instanceof InvalidFlowError) console.error(err.message);
 */
export class InvalidFlowError extends SluiceError {
  override name = 'InvalidFlowError';
  constructor(detail: string) {
    super('INVALID_FLOW', `invalid flow: ${detail}`);
  }
}

/**
 * The job's lease was lost (rescued after a stall, cancelled, or re-claimed) before its handler
 * transaction committed: the transaction was rolled back, none of its writes remain.
 * @example await ctx.transaction(async (tx) => { … }); // throws LeaseLostError when stale
 */
export class LeaseLostError extends SluiceError {
  override name = 'LeaseLostError';
  constructor(readonly jobId: string) {
    super(
      'LEASE_LOST',
      `job ${jobId} is no longer held by this worker: its transaction rolled back`,
    );
  }
}

/** The database schema is older than this library expects. */
export class SchemaOutOfDateError extends SluiceError {
  override name = 'SchemaOutOfDateError';
  constructor(schema: string, applied: number, expected: number) {
    super(
      'SCHEMA_OUT_OF_DATE',
      `schema "${schema}" is at migration ${applied}, this version needs ${expected}: run \`sluice migrate\``,
    );
  }
}

/** A statement met a missing Sluice schema, table or function: nothing (or too little) is migrated. */
export class SchemaNotMigratedError extends SluiceError {
  override name = 'SchemaNotMigratedError';
  constructor(
    readonly schema: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? ` (${options.cause.message})` : '';
    super(
      'SCHEMA_NOT_MIGRATED',
      `schema "${schema}" is not migrated${reason}: run \`sluice migrate\` or migrate() from the library`,
      options,
    );
  }
}

/** The database did not answer before the deadline of `waitForDatabase()`. */
export class DatabaseUnreachableError extends SluiceError {
  override name = 'DatabaseUnreachableError';
  constructor(
    readonly attempts: number,
    readonly elapsedMs: number,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? `: ${describeCause(options.cause)}` : '';
    super(
      'DATABASE_UNREACHABLE',
      `database unreachable after ${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)} s${reason}`,
      options,
    );
  }
}

// Node 20 reports a refused localhost connection as an AggregateError with an empty message.
function describeCause(err: Error): string {
  const inner = (err as { errors?: unknown[] }).errors?.[0];
  if (!err.message && inner instanceof Error) return describeCause(inner);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code)
    ? `${code} ${err.message}`
    : err.message;
}

/** A handler ran past its task's `timeoutMs`, or a wait ran out. */
export class TimeoutError extends SluiceError {
  override name = 'TimeoutError';
  constructor(
    readonly timeoutMs: number,
    what = 'handler',
  ) {
    super('TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
  }
}

/**
 * Thrown by a handler to fail its job without retrying: the job goes to dead letters.
 * @example throw new PermanentError('account deleted')
 */
export class PermanentError extends SluiceError {
  override name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMANENT', message, options);
  }
}
