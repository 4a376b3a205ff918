// Errors reach the user as one line `sluice: <reason>`, never as a stack trace.
import { SluiceError } from 'sluice';

/** A failure of the CLI itself (bad input, missing server), shown as its message. */
export class CliError extends Error {
  override name = 'CliError';
}

// SQLSTATEs worth a hint: the schema (or a newer migration) is missing.
const NEEDS_MIGRATE = new Set(['3F000', '42P01', '42883']);

interface PgLikeError {
  code?: string;
  message: string;
  errors?: unknown[];
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** The one line printed for `err`, without the `sluice: ` prefix. */
export function describeError(err: unknown): string {
  if (err instanceof SluiceError || err instanceof CliError) return firstLine(err.message);
  if (!(err instanceof Error)) return String(err);
  const e = err as PgLikeError;
  // Node 20 reports a refused localhost connection as an AggregateError with an empty message.
  if (e.errors && e.errors.length > 0 && !e.message) return describeError(e.errors[0]);
  if (e.code && /^E[A-Z]+$/.test(e.code)) {
    return `cannot reach the database (${e.code}): ${firstLine(e.message)}`;
  }
  if (e.code && NEEDS_MIGRATE.has(e.code)) {
    return `${firstLine(e.message)} (is the schema migrated? run \`sluice migrate\`)`;
  }
  return firstLine(e.message);
}
