// `sluice work` as real processes on a test database: two workers drain the jobs of a tasks
// module, SIGTERM exits 0 with nothing left running, and a bad module fails with one line.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueueMany } from 'sluice';
import { createQueue } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, spawnCli } from './run-cli.js';

const db = useTestDatabase();

// The tasks module lives outside the repository, as a user's would; its imports of sluice, zod
// and pg resolve through a node_modules link to the workspace's.
const dir = mkdtempSync(join(tmpdir(), 'sluice-work-'));
symlinkSync(
  fileURLToPath(new URL('../../../node_modules', import.meta.url)),
  join(dir, 'node_modules'),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TASKS_JS = `
import pg from 'pg';
import { z } from 'zod';
import { defineTask } from 'sluice';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
const wait = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); });
});
const schema = z.object({ sleepMs: z.number() });
async function run(payload, ctx) {
  await pool.query('INSERT INTO work_ledger (job_id, attempt, pid) VALUES ($1, $2, $3)',
    [ctx.job.id, ctx.attempt, process.pid]);
  await wait(payload.sleepMs, ctx.signal);
  return { pid: process.pid };
}
export const taskA = defineTask({ name: 'work-a', queue: 'work-a', schema }).handle(run);
export const taskB = defineTask({ name: 'work-b', queue: 'work-b', schema }).handle(run);
// Not tasks with handlers: ignored.
export const unhandled = defineTask({ name: 'work-c', queue: 'work-b', schema });
export const answer = 42;
// The same task again through the default export is not a clash.
export default [taskA];
`;
const tasksFile = join(dir, 'tasks.js');
writeFileSync(tasksFile, TASKS_JS);

const payload = z.object({ sleepMs: z.number() });
const taskA = defineTask({ name: 'work-a', queue: 'work-a', schema: payload });
const taskB = defineTask({ name: 'work-b', queue: 'work-b', schema: payload });

const children: ChildProcess[] = [];

function startWork(...args: string[]) {
  const child = spawnCli(['work', '--tasks', tasksFile, ...args], {
    databaseUrl: db.current.url,
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, exited, stderr: () => stderr };
}

afterEach(() => {
  // A failed test must not leave workers behind.
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function count(text: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db.current.pool.query<{ n: number }>(text, values);
  return rows[0]?.n ?? -1;
}

describe('sluice work', () => {
  it('two worker processes run every job; SIGTERM exits 0 and leaves nothing running', async () => {
    const pool = db.current.pool;
    await pool.query('CREATE TABLE work_ledger (job_id bigint, attempt int, pid int)');
    await createQueue({ db: pool, name: 'work-a' });
    await createQueue({ db: pool, name: 'work-b' });
    const args = ['--concurrency', '4', '--poll-interval-ms', '200', '--grace-ms', '300'];
    const workers = [startWork(...args), startWork(...args)];
    // Both are up before the jobs arrive, so both take a share.
    await eventually(
      async () => expect(await count('SELECT count(*)::int AS n FROM sluice.worker')).toBe(2),
      { timeoutMs: 20_000 },
    );
    const jobs = Array.from({ length: 200 }, (_, i) => ({
      task: i % 2 === 0 ? taskA : taskB,
      payload: { sleepMs: 20 },
    }));
    await enqueueMany(jobs, { db: pool });
    await eventually(
      async () =>
        expect(
          await count(
            `SELECT count(*)::int AS n FROM sluice.job_history WHERE state = 'completed'`,
          ),
        ).toBe(200),
      { timeoutMs: 30_000 },
    );
    expect(await count('SELECT count(DISTINCT pid)::int AS n FROM work_ledger')).toBe(2);
    expect(await count('SELECT count(*)::int AS n FROM work_ledger')).toBe(200);
    const { rows: registered } = await pool.query<{ queues: string[] }>(
      'SELECT queues FROM sluice.worker',
    );
    expect(registered.map((r) => [...r.queues].sort())).toEqual([
      ['work-a', 'work-b'],
      ['work-a', 'work-b'],
    ]);

    // Jobs that outlast the grace period are aborted and released at shutdown.
    await enqueueMany(
      Array.from({ length: 6 }, () => ({ task: taskA, payload: { sleepMs: 30_000 } })),
      { db: pool },
    );
    await eventually(
      async () =>
        expect(
          await count(`SELECT count(*)::int AS n FROM sluice.job WHERE state = 'running'`),
        ).toBeGreaterThan(0),
      { timeoutMs: 10_000 },
    );
    workers.forEach((w) => w.child.kill('SIGTERM'));
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes).toEqual([0, 0]);
    expect(await count(`SELECT count(*)::int AS n FROM sluice.job WHERE state = 'running'`)).toBe(
      0,
    );
    expect(await count('SELECT count(*)::int AS n FROM sluice.job')).toBe(6);
    expect(await count('SELECT count(*)::int AS n FROM sluice.worker')).toBe(0);
    // Logs are JSON lines on stderr.
    const firstLine = workers[0]!.stderr().split('\n')[0]!;
    expect(JSON.parse(firstLine)).toMatchObject({ level: 'info', msg: 'worker started' });
  });

  it('a missing module or one without tasks fails with one line and exit 1', async () => {
    const none = join(dir, 'no-tasks.js');
    writeFileSync(none, 'export const answer = 42;\nexport default { name: "not-a-task" };\n');
    const broken = join(dir, 'broken.js');
    writeFileSync(broken, 'throw new Error("boom at import");\n');
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.js'), /^sluice: tasks module not found: .*missing\.js\n$/],
      [none, /^sluice: tasks module .*no-tasks\.js exports no task with a handler/],
      [broken, /^sluice: cannot load tasks module .*broken\.js: boom at import\n$/],
    ];
    for (const [file, message] of cases) {
      const r = await runCli(['work', '--tasks', file], { databaseUrl: db.current.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    const bad = await runCli(['work', '--tasks', tasksFile, '--queue', 'no spaces'], {
      databaseUrl: db.current.url,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^sluice: option '--queue <name>' argument 'no spaces' is invalid/);
  });

  it('--metrics-port serves /metrics beside the worker, and stops with it', async () => {
    const pool = db.current.pool;
    await createQueue({ db: pool, name: 'work-a' });
    await enqueueMany([{ task: taskA, payload: { sleepMs: 1 } }], { db: pool });
    const w = startWork('--queue', 'work-a', '--metrics-port', '0', '--poll-interval-ms', '200');
    let port = 0;
    await eventually(
      () => {
        const line = w
          .stderr()
          .split('\n')
          .find((l) => l.includes('metrics on /metrics'));
        port = line ? (JSON.parse(line) as { port: number }).port : 0;
        expect(port).toBeGreaterThan(0);
      },
      { timeoutMs: 20_000 },
    );
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^sluice_jobs_completed_total\{queue="work-a",task="work-a"\} 1$/m);
      expect(text).toMatch(/^sluice_queue_jobs\{queue="work-a",state="ready"\} 0$/m);
    });
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
