import { tmpdir } from 'node:os';
import { rmSync } from 'node:fs';
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

// This test restarts its server, so it owns one: a second embedded Postgres on its own port.
const dataDir = `${tmpdir()}/sluice-restart-pg-${process.pid}`;
let server: RunningPostgres | undefined;
let db: TestDatabase | undefined;

async function startServer(port?: number) {
  return startEmbeddedPostgres({ dataDir, port, isPersistent: true, flags: ['-c', 'fsync=off'] });
}

afterAll(async () => {
  await db?.pool.end().catch(() => undefined);
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Postgres restarts under load', () => {
  it('no worker exits, processing resumes within 10 s, every job completes', async () => {
    rmSync(dataDir, { recursive: true, force: true });
    server = await startServer();
    await createTemplateDatabase(server.url, 'restart_template');
    db = await createTestDatabase(server.url, 'restart_template');
    await createLedger(db);
    const ids = await enqueueLedger(db, 3000, { sleepMs: 20 });
    const env = {
      POLL_INTERVAL_MS: '500',
      LEASE_MS: '5000',
      RESCUE_INTERVAL_MS: '1000',
      RESCUE_BACKOFF_MS: '10',
    };
    const procs = [
      startWorker(db, { ...env, CONCURRENCY: '8' }),
      startWorker(db, { ...env, CONCURRENCY: '8' }),
    ];
    const done = async () =>
      Number(
        (await rows<{ n: string }>(db!, 'SELECT count(*) AS n FROM sluice.job_history'))[0]!.n,
      );
    await eventually(async () => expect(await done()).toBeGreaterThan(300), { timeoutMs: 30_000 });

    await db.pool.end();
    const port = server.port;
    await server.stop();
    server = await startServer(port);
    const restartedAt = Date.now();
    db = { ...db, pool: new (await import('pg')).default.Pool({ connectionString: db.url }) };
    db.pool.on('error', () => undefined);

    const before = await done();
    await eventually(async () => expect(await done()).toBeGreaterThan(before), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    await eventually(async () => expect(await done()).toBe(3000), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    expect(procs.map((p) => p.isRunning())).toEqual([true, true]);
    const [h] = await rows<{ n: string }>(
      db,
      `SELECT count(DISTINCT id) AS n FROM sluice.job_history WHERE id = ANY($1)`,
      [ids],
    );
    expect(h!.n).toBe('3000');
    await stopAll(procs);
  });
});
