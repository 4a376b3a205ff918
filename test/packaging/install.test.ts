// What a user installs from npm works outside the monorepo: `pnpm pack` of every public package,
// installed into a fresh npm project; TypeScript (nodenext and bundler resolution, no
// skipLibCheck) compiles code importing all three faces and @sluice/dashboard; `npx sluice
// migrate` and `sluice work` run a job enqueued by the user's own script; no `workspace:` range
// leaks into a tarball.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const db = useTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'sluice-install-'));
const app = join(dir, 'app');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    return execFileSync(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 240_000,
    });
  } catch (err) {
    // The command's own output says what broke (tsc prints its errors on stdout).
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const TASKS = `
import { z } from 'zod';
import { defineTask } from 'sluice';
export const greet = defineTask({ name: 'greet', schema: z.object({ name: z.string() }) })
  .handle(({ name }) => ({ greeting: 'hello ' + name }));
`;

const TYPED = `
import pg from 'pg';
import { z } from 'zod';
import { defineTask, enqueue, createWorker, type WorkerOptions, type SluiceDatabase } from 'sluice';
import { listJobs, listQueueStats, type JobInfo } from 'sluice/admin';
import { assertEnqueued, drainQueue } from 'sluice/testing';
import { basicAuth, createDashboard, type DashboardHandler } from '@sluice/dashboard';

const task = defineTask({ name: 'typed', schema: z.object({ n: z.number() }) });
export async function main(pool: pg.Pool): Promise<JobInfo[]> {
  const { id } = await enqueue(task, { n: 1 }, { db: pool });
  const options: WorkerOptions = { db: 'postgres://x', tasks: [task.handle(({ n }) => n + 1)] };
  void createWorker;
  void options;
  await assertEnqueued({ db: pool, task, payload: { n: 1 } });
  await drainQueue({ db: pool, tasks: options.tasks });
  await listQueueStats({ db: pool });
  const row: SluiceDatabase['sluice.job'] | undefined = undefined;
  void row;
  void id;
  const dashboard: DashboardHandler = createDashboard({
    db: pool,
    authorize: basicAuth({ username: 'ops', password: 'pw' }),
  });
  const res: Response = await dashboard(new Request('http://127.0.0.1/'));
  void res;
  return listJobs({ db: pool, limit: 1 });
}
`;

describe('the packages a user installs', () => {
  it('pack, install into a fresh npm project, type-check and run a job', async () => {
    const packs = join(dir, 'packs');
    mkdirSync(packs);
    for (const pkg of ['sluice', 'cli', 'dashboard']) {
      run('pnpm', ['pack', '--pack-destination', packs], join(root, 'packages', pkg));
    }
    const tarballs = readdirSync(packs).map((f) => join(packs, f));
    expect(tarballs).toHaveLength(3);
    for (const t of tarballs) {
      const listing = run('tar', ['-tzf', t], dir);
      // Only what a user needs: no sources, tests, build info or Dockerfile.
      expect(listing).not.toMatch(/package\/(src|test)\/|tsbuildinfo|Dockerfile/);
      expect(listing).toMatch(/package\/LICENSE/);
      const manifest = run('tar', ['-xzOf', t, 'package/package.json'], dir);
      expect(manifest).not.toMatch(/workspace:/);
    }

    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    // Production-like: no optional dependencies (the embedded Postgres is not needed here).
    run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--omit=optional',
        ...tarballs,
        'pg@^8.16.0',
        'zod@^4.1.0',
        'typescript@~5.9.3',
        '@types/node@^20.19.0',
      ],
      app,
    );

    writeFileSync(join(app, 'typed.ts'), TYPED);
    for (const [module, resolution] of [
      ['nodenext', 'nodenext'],
      ['esnext', 'bundler'],
    ]) {
      const out = run(
        process.execPath,
        [
          join(app, 'node_modules/typescript/bin/tsc'),
          '--noEmit',
          '--strict',
          '--target',
          'es2022',
          '--module',
          module!,
          '--moduleResolution',
          resolution!,
          '--types',
          'node',
          'typed.ts',
        ],
        app,
      ).trim();
      expect(out).toBe('');
    }

    // A database of the app's own, migrated by the installed CLI.
    const appDb = `${db.current.url}_app`;
    const admin = new pg.Client({ connectionString: db.current.url });
    await admin.connect();
    const name = new URL(appDb).pathname.slice(1);
    await admin.query(`CREATE DATABASE "${name}"`);
    try {
      const env = { DATABASE_URL: appDb };
      expect(run('npx', ['--no-install', 'sluice', 'migrate'], app, env)).toMatch(
        /applied migrations .* to schema sluice/,
      );
      writeFileSync(join(app, 'tasks.js'), TASKS);
      writeFileSync(
        join(app, 'produce.js'),
        `import pg from 'pg';
         import { enqueue } from 'sluice';
         import { greet } from './tasks.js';
         const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
         const { id } = await enqueue(greet, { name: 'ada' }, { db: pool });
         console.log(id);
         await pool.end();`,
      );
      const id = run(process.execPath, ['produce.js'], app, env).trim();
      const worker = spawn(
        join(app, 'node_modules/.bin/sluice'),
        ['work', '--tasks', './tasks.js', '--queue', 'default'],
        { cwd: app, env: { ...process.env, ...env }, stdio: 'ignore' },
      );
      try {
        const check = new pg.Client({ connectionString: appDb });
        await check.connect();
        try {
          await eventually(
            async () => {
              const { rows } = await check.query(
                `SELECT state, result FROM sluice.job_history WHERE id = $1`,
                [id],
              );
              expect(rows).toEqual([{ state: 'completed', result: { greeting: 'hello ada' } }]);
            },
            { timeoutMs: 30_000 },
          );
        } finally {
          await check.end();
        }
      } finally {
        const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
        worker.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
      // Through npx, whose npm exits on SIGTERM without passing it on: the worker sees its
      // parent go and stops as on a signal, unregistering, instead of running on as an orphan.
      const viaNpx = spawn('npx', ['--no-install', 'sluice', 'work', '--tasks', './tasks.js'], {
        cwd: app,
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      const check = new pg.Client({ connectionString: appDb });
      await check.connect();
      try {
        const workers = async () =>
          (await check.query<{ id: string }>('SELECT id FROM sluice.worker')).rows;
        await eventually(async () => expect(await workers()).toHaveLength(1), {
          timeoutMs: 30_000,
        });
        viaNpx.kill('SIGTERM');
        await eventually(async () => expect(await workers()).toEqual([]), { timeoutMs: 15_000 });
        await eventually(() => {
          const left = run('ps', ['-eo', 'args'], app).split('\n');
          expect(left.filter((l) => l.includes(join(app, 'node_modules/.bin/sluice')))).toEqual([]);
        });
      } finally {
        await check.end();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  }, 300_000);
});
