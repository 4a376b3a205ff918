// Reading query strings and form fields: anything malformed is a 400 with a message saying
// what was wrong, before a query runs.
import { HttpError } from './page-context.js';

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const ID = /^[0-9]{1,19}$/;

/** A parameter's value, trimmed; undefined when absent or empty. */
export function optional(params: URLSearchParams, key: string): string | undefined {
  const v = params.get(key)?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** A job id (digits). */
export function parseId(value: string, what = 'job id'): string {
  if (!ID.test(value)) throw new HttpError(400, `${what} must be a number`);
  return value;
}

/** A queue, task or schedule name as Sluice allows them. */
export function parseName(value: string, what: string): string {
  if (!NAME.test(value)) {
    throw new HttpError(400, `${what} may hold letters, digits and _ . - : (at most 128)`);
  }
  return value;
}

/** A time from a `datetime-local` input (read as UTC) or an ISO string. */
export function parseTime(value: string, what: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : value;
  const d = new Date(iso);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new HttpError(400, `${what} must be a time like 2026-01-31T12:00 (UTC)`);
  }
  return d;
}

/** A free-text key filter (unique or group key), bounded in length. */
export function parseKey(value: string, what: string): string {
  if (value.length > 512) throw new HttpError(400, `${what} is longer than 512 characters`);
  return value;
}

/** An optional whole number in a range; '' clears (null). */
export function parseLimit(value: string | undefined, what: string, max: number): number | null {
  if (value === undefined || value.trim() === '') return null;
  if (!/^\d+$/.test(value.trim())) throw new HttpError(400, `${what} must be a whole number`);
  const n = Number(value);
  if (n < 1 || n > max) throw new HttpError(400, `${what} must be between 1 and ${max}`);
  return n;
}

/** The optional filters shared by the dead-letter list, replay and purge. */
export interface DeadLetterFilter {
  queue?: string;
  task?: string;
  since?: Date;
}

/** Reads the dead-letter filter from a query string or form. */
export function deadLetterFilter(params: URLSearchParams): DeadLetterFilter {
  const queue = optional(params, 'queue');
  const task = optional(params, 'task');
  const since = optional(params, 'since');
  return {
    ...(queue && { queue: parseName(queue, 'queue') }),
    ...(task && { task: parseName(task, 'task') }),
    ...(since && { since: parseTime(since, 'since') }),
  };
}

/** The filter as query-string values (for links and hidden fields). */
export function deadLetterQuery(f: DeadLetterFilter): Record<string, string | undefined> {
  return { queue: f.queue, task: f.task, since: f.since && toInputTime(f.since) };
}

/** A time as a `datetime-local` value in UTC. */
export function toInputTime(d: Date): string {
  return d.toISOString().slice(0, 16);
}
