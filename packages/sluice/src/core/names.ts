// Name rules shared by the client, worker and CLI. Names are always bound as values; only the
// schema name reaches SQL text, and only after this check.
import { InvalidNameError } from './errors.js';

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Throws {@link InvalidNameError} unless `value` is a valid queue/task/schedule name.
 * @example const queue = assertName('queue', input); // 1-128 of letters, digits, _ . - :
 */
export function assertName(kind: 'queue' | 'task' | 'schedule', value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw new InvalidNameError(kind, value);
  return value;
}

/**
 * Throws unless `value` is a lower-case SQL identifier usable as the schema name.
 * @example const schema = assertSchemaName(process.env.SLUICE_SCHEMA ?? 'sluice');
 */
export function assertSchemaName(value: unknown): string {
  if (typeof value !== 'string' || !SCHEMA.test(value)) throw new InvalidNameError('schema', value);
  return value;
}

/** The NOTIFY channel on which new ready jobs of a schema are announced (payload: queue name). */
export function jobChannel(schema: string): string {
  return `${schema}:job`;
}

/** The NOTIFY channel on which cancellations of running jobs are announced (payload: job id). */
export function cancelChannel(schema: string): string {
  return `${schema}:cancel`;
}

/** The NOTIFY channel on which changed schedules are announced (payload: schedule name). */
export function scheduleChannel(schema: string): string {
  return `${schema}:schedule`;
}

/** The NOTIFY channel on which job events are announced (JSON arrays; migrations/0019). */
export function doneChannel(schema: string): string {
  return `${schema}:done`;
}
