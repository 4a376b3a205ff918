// Five scheduler processes, each with its own pool, race for the same every-second schedule for
// 30 seconds. The compare-and-set on next_run_at must give every tick exactly one job: no
// duplicate, no gap, and no tick advanced past without its job.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { schedule } from 'sluice';
import { eventually, spawnNode } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';
import { assertNoWorkerOutlivesTest, rows } from '../worker/harness.js';

const schedulerScript = fileURLToPath(new URL('../fixtures/scheduler.mjs', import.meta.url));
const NAME = 'every-second';
const PREFIX = `schedule:${NAME}:`;
const SECONDS = 30;

const db = useTestDatabase();
assertNoWorkerOutlivesTest();

async function tickJobs() {
  return rows<{ id: string; unique_key: string; run_at: Date }>(
    db.current,
    `SELECT id::text, unique_key, run_at FROM sluice.job WHERE unique_key LIKE $1 ORDER BY run_at`,
    [`${PREFIX}%`],
  );
}

it(
  `5 scheduler processes on a * * * * * * schedule for ${SECONDS} s: exactly one job per tick`,
  async () => {
    const procs = Array.from({ length: 5 }, () =>
      spawnNode(schedulerScript, {
        DATABASE_URL: db.current.url,
        TICK_INTERVAL_MS: '200',
        SLUICE_LOG_LEVEL: 'warn',
      }),
    );
    await Promise.all(procs.map((p) => p.waitFor((e) => e.event === 'ready')));
    // Created once all five poll, so every tick is contested from the first one on.
    const created = await schedule({
      db: db.current.pool,
      name: NAME,
      cron: '* * * * * *',
      task: 'tick',
    });

    await eventually(
      async () => expect((await tickJobs()).length).toBeGreaterThanOrEqual(SECONDS),
      {
        timeoutMs: (SECONDS + 20) * 1000,
        intervalMs: 500,
      },
    );
    procs.forEach((p) => p.kill('SIGTERM'));
    const exits = await Promise.all(procs.map((p) => p.exited));
    expect(exits).toEqual(procs.map(() => ({ code: 0, signal: null })));
    for (const p of procs) {
      expect(p.events.some((e) => e.event === 'stopped')).toBe(true);
      expect(p.events.filter((e) => e.event === 'error')).toEqual([]);
    }

    const jobs = await tickJobs();
    const ticks = jobs.map((j) => j.unique_key.slice(PREFIX.length));
    expect(new Set(ticks).size).toBe(jobs.length);
    // Each job runs at its tick; ticks are consecutive seconds from the first one on.
    jobs.forEach((j, i) => {
      expect(j.run_at.toISOString()).toBe(ticks[i]);
      expect(j.run_at.getTime()).toBe(created.nextRunAt!.getTime() + i * 1000);
    });
    // The schedule stopped right after the last job: no tick was advanced past without its job.
    const [after] = await rows<{ next_run_at: Date }>(
      db.current,
      `SELECT next_run_at FROM sluice.schedule WHERE name = $1`,
      [NAME],
    );
    expect(after!.next_run_at.getTime()).toBe(jobs.at(-1)!.run_at.getTime() + 1000);

    // The processes' own reports agree: each tick fired once, by one process, and several
    // processes won some (the ticks really were contested).
    const fired = procs.flatMap((p) =>
      p.events
        .filter((e) => e.event === 'fired' && e.schedule === NAME)
        .flatMap((e) => (e.ticks as string[]).map((tick) => ({ tick, pid: p.pid }))),
    );
    expect(fired.map((f) => f.tick).sort()).toEqual([...ticks].sort());
    expect(new Set(fired.map((f) => f.pid)).size).toBeGreaterThan(1);
  },
  (SECONDS + 60) * 1000,
);
