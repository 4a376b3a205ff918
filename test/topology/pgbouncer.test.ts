// Workers behind PgBouncer in transaction pooling mode (Debian's 1.18: no prepared statements in
// that mode). Poll-only workers drain and survive a SIGKILL with an exact ledger, named statements
// fall back with one warning per process, and no session state crosses the pooler: no LISTEN, no
// session advisory lock. With `listenUrl`, LISTEN runs on a direct connection and wakes workers
// whose poll is 30 s away.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { serverUrl, useTestDatabase } from '../setup/db.js';
import {
  assertNoWorkerOutlivesTest,
  createLedger,
  enqueueLedger,
  rows,
  startWorker,
  stopAll,
} from '../worker/harness.js';
import { spawnCli } from '../../packages/cli/test/run-cli.js';
import { findPgbouncer, startPgbouncer, type RunningPgbouncer } from './pgbouncer.js';

const binary = findPgbouncer();
if (!binary) {
  console.warn('skipping the PgBouncer tests: no pgbouncer binary (apt-get install pgbouncer)');
}
const POOL_SIZE = 4;

// A user's tasks module for `sluice work`, outside the repository; its imports resolve through a
// node_modules link to the workspace's.
const TASKS_JS = `
import pg from 'pg';
import { z } from 'zod';
import { defineTask } from 'sluice';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
export const ledger = defineTask({ name: 'ledger-default', queue: 'default', schema: z.object({}) })
  .handle(async (_p, ctx) => {
    await pool.query('INSERT INTO ledger (job_id, attempt, pid) VALUES ($1, $2, $3)',
      [ctx.job.id, ctx.attempt, process.pid]);
  });
`;
const FAST = {
  LEASE_MS: '1500',
  RESCUE_INTERVAL_MS: '250',
  RESCUE_BACKOFF_MS: '10',
  POLL_INTERVAL_MS: '100',
};

