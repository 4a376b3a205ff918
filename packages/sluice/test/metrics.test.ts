// Prometheus metrics through real Postgres: queue gauges read at scrape time, and a worker's
// counters and histograms fed by its events. No job id ever becomes a label.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Registry } from 'prom-client';
import { createClusterRouter, createWorker, defineTask, enqueue, type Worker } from 'sluice';
import { createQueue, pauseQueue } from 'sluice/admin';
import { createMetrics } from 'sluice/metrics';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const other = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 500 })));
});

/** The value of one sample line, e.g. value(text, 'sluice_queue_dead_letters{queue="mail"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

const ok = defineTask({ name: 'ok', queue: 'mail', schema: z.object({ n: z.number() }) });
const report = defineTask({
  name: 'report',
  queue: 'reports',
  schema: z.object({ n: z.number() }),
});
const bad = defineTask({
  name: 'bad',
  queue: 'mail',
  schema: z.object({}),
  maxAttempts: 2,
  retry: { kind: 'fixed', delayMs: 10 },
});

describe('metrics', () => {
  it("over several clusters: each cluster's gauges carry its name, and one down is up 0", async () => {
    await createQueue({ db: other.current.pool, name: 'mail' });
    await enqueue(ok, { n: 1 }, { db: other.current.pool });
    const router = createClusterRouter({
      clusters: {
        a: db.current.url,
        b: other.current.url,
        down: 'postgres://nobody@127.0.0.1:1/x',
      },
      queues: { mail: 'b' },
      defaultCluster: 'a',
    });
    try {
      const errors: unknown[] = [];
      const metrics = await createMetrics({
        clusters: router.targets(),
        onError: (e) => errors.push(e),
      });
      const text = await metrics.text();
      expect(value(text, 'sluice_queue_jobs{cluster="b",queue="mail",state="ready"}')).toBe(1);
      expect(value(text, 'sluice_queue_stats_up{cluster="a"}')).toBe(1);
      expect(value(text, 'sluice_queue_stats_up{cluster="b"}')).toBe(1);
      expect(value(text, 'sluice_queue_stats_up{cluster="down"}')).toBe(0);
      expect(errors).toHaveLength(1);
      await expect(
        createMetrics({ target: { db: db.current.pool }, clusters: router.targets() }),
      ).rejects.toThrow(/not both/);
    } finally {
      await router.close();
    }
  });

  it('queue gauges come from the database at scrape time', async () => {
    const { pool } = db.current;
    await createQueue({ db: pool, name: 'reports' });
    for (let n = 0; n < 3; n++) await enqueue(report, { n }, { db: pool });
    await enqueue(report, { n: 9 }, { db: pool, runAt: new Date(Date.now() + 3_600_000) });
    const metrics = await createMetrics({ target: { db: pool } });
    let text = await metrics.text();
    expect(value(text, 'sluice_queue_jobs{queue="reports",state="ready"}')).toBe(3);
    expect(value(text, 'sluice_queue_jobs{queue="reports",state="scheduled"}')).toBe(1);
    expect(value(text, 'sluice_queue_jobs{queue="reports",state="running"}')).toBe(0);
    expect(value(text, 'sluice_queue_dead_letters{queue="reports"}')).toBe(0);
    expect(value(text, 'sluice_queue_paused{queue="reports"}')).toBe(0);
    expect(value(text, 'sluice_queue_oldest_ready_age_seconds{queue="reports"}')).toBeGreaterThan(
      0,
    );
    expect(value(text, 'sluice_queue_stats_up')).toBe(1);
    await pauseQueue({ db: pool, name: 'reports' });
    await new Promise((r) => setTimeout(r, 600)); // past the memo of one scrape's read
    text = await metrics.text();
    expect(value(text, 'sluice_queue_paused{queue="reports"}')).toBe(1);
    expect(metrics.contentType).toMatch(/^text\/plain/);
  });

  it('a failed read reports up 0 and no stale queue samples', async () => {
    const errors: unknown[] = [];
    const metrics = await createMetrics({
      target: { db: db.current.pool, schema: 'no_such_schema' },
      onError: (err) => errors.push(err),
    });
    const text = await metrics.text();
    expect(value(text, 'sluice_queue_stats_up')).toBe(0);
    expect(text).not.toMatch(/^sluice_queue_jobs\{/m);
    expect(errors.length).toBeGreaterThan(0);
  });

  it("counts a worker's outcomes per queue and task, with run and wait histograms", async () => {
    const { pool } = db.current;
    await createQueue({ db: pool, name: 'mail' });
    const registry = new Registry();
    const metrics = await createMetrics({ registry, prefix: 'app_sluice_' });
    expect(metrics.registry).toBe(registry);
    const worker = createWorker({
      db: db.current.url,
      logger: quiet,
      pollIntervalMs: 100,
      tasks: [
        ok.handle(() => new Promise((r) => setTimeout(r, 20))),
        bad.handle(() => {
          throw new Error('always');
        }),
      ],
    });
    workers.push(worker);
    const stop = metrics.observe(worker);
    const ids: string[] = [];
    for (let n = 0; n < 4; n++) ids.push((await enqueue(ok, { n }, { db: pool })).id);
    ids.push((await enqueue(bad, {}, { db: pool })).id);
    await worker.start();
    let text = '';
    await eventually(async () => {
      text = await metrics.text();
      expect(value(text, 'app_sluice_jobs_completed_total{queue="mail",task="ok"}')).toBe(4);
      expect(value(text, 'app_sluice_jobs_dead_total{queue="mail",task="bad"}')).toBe(1);
    });
    expect(value(text, 'app_sluice_job_attempts_failed_total{queue="mail",task="bad"}')).toBe(2);
    expect(value(text, 'app_sluice_jobs_retried_total{queue="mail",task="bad"}')).toBe(1);
    expect(value(text, 'app_sluice_job_run_seconds_count{queue="mail",task="ok"}')).toBe(4);
    expect(value(text, 'app_sluice_job_run_seconds_sum{queue="mail",task="ok"}')).toBeGreaterThan(
      0.07,
    );
    expect(value(text, 'app_sluice_job_wait_seconds_count{queue="mail",task="ok"}')).toBe(4);
    expect(value(text, 'app_sluice_job_wait_seconds_count{queue="mail",task="bad"}')).toBe(2);
    await eventually(async () =>
      expect(value(await metrics.text(), 'app_sluice_worker_is_leader')).toBe(1),
    );
    expect(value(text, 'app_sluice_worker_jobs_in_flight')).toBe(0);
    // No queue gauges without a target, and never a job id in a label.
    expect(text).not.toContain('app_sluice_queue_jobs{');
    const labels = [...text.matchAll(/[{,]([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]);
    expect(new Set(labels.map(([name]) => name))).toEqual(new Set(['queue', 'task', 'le']));
    expect(labels.filter(([name, v]) => name !== 'le' && ids.includes(v!))).toEqual([]);
    // After stop(), the worker's events count no more.
    stop();
    await enqueue(ok, { n: 5 }, { db: pool });
    await eventually(async () => {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM sluice.job_history`);
      expect(rows[0].n).toBe(5);
    });
    text = await metrics.text();
    expect(value(text, 'app_sluice_jobs_completed_total{queue="mail",task="ok"}')).toBe(4);
  });
});
