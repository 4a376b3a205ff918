// Waiting for Postgres at start-up, so that workers and the database can start in any order
// (Compose, Kubernetes): connection failures that pass by themselves are retried with capped
// exponential back-off; anything else (a wrong password, a missing database) fails at once.
import pg from 'pg';
import { toExecutor } from './db.js';
import { DatabaseUnreachableError, InvalidOptionsError } from './errors.js';
import { serverPing } from '../queries/worker.js';

/** One failed attempt, as `onAttempt` sees it. */
export interface DatabaseAttempt {
  /** 1 for the first attempt. */
  attempt: number;
  error: unknown;
  /** Since `waitForDatabase` was called. */
  elapsedMs: number;
  /** How long until the next attempt. */
  delayMs: number;
}

/** Options of {@link waitForDatabase}: `db` or `connect`. */
export interface WaitForDatabaseOptions {
  /** A connection string or pg config; an attempt connects a client and runs `SELECT 1`. */
  db?: string | pg.ClientConfig;
  /** One attempt instead of `db`: resolves once the database answers; `signal` ends it early. */
  connect?: (signal: AbortSignal) => Promise<void>;
  /** Gives up with {@link DatabaseUnreachableError} after this long. Default: wait forever. */
  deadlineMs?: number;
  /** Pause after the first failure, doubled after each one (±20 % jitter). Default 250. */
  initialDelayMs?: number;
  /** Longest pause between attempts. Default 5000. */
  maxDelayMs?: number;
  /** Called after every failed attempt that will be retried (to log it). */
  onAttempt?: (attempt: DatabaseAttempt) => void;
  /** Aborting it ends the wait with the signal's reason. */
  signal?: AbortSignal;
}

// Node's socket errors for a server that is not there yet, or a name not yet in DNS (a Compose
// service still starting); 57P01-03 (shut down, crashed, starting up) and 53300 (too many
// connections) pass too. A malformed URL is rejected before any attempt instead.
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/**
 * Whether a connection error may pass by itself: the server is not up yet, is restarting or is
 * out of connections (SQLSTATE class 08 too). Authentication and missing databases are not.
 * @example if (!isTransientConnectionError(err)) throw err;
 */
export function isTransientConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  // Node 20 tries every address of localhost and reports them together.
  if (Array.isArray(e.errors) && e.errors.length > 0) {
    return e.errors.some(isTransientConnectionError);
  }
  if (typeof e.code === 'string') return TRANSIENT_CODES.has(e.code) || /^08/.test(e.code);
  // pg's own errors have no code: the socket closed during start-up, or the attempt timed out.
  return (
    typeof e.message === 'string' &&
    /^Connection terminated|connection timeout|timeout expired/i.test(e.message)
  );
}

// pg reads a string that is no URL as a path under host "base" (ENOTFOUND base, forever).
function assertConnectionString(db: string): void {
  if (!/^(postgres(ql)?:\/\/|socket:|\/)/i.test(db)) {
    throw new InvalidOptionsError('db', 'expected a postgres:// or postgresql:// URL');
  }
}

function connectWith(db: string | pg.ClientConfig, timeoutMs: number) {
  const config = typeof db === 'string' ? { connectionString: db } : db;
  return async (signal: AbortSignal) => {
    const client = new pg.Client({ connectionTimeoutMillis: timeoutMs, ...config });
    // A late socket error after the attempt was given up must not crash the process.
    client.on('error', () => undefined);
    const onAbort = () => void client.end().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
      await serverPing(toExecutor(client));
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => undefined);
    }
  };
}

// Resolves with the attempt, or rejects with `reason` once `signal` fires, whichever comes first.
function raceAbort<T>(attempt: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    attempt.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves once the database accepts a connection, retrying transient failures with capped
 * exponential back-off (250 ms doubling to 5 s, ±20 % jitter); waits forever unless `deadlineMs`
 * is given, then throws {@link DatabaseUnreachableError} with the last error as its cause.
 * Non-transient errors (see {@link isTransientConnectionError}) are thrown at once.
 * @example await waitForDatabase({ db: process.env.DATABASE_URL!, deadlineMs: 60_000 });
 */
export async function waitForDatabase(
  options: WaitForDatabaseOptions,
): Promise<{ attempts: number; elapsedMs: number }> {
  const { db, signal, onAttempt } = options;
  const deadlineMs = options.deadlineMs ?? Infinity;
  const initialDelayMs = options.initialDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  if (!(deadlineMs >= 0) || !(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs)) {
    throw new InvalidOptionsError('waitForDatabase', 'deadlineMs, initialDelayMs or maxDelayMs');
  }
  if (typeof db === 'string') assertConnectionString(db);
  if (!options.connect && !db)
    throw new InvalidOptionsError('waitForDatabase', 'pass db or connect');
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const remainingMs = deadlineMs - (Date.now() - startedAt);
    // Each attempt ends by the deadline (a dropped SYN would otherwise hang for minutes), give or
    // take 250 ms: the last attempt, right at the deadline, still gets time to connect.
    const attemptMs = Math.max(250, Math.min(remainingMs, 10_000));
    const connect = options.connect ?? connectWith(db!, attemptMs);
    const ends = AbortSignal.any([AbortSignal.timeout(attemptMs), ...(signal ? [signal] : [])]);
    try {
      await raceAbort(connect(ends), ends);
      return { attempts: attempt, elapsedMs: Date.now() - startedAt };
    } catch (caught) {
      signal?.throwIfAborted();
      const err = ends.aborted
        ? Object.assign(new Error(`no answer within ${attemptMs} ms`), { code: 'ETIMEDOUT' })
        : caught;
      if (!isTransientConnectionError(err)) throw err;
      const elapsedMs = Date.now() - startedAt;
      const leftMs = deadlineMs - elapsedMs;
      if (leftMs <= 0) throw new DatabaseUnreachableError(attempt, elapsedMs, { cause: err });
      const backoffMs = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20));
      const delayMs = Math.round(Math.min(leftMs, backoffMs * (0.8 + Math.random() * 0.4)));
      onAttempt?.({ attempt, error: err, elapsedMs, delayMs });
      await sleep(delayMs, signal);
    }
  }
}
