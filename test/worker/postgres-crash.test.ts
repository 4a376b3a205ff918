// Crashes of the Postgres server itself in the middle of a drain: the postmaster and every backend
// are killed with SIGKILL (shared memory and unflushed WAL are lost, so asynchronously committed
// claims and completions vanish), then the server restarts with crash recovery. Workers commit
// with synchronous_commit = off, so a lost claim or finish must only mean a re-run: counted from
// a ledger that handlers write with durable commits.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTemplateDatabase,
  createTestDatabase,
  eventually,
  startEmbeddedPostgres,
  type RunningPostgres,
  type TestDatabase,
} from '@sluice/testkit';
import {
  assertNoWorkerOutlivesTest,
  createLedger,
  enqueueLedger,
  rows,
  startWorker,
  stopAll,
} from './harness.js';

assertNoWorkerOutlivesTest();

const dataDir = `${tmpdir()}/sluice-crash-pg-${process.pid}`;
let server: RunningPostgres | undefined;
let db: TestDatabase | undefined;

const startServer = (port?: number) =>
  startEmbeddedPostgres({ dataDir, port, isPersistent: true, flags: ['-c', 'fsync=off'] });

/** SIGKILLs the postmaster and all its children at once: a crash, not a shutdown. */
function crashServer(): number[] {
  const postmaster = Number(readFileSync(`${dataDir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
  const pids = [postmaster];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent pid (after the parenthesised command name).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return pids;
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  await db?.pool.end().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Postgres crashes during a drain', () => {
  it('after repeated kill -9 of the server, every job completes exactly once in history and none stays running', async () => {
    rmSync(dataDir, { recursive: true, force: true });
    server = await startServer();
    await createTemplateDatabase(server.url, 'crash_template');
    db = await createTestDatabase(server.url, 'crash_template');
    await createLedger(db);
    const total = 4000;
    const ids = await enqueueLedger(db, total, { sleepMs: 20 });
    const env = {
      POLL_INTERVAL_MS: '300',
      LEASE_MS: '3000',
      RESCUE_INTERVAL_MS: '500',
      RESCUE_BACKOFF_MS: '10',
      CONCURRENCY: '8',
    };
    const procs = [startWorker(db, env), startWorker(db, env)];
    const done = async () =>
      Number(
        (await rows<{ n: string }>(db!, 'SELECT count(*) AS n FROM sluice.job_history'))[0]!.n,
      );

    const crashes = 5;
    for (let i = 0; i < crashes; i++) {
      // Let the drain make progress, then crash at a random moment of it.
      const before = await done();
      await eventually(async () => expect(await done()).toBeGreaterThan(before + 50), {
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 600));
      await db.pool.end();
      const port = server.port;
      const killed = crashServer();
      await eventually(() => expect(killed.filter(isAlive)).toEqual([]), { timeoutMs: 10_000 });
      server = await startServer(port);
      db = { ...db, pool: new pg.Pool({ connectionString: db.url }) };
      db.pool.on('error', () => undefined);
    }

    await eventually(async () => expect(await done()).toBe(total), {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    expect(procs.map((p) => p.isRunning())).toEqual([true, true]);
    await stopAll(procs);
    expect((await Promise.all(procs.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0]);

    const [h] = await rows<{ n: string; d: string }>(
      db,
      `SELECT count(*) AS n, count(DISTINCT id) AS d FROM sluice.job_history
       WHERE id = ANY($1) AND state = 'completed'`,
      [ids],
    );
    expect(h).toEqual({ n: String(total), d: String(total) });
    const [left] = await rows<{ jobs: string; dead: string }>(
      db,
      `SELECT (SELECT count(*) FROM sluice.job) AS jobs, (SELECT count(*) FROM sluice.dead_letter) AS dead`,
    );
    expect(left).toEqual({ jobs: '0', dead: '0' });
    // Every job ran at least once; the completed attempt's ledger row exists. Re-runs are allowed
    // (at-least-once), and are reported so a regression that multiplies them shows.
    const [l] = await rows<{ ran: string; runs: string }>(
      db,
      `SELECT count(DISTINCT job_id) AS ran, count(*) AS runs FROM ledger WHERE job_id = ANY($1)`,
      [ids],
    );
    expect(l!.ran).toBe(String(total));
    const [missing] = await rows<{ n: string }>(
      db,
      `SELECT count(*) AS n FROM sluice.job_history h
       WHERE h.id = ANY($1) AND NOT EXISTS (
         SELECT 1 FROM ledger l WHERE l.job_id = h.id AND l.attempt = h.attempt)`,
      [ids],
    );
    expect(missing!.n).toBe('0');
    console.log(`${crashes} server crashes: ${total} jobs, ${Number(l!.runs) - total} re-runs`);
  }, 240_000);
});
