// Queues on two Postgres servers: the run's server (PostgreSQL 15 or embedded) and a second,
// embedded one started here. A router places each queue on one; writes, flows and workers follow.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { eventually, freePort, startEmbeddedPostgres, type RunningPostgres } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';
import { runCli, spawnCli } from '../../packages/cli/test/run-cli.js';

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

describe('the CLI with --clusters', () => {
  let dir: string;
  let file: string;
  const cli = (...args: string[]) => runCli(['--clusters', file, ...args], { databaseUrl: null });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-clusters-cli-'));
    file = join(dir, 'clusters.json');
    writeFileSync(
      file,
      JSON.stringify({
        clusters: { a: db.current.url, b: secondUrl },
        queues: { mail: 'a', reports: 'b' },
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every cluster, routes by queue, and asks for --cluster where ids are per cluster', async () => {
    const migrated = await cli('migrate');
    expect(migrated.stdout).toMatch(/up to date .* on cluster a\n.*up to date .* on cluster b/);
    const queues = await cli('queue', 'list', '--json');
    expect(queues.code).toBe(0);
    const listed = (JSON.parse(queues.stdout) as { cluster: string; name: string }[]).map(
      (q) => `${q.cluster}:${q.name}`,
    );
    expect(listed).toContain('a:mail');
    expect(listed).toContain('b:reports');
    expect(listed).not.toContain('a:reports');
    expect((await cli('queue', 'list')).stdout).toMatch(/^CLUSTER +QUEUE/);

    // A queue's command goes to its cluster.
    expect((await cli('queue', 'pause', 'reports')).code).toBe(0);
    expect(
      await one(secondUrl, `SELECT is_paused FROM sluice.queue WHERE name = 'reports'`),
    ).toEqual([{ is_paused: true }]);
    expect((await cli('queue', 'resume', 'reports')).code).toBe(0);

    // A job id needs its cluster.
    const job = await router.enqueue(report, { n: 42 });
    const ambiguous = await cli('jobs', 'show', job.id);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/give --cluster \(one of a, b\)/);
    const shown = await cli('--cluster', 'b', 'jobs', 'show', job.id, '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: job.id, queue: 'reports' });
    const unknown = await cli('--cluster', 'c', 'stats');
    expect(unknown.stderr).toMatch(/unknown cluster c/);

    const stats = JSON.parse((await cli('stats', '--json')).stdout) as {
      cluster: string;
      queue: string;
      ready: number;
    }[];
    expect(stats.find((r) => r.cluster === 'b' && r.queue === 'reports')?.ready).toBeGreaterThan(0);
    const doctor = JSON.parse((await cli('doctor', '--json')).stdout) as { cluster: string }[];
    expect(doctor.map((r) => r.cluster)).toEqual(['a', 'b']);
    const both = await runCli(['--clusters', file, '--database-url', db.current.url, 'stats'], {
      databaseUrl: null,
    });
    expect(both.stderr).toMatch(/not both/);
  }, 60_000);

  it("sluice work runs a worker on each cluster its tasks' queues live on", async () => {
    const taskDir = mkdtempSync(join(dir, 'tasks-'));
    symlinkSync(
      fileURLToPath(new URL('../../node_modules', import.meta.url)),
      join(taskDir, 'node_modules'),
    );
    writeFileSync(
      join(taskDir, 'tasks.mjs'),
      `import { defineTask } from 'sluice';
       import { z } from 'zod';
       export const mail = defineTask({ name: 'mail', queue: 'mail', schema: z.object({ n: z.number() }) }).handle(() => 'sent');
       export const report = defineTask({ name: 'report', queue: 'reports', schema: z.object({ n: z.number() }) }).handle(() => 'built');\n`,
    );
    const m = await router.enqueue(mail, { n: 100 });
    const r = await router.enqueue(report, { n: 101 });
    const child = spawnCli(
      [
        '--clusters',
        file,
        'work',
        '--tasks',
        join(taskDir, 'tasks.mjs'),
        '--poll-interval-ms',
        '200',
      ],
      { databaseUrl: null },
    );
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout?.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await eventually(
        async () => {
          expect(
            await one(db.current.url, `SELECT result FROM sluice.job_history WHERE id = $1`, [
              m.id,
            ]),
          ).toEqual([{ result: 'sent' }]);
          expect(
            await one(secondUrl, `SELECT result FROM sluice.job_history WHERE id = $1`, [r.id]),
          ).toEqual([{ result: 'built' }]);
        },
        { timeoutMs: 20_000 },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${stderr}`);
      });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  }, 60_000);

  it('sluice dashboard serves every cluster, with its metrics', async () => {
    const port = await freePort();
    const child = spawnCli(['--clusters', file, 'dashboard', '--port', String(port)], {
      databaseUrl: null,
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!.replace(/\/$/, ''));
        });
        child.once('close', (code) => reject(new Error(`dashboard exited ${code}`)));
      });
      const bulk = await (await fetch(`${url}/clusters/b/`)).text();
      expect(bulk).toContain('/clusters/b/queues/reports');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('sluice_queue_stats_up{cluster="a"} 1');
      expect(metrics).toContain('sluice_queue_stats_up{cluster="b"} 1');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  }, 60_000);
});
