// Queues on two Postgres servers: the run's server (PostgreSQL 15 or embedded) and a second,
// embedded one started here. A router places each queue on one; writes, flows and workers follow.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createClusterRouter,
  createClusterWorkers,
  defineTask,
  flow,
  InvalidFlowError,
  migrate,
  type ClusterRouter,
} from 'sluice';
import { createQueue } from 'sluice/admin';
import { eventually, startEmbeddedPostgres, type RunningPostgres } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';

const db = useTestDatabase();
let second: RunningPostgres;
let secondUrl: string;
let router: ClusterRouter;
const dataDir = `${tmpdir()}/sluice-cluster-b-${process.pid}`;

const mail = defineTask({ name: 'mail', queue: 'mail', schema: z.object({ n: z.number() }) });
const report = defineTask({
  name: 'report',
  queue: 'reports',
  schema: z.object({ n: z.number() }),
});

async function one<T>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows as T[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  second = await startEmbeddedPostgres({ dataDir, flags: ['-c', 'fsync=off'] });
  secondUrl = second.url;
  await migrate({ db: secondUrl });
  await createQueue({ db: db.current.pool, name: 'mail' });
  const c = new pg.Client({ connectionString: secondUrl });
  await c.connect();
  await createQueue({ db: c, name: 'reports' });
  await c.end();
  router = createClusterRouter({
    clusters: { a: db.current.url, b: secondUrl },
    queues: { mail: 'a', reports: 'b' },
  });
}, 120_000);

afterAll(async () => {
  await router?.close();
  await second?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('queues on two clusters', () => {
  it('routes writes by queue, keeps a flow on one cluster, and runs each cluster with its own worker and leader', async () => {
    const m = await router.enqueue(mail, { n: 1 });
    const r = await router.enqueue(report, { n: 2 });
    expect([m.cluster, r.cluster]).toEqual(['a', 'b']);
    expect(await one(db.current.url, `SELECT task FROM sluice.job WHERE id = $1`, [m.id])).toEqual([
      { task: 'mail' },
    ]);
    expect(await one(secondUrl, `SELECT task FROM sluice.job WHERE id = $1`, [r.id])).toEqual([
      { task: 'report' },
    ]);
    const many = await router.enqueueMany([
      { task: report, payload: { n: 3 } },
      { task: mail, payload: { n: 4 } },
      { task: report, payload: { n: 5 } },
    ]);
    expect(many.map((j) => j.cluster)).toEqual(['b', 'a', 'b']);

    // A flow whose members live on both clusters is refused before anything is written.
    const across = flow();
    across.add(report, { n: 6 }, { dependsOn: [across.add(mail, { n: 7 })] });
    await expect(router.enqueueFlow(across)).rejects.toBeInstanceOf(InvalidFlowError);
    await expect(router.enqueueFlow(across)).rejects.toThrow(/a \(mail\) and b \(reports\)/);
    const within = flow();
    within.add(report, { n: 8 }, { dependsOn: [within.add(report, { n: 9 })] });
    const written = await router.enqueueFlow(within);
    expect(written.cluster).toBe('b');

    const ran: string[] = [];
    const workers = createClusterWorkers({
      router,
      tasks: [
        mail.handle(({ n }) => void ran.push(`mail ${n}`)),
        report.handle(({ n }) => void ran.push(`report ${n}`)),
      ],
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      pollIntervalMs: 200,
    });
    expect([...workers.workers.keys()]).toEqual(['a', 'b']);
    await workers.start();
    try {
      await eventually(() => expect(ran).toHaveLength(7));
      expect(ran.indexOf('report 9')).toBeLessThan(ran.indexOf('report 8'));
      // Each cluster elected its own worker as leader.
      await eventually(async () => {
        const [la] = await one<{ worker_id: string }>(
          db.current.url,
          `SELECT worker_id FROM sluice.leader`,
        );
        const [lb] = await one<{ worker_id: string }>(
          secondUrl,
          `SELECT worker_id FROM sluice.leader`,
        );
        expect(la?.worker_id).toBe(workers.workers.get('a')!.id);
        expect(lb?.worker_id).toBe(workers.workers.get('b')!.id);
      });
    } finally {
      await workers.stop({ graceMs: 1000 });
    }
    expect(() => router.clusterOf('nowhere')).toThrow(/on no cluster/);
    expect(() =>
      createClusterRouter({ clusters: { a: 'postgres://x' }, queues: { mail: 'z' } }),
    ).toThrow(/unknown cluster z/);
  }, 120_000);
});
