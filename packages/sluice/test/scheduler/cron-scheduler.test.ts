import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { InvalidOptionsError, schedule, type Logger } from 'sluice';
import { CronScheduler, type CronSchedulerConfig, type ScheduleFiredEvent } from 'sluice/admin';
import { useTestDatabase } from '../../../../test/setup/db.js';

const db = useTestDatabase();

function quietLogger(lines: string[] = []): Logger {
  const log = (_obj: object, msg?: string) => void lines.push(msg ?? '');
  return { debug: log, info: log, warn: log, error: log };
}

const started: { scheduler: CronScheduler; pool?: pg.Pool }[] = [];

function makeScheduler(config: CronSchedulerConfig = {}, pool?: pg.Pool, lines?: string[]) {
  const scheduler = new CronScheduler(
    { pool: pool ?? db.current.pool, schema: 'sluice', logger: quietLogger(lines) },
    config,
  );
  started.push({ scheduler, pool });
  return scheduler;
}

afterEach(async () => {
  // No scheduler outlives its test.
  for (const { scheduler, pool } of started.splice(0)) {
    await scheduler.stop();
    expect(scheduler.isRunning).toBe(false);
    await pool?.end();
  }
});

async function jobsOf(name: string) {
  const { rows } = await db.current.pool.query<{ unique_key: string; run_at: Date }>(
    `SELECT unique_key, run_at FROM sluice.job WHERE unique_key LIKE $1 ORDER BY run_at`,
    [`schedule:${name}:%`],
  );
  return rows;
}

