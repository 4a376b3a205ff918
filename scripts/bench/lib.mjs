// Shared helpers: one clock for every process, fresh databases, statistics, logging.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Milliseconds on CLOCK_MONOTONIC. It is one clock for the whole machine, so a time taken in the
 * producer and one taken in a worker process can be subtracted (Date.now() has 1 ms steps).
 */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Progress lines go to stderr so stdout stays JSON lines plus the final table. */
export function log(...parts) {
  process.stderr.write(`[bench] ${parts.join(' ')}\n`);
}

/** Replaces the database name in a connection URL. */
export function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs statements on a short-lived connection. */
export async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database for one (scenario, system) run; `drop()` removes it. */
export async function createDatabase(serverUrl, label) {
  const name = `bench_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(serverUrl, name);
  return {
    name,
    url,
    async drop() {
      if (process.env.BENCH_KEEP_DB === '1') return;
      await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/**
 * Warms a fresh server before anything is timed: writes ~200 MB of WAL through shared buffers and
 * checkpoints, so WAL segments exist to be recycled and shared memory is paged in. Without it the
 * first system measured pays for creating WAL files and first-touch page faults (seen: ~8% on A).
 */
export async function warmUp(serverUrl) {
  const db = await createDatabase(serverUrl, 'warm_up');
  try {
    await withClient(db.url, async (c) => {
      await c.query('CREATE TABLE warm (id bigint PRIMARY KEY, pad text)');
      await c.query(
        `INSERT INTO warm SELECT g, repeat('x', 200) FROM generate_series(1, 600000) g`,
      );
      await c.query('CHECKPOINT').catch(() => undefined);
    });
  } finally {
    await db.drop();
  }
}

/**
 * Makes the start of a timed phase comparable across systems: fresh statistics and visibility
 * map for what was just loaded, and no checkpoint left over from the loading.
 */
export async function settle(url) {
  await withClient(url, async (c) => {
    await c.query('VACUUM (ANALYZE)');
    await c.query('CHECKPOINT').catch(() => undefined); // needs superuser or pg_checkpoint
  });
}

/** The p-th percentile (0-100) of numbers, nearest-rank; null for an empty list. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Rounds for display and JSON (3 significant decimals for small numbers). */
export function round(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return value;
  if (Math.abs(value) >= 100) return Math.round(value);
  if (Math.abs(value) >= 10) return Math.round(value * 10) / 10;
  return Math.round(value * 100) / 100;
}

/**
 * Checks a ledger of payload sequence numbers: each of 0..expected-1 exactly once.
 * @returns {{ ran: number, distinct: number, duplicates: number, missing: number, outOfRange: number, ok: boolean }}
 */
export function checkLedger(seqs, expected) {
  const seen = new Uint8Array(expected);
  let duplicates = 0;
  let outOfRange = 0;
  for (const s of seqs) {
    if (!Number.isInteger(s) || s < 0 || s >= expected) {
      outOfRange++;
      continue;
    }
    if (seen[s]) duplicates++;
    else seen[s] = 1;
  }
  let distinct = 0;
  for (const v of seen) distinct += v;
  const missing = expected - distinct;
  return {
    ran: seqs.length,
    distinct,
    duplicates,
    missing,
    outOfRange,
    ok: duplicates === 0 && missing === 0 && outOfRange === 0,
  };
}

/** Splits `n` sequence numbers starting at `from` into arrays of at most `size`. */
export function* seqBatches(from, n, size) {
  for (let i = 0; i < n; i += size) {
    const len = Math.min(size, n - i);
    yield Array.from({ length: len }, (_, k) => from + i + k);
  }
}

/**
 * Latency of each seq 0..n-1 from its commit (`commitAt[seq]`) to its first handler start in the
 * ledger. A job that never ran counts as +Infinity, so percentiles it reaches read "above the
 * wait" instead of hiding the miss.
 */
export function latencies(commitAt, ledger, n) {
  const startAt = new Float64Array(n).fill(Number.NaN);
  ledger.seqs.forEach((seq, i) => {
    if (seq >= 0 && seq < n && Number.isNaN(startAt[seq])) startAt[seq] = ledger.starts[i];
  });
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Number.isNaN(startAt[i]) ? Number.POSITIVE_INFINITY : startAt[i] - commitAt[i];
  }
  return out;
}