describe.skipIf(!binary)('through PgBouncer in transaction mode', () => {
  const db = useTestDatabase();
  let bouncer: RunningPgbouncer;
  beforeAll(async () => {
    bouncer = await startPgbouncer(binary!, serverUrl(), { poolSize: POOL_SIZE });
    await createLedger(db.current);
  });
  // Registered after the database: vitest runs it first, before the database is dropped.
  afterAll(async () => {
    await bouncer?.stop();
  });
  assertNoWorkerOutlivesTest();

  const pooled = () => ({ DATABASE_URL: bouncer.urlFor(db.current.url) });
  async function reset() {
    await db.current.pool.query(
      'TRUNCATE ledger, sluice.job, sluice.job_history, sluice.dead_letter, sluice.worker, sluice.worker_waiting, sluice.leader',
    );
  }
  async function completed(ids: string[]) {
    const [r] = await rows<{ n: number; d: number }>(
      db.current,
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM sluice.job_history
        WHERE id = ANY($1) AND state = 'completed'`,
      [ids],
    );
    return r!;
  }
  const fallbackWarnings = (stderr: string[]) =>
    stderr.filter((l) => l.includes('named statements fail here')).length;
  const preparedErrors = (stderr: string[]) =>
    stderr.filter((l) => /prepared statement/.test(l) && /"level":(50|"error")/.test(l));

  it('2 poll-only workers drain 1,500 jobs: ledger exact, one fallback warning each, no session state', async () => {
    await reset();
    const ids = await enqueueLedger(db.current, 1500);
    // Prepared statements left on (the default): the fallback must catch what the pooler answers.
    const env = { ...pooled(), ...FAST, LISTEN: 'off', CONCURRENCY: '8' };
    const procs = [startWorker(db.current, env), startWorker(db.current, env)];
    let maxServers = 0;
    let maxClients = 0;
    await eventually(
      async () => {
        const pools = await bouncer.admin<{
          database: string;
          cl_active: string;
          sv_active: string;
          sv_idle: string;
          sv_used: string;
        }>('SHOW POOLS');
        for (const p of pools.filter((x) => x.database === db.current.name)) {
          maxServers = Math.max(maxServers, +p.sv_active + +p.sv_idle + +p.sv_used);
          maxClients = Math.max(maxClients, +p.cl_active);
        }
        expect((await completed(ids)).n).toBe(1500);
      },
      { timeoutMs: 45_000, intervalMs: 100 },
    );
    expect(await completed(ids)).toEqual({ n: 1500, d: 1500 });
    const [ledger] = await rows<{ n: number; d: number }>(
      db.current,
      'SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS d FROM ledger',
    );
    expect(ledger).toEqual({ n: 1500, d: 1500 });
    // Both workers took part, multiplexed over at most POOL_SIZE server connections.
    const pids = await rows<{ pid: number }>(db.current, 'SELECT DISTINCT pid FROM ledger');
    expect(pids.length).toBe(2);
    expect(maxServers).toBeLessThanOrEqual(POOL_SIZE);
    expect(maxClients).toBeGreaterThan(0);
    // Session state would outlive the transaction on the server connection: none may exist.
    const listening = await rows(
      db.current,
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`,
    );
    expect(listening).toEqual([]);
    const advisory = await rows(
      db.current,
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND database =
        (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(advisory).toEqual([]);
    for (const p of procs) {
      expect(fallbackWarnings(p.stderr)).toBeLessThanOrEqual(1);
      expect(preparedErrors(p.stderr)).toEqual([]);
    }
    // Two processes over four shared server connections always meet each other's names.
    expect(procs.map((p) => fallbackWarnings(p.stderr)).reduce((a, b) => a + b)).toBeGreaterThan(0);
    await stopAll(procs);
    console.log(`pgbouncer drain: ≤ ${maxServers} server connections for both workers`);
  });

  it('SIGKILL of a poll-only worker mid-drain: the other finishes, every job completed once', async () => {
    await reset();
    const ids = await enqueueLedger(db.current, 600, { sleepMs: 20 });
    const env = { ...pooled(), ...FAST, LISTEN: 'off', CONCURRENCY: '16' };
    const a = startWorker(db.current, env);
    const b = startWorker(db.current, env);
    await eventually(
      async () => {
        const [r] = await rows<{ n: number }>(
          db.current,
          'SELECT count(*)::int AS n FROM ledger WHERE pid = $1',
          [a.pid],
        );
        expect(r!.n).toBeGreaterThanOrEqual(50);
      },
      { timeoutMs: 20_000 },
    );
    a.kill('SIGKILL');
    await a.exited;
    await eventually(async () => expect((await completed(ids)).n).toBe(600), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect(await completed(ids)).toEqual({ n: 600, d: 600 });
    expect(await rows(db.current, 'SELECT id FROM sluice.job')).toEqual([]);
    // Each (job, attempt) ran once; a job ran twice only when the killed worker had started it.
    const [dups] = await rows<{ n: number }>(
      db.current,
      'SELECT count(*)::int AS n FROM (SELECT 1 FROM ledger GROUP BY job_id, attempt HAVING count(*) > 1) d',
    );
    expect(dups!.n).toBe(0);
    const reruns = await rows<{ job_id: string; pids: number[] }>(
      db.current,
      'SELECT job_id, array_agg(pid ORDER BY attempt) AS pids FROM ledger GROUP BY job_id HAVING count(*) > 1',
    );
    for (const r of reruns) expect(r.pids[0]).toBe(a.pid);
    await stopAll([b]);
    console.log(`pgbouncer crash: ${reruns.length} jobs re-run after the SIGKILL`);
  });

  it('listenUrl: LISTEN on a direct connection wakes a worker whose poll is 30 s away', async () => {
    await reset();
    const w = startWorker(db.current, {
      ...pooled(),
      LISTEN_URL: db.current.url,
      POLL_INTERVAL_MS: '30000',
    });
    await w.waitFor((e) => e.event === 'ready');
    // Enqueue notifies only queues a drained worker waits on.
    await eventually(async () =>
      expect((await rows(db.current, 'SELECT 1 FROM sluice.worker_waiting')).length).toBe(1),
    );
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const enqueuedAt = Date.now();
      const [id] = await enqueueLedger(db.current, 1);
      await w.waitFor((e) => e.event === 'job:completed' && e.id === id, 10_000);
      latencies.push(Date.now() - enqueuedAt);
      await eventually(async () =>
        expect((await rows(db.current, 'SELECT 1 FROM sluice.worker_waiting')).length).toBe(1),
      );
    }
    expect(Math.max(...latencies)).toBeLessThan(3000);
    // The LISTEN backend is a direct session, not one of the pooler's server connections.
    const listeners = await rows<{ pid: number }>(
      db.current,
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`,
    );
    expect(listeners.length).toBeGreaterThan(0);
    const pooledPids = await bouncer.serverPids(db.current.name);
    expect(pooledPids.size).toBeGreaterThan(0);
    for (const l of listeners) expect(pooledPids.has(l.pid)).toBe(false);
    await stopAll([w]);
    console.log(`listenUrl through pgbouncer: commit → completed ${latencies.join(', ')} ms`);
  });

  it('sluice work --listen-url: the CLI worker is woken over the direct connection', async () => {
    await reset();
    const dir = mkdtempSync(join(tmpdir(), 'sluice-topology-'));
    try {
      symlinkSync(
        fileURLToPath(new URL('../../node_modules', import.meta.url)),
        join(dir, 'node_modules'),
      );
      writeFileSync(join(dir, 'tasks.js'), TASKS_JS);
      const child = spawnCli(
        [
          'work',
          '--tasks',
          join(dir, 'tasks.js'),
          '--poll-interval-ms',
          '30000',
          '--listen-url',
          db.current.url,
        ],
        { databaseUrl: bouncer.urlFor(db.current.url) },
      );
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        await eventually(
          async () =>
            expect((await rows(db.current, 'SELECT 1 FROM sluice.worker_waiting')).length).toBe(1),
          { timeoutMs: 20_000 },
        );
        const enqueuedAt = Date.now();
        const ids = await enqueueLedger(db.current, 1);
        await eventually(async () => expect((await completed(ids)).n).toBe(1), {
          timeoutMs: 10_000,
        });
        expect(Date.now() - enqueuedAt).toBeLessThan(3000);
        const listeners = await rows<{ pid: number }>(
          db.current,
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`,
        );
        expect(listeners.length).toBeGreaterThan(0);
        const pooledPids = await bouncer.serverPids(db.current.name);
        for (const l of listeners) expect(pooledPids.has(l.pid)).toBe(false);
      } finally {
        child.kill('SIGTERM');
        expect(await exited, stderr).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