describe('CronScheduler', () => {
  it('5 instances with their own pools on an every-second schedule: one job per tick, no gaps', async () => {
    await schedule({
      db: db.current.pool,
      name: 'every-second',
      cron: '* * * * * *',
      task: 'tick',
    });
    const fired: ScheduleFiredEvent[] = [];
    let lost = 0;
    const schedulers = Array.from({ length: 5 }, (_, i) => {
      const pool = new pg.Pool({ connectionString: db.current.url, max: 2 });
      // Different intervals keep the instances out of phase, so they collide on ticks.
      const s = makeScheduler({ tickIntervalMs: 150 + 50 * i }, pool);
      s.on('fired', (e) => fired.push(e));
      s.on('pass', (p) => (lost += p.lost));
      return s;
    });
    await Promise.all(schedulers.map((s) => s.start()));
    await eventually(
      async () => expect((await jobsOf('every-second')).length).toBeGreaterThanOrEqual(8),
      {
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    );
    await Promise.all(schedulers.map((s) => s.stop()));

    const jobs = await jobsOf('every-second');
    const ticks = jobs.map((j) => j.run_at.getTime());
    expect(new Set(jobs.map((j) => j.unique_key)).size).toBe(jobs.length);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(1000);
    expect(jobs.map((j) => j.unique_key)).toEqual(
      ticks.map((t) => `schedule:every-second:${new Date(t).toISOString()}`),
    );
    // The compare-and-set alone gave each tick to one instance: the unique key (a second guard)
    // never had to reject a duplicate.
    const firedTicks = fired.flatMap((e) => e.ticks.map((t) => t.getTime()));
    expect(firedTicks.sort((a, b) => a - b)).toEqual(ticks);
    expect(fired.flatMap((e) => e.jobIds)).toHaveLength(jobs.length);
    const winners = new Set(fired.map((e) => e.schedule));
    expect(winners).toEqual(new Set(['every-second']));
    console.log(`every-second: ${jobs.length} ticks, ${lost} compare-and-set losses`);
  });

  it('inserts a tick’s job leadMs before the tick, due at the tick; leadMs 0 at the tick', async () => {
    await db.current.pool.query('DELETE FROM sluice.schedule');
    for (const [name, leadMs] of [
      ['lead-500', 500],
      ['lead-0', 0],
    ] as const) {
      await schedule({ db: db.current.pool, name, cron: '* * * * * *', task: 'tick' });
      const scheduler = makeScheduler({ leadMs });
      await scheduler.start();
      await eventually(async () => expect((await jobsOf(name)).length).toBeGreaterThanOrEqual(3), {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      await scheduler.stop();
      await db.current.pool.query('UPDATE sluice.schedule SET is_enabled = false');
    }
    const { rows } = await db.current.pool.query<{ unique_key: string; ahead_ms: number }>(
      `SELECT unique_key, extract(epoch FROM run_at - created_at)::float8 * 1000 AS ahead_ms
       FROM sluice.job WHERE unique_key LIKE 'schedule:lead-%' ORDER BY run_at`,
    );
    const ahead = (name: string) =>
      rows.filter((r) => r.unique_key.startsWith(`schedule:${name}:`)).map((r) => r.ahead_ms);
    // The first tick of each may be inserted late (the schedule was created inside its lead).
    for (const ms of ahead('lead-500').slice(1)) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(500);
    }
    for (const ms of ahead('lead-0')) expect(ms).toBeLessThanOrEqual(0);
  });

  describe('missed ticks: next_run_at set 5 minutes in the past on a minutely schedule', () => {
    async function missed(
      name: string,
      policy: 'run_once' | 'run_all' | 'skip',
      config: CronSchedulerConfig,
      maxCatchUp = 10,
    ) {
      await schedule({
        db: db.current.pool,
        name,
        cron: '* * * * *',
        task: 'tick',
        missedPolicy: policy,
        maxCatchUp,
      });
      await db.current.pool.query(
        `UPDATE sluice.schedule SET next_run_at = now() - interval '5 minutes' WHERE name = $1`,
        [name],
      );
      const summary = await makeScheduler(config).runOnce();
      const { rows } = await db.current.pool.query<{ ok: boolean }>(
        `SELECT next_run_at > now() AND next_run_at <= now() + interval '61 seconds'
           AND date_trunc('minute', next_run_at) = next_run_at AS ok
         FROM sluice.schedule WHERE name = $1`,
        [name],
      );
      expect(rows[0]!.ok).toBe(true);
      return { summary, jobs: await jobsOf(name) };
    }

    it('run_once (the default): one job now, then the next future tick', async () => {
      const { jobs } = await missed('once', 'run_once', { misfireGraceMs: 0 });
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.run_at.getTime()).toBeGreaterThan(Date.now() - 61_000);
    });

    it('run_all: one job per missed tick (6: the stored one and 5 minute marks), capped by maxCatchUp', async () => {
      expect((await missed('all', 'run_all', { misfireGraceMs: 0 })).jobs).toHaveLength(6);
      const capped = await missed('all-capped', 'run_all', { misfireGraceMs: 0 }, 3);
      expect(capped.jobs).toHaveLength(3);
      // The newest ones.
      expect(capped.jobs.at(-1)!.run_at.getTime()).toBeGreaterThan(Date.now() - 61_000);
    });

    it('skip: no job for missed ticks (with the default grace, the current minute still runs)', async () => {
      expect((await missed('skip', 'skip', { misfireGraceMs: 0 })).jobs).toHaveLength(0);
      expect((await missed('skip-grace', 'skip', {})).jobs).toHaveLength(1);
    });
  });

  it('disabled schedules do nothing', async () => {
    // Earlier tests' schedules come due at minute marks: only this one may be in the table.
    await db.current.pool.query('DELETE FROM sluice.schedule');
    await schedule({
      db: db.current.pool,
      name: 'off',
      cron: '* * * * * *',
      task: 'tick',
      isEnabled: false,
    });
    await db.current.pool.query(
      `UPDATE sluice.schedule SET next_run_at = now() - interval '5 minutes' WHERE name = 'off'`,
    );
    const summary = await makeScheduler().runOnce();
    expect(summary.due).toBe(0);
    expect(await jobsOf('off')).toHaveLength(0);
  });

  it('fills in a NULL next_run_at and survives a hand-written invalid cron row', async () => {
    await db.current.pool.query(
      `INSERT INTO sluice.schedule (name, cron, task, queue) VALUES
         ('by-sql', '*/5 * * * *', 'tick', 'default'),
         ('broken', 'not a cron', 'tick', 'default')`,
    );
    const lines: string[] = [];
    const scheduler = makeScheduler({}, undefined, lines);
    await scheduler.runOnce();
    await scheduler.runOnce();
    const { rows } = await db.current.pool.query<{ name: string; is_set: boolean }>(
      `SELECT name, next_run_at > now() AS is_set FROM sluice.schedule WHERE name IN ('by-sql', 'broken') ORDER BY name`,
    );
    expect(rows).toEqual([
      { name: 'broken', is_set: null },
      { name: 'by-sql', is_set: true },
    ]);
    // Reported once, not on every pass.
    expect(lines.filter((l) => l.includes('cannot be computed'))).toHaveLength(1);
    await db.current.pool.query(`DELETE FROM sluice.schedule WHERE name = 'broken'`);
  });

  it('keeps running through database errors and reports them', async () => {
    // A schema with no Sluice tables in it: every pass fails.
    await db.current.pool.query('CREATE SCHEMA broken_sched');
    const errors: Error[] = [];
    const broken = new CronScheduler(
      { pool: db.current.pool, schema: 'broken_sched', logger: quietLogger() },
      { tickIntervalMs: 20, maxBackoffMs: 50 },
    );
    started.push({ scheduler: broken });
    broken.on('error', (e) => errors.push(e));
    await broken.start();
    await eventually(() => expect(errors.length).toBeGreaterThanOrEqual(2));
    expect(broken.isRunning).toBe(true);
    expect(errors[0]!.message).toMatch(/broken_sched\.schedule/);
  });

  it('rejects invalid config with InvalidOptionsError', () => {
    expect(() => makeScheduler({ tickIntervalMs: 0 })).toThrow(InvalidOptionsError);
    // @ts-expect-error unknown key
    expect(() => makeScheduler({ tickMs: 5 })).toThrow(InvalidOptionsError);
  });
});
