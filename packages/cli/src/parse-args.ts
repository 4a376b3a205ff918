// Commander argument parsers: bad input fails before any connection, with a one-line reason.
import { InvalidArgumentError } from 'commander';
import { assertName } from 'sluice/admin';

/** A positive integer. */
export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return Number(value);
}

/** A positive integer, or `none` to clear a limit (commander turns a parsed null into ''). */
export function limitOrNone(value: string): number | 'none' {
  if (value === 'none') return 'none';
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 2_147_483_647) {
    throw new InvalidArgumentError('expected a positive integer or "none".');
  }
  return Number(value);
}

/** A job or dead-letter id (a positive bigint, kept as text). */
export function jobId(value: string): string {
  if (!/^[1-9]\d{0,18}$/.test(value)) throw new InvalidArgumentError('expected a job id.');
  return value;
}

/** An ISO 8601 date or timestamp. */
export function isoDate(value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError('expected an ISO time such as 2025-01-31T12:00:00Z.');
  }
  return d;
}

/** A queue or task name, checked by the library's rule. */
export function nameOf(kind: 'queue' | 'task'): (value: string) => string {
  return (value) => {
    try {
      return assertName(kind, value);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}
