// Dashboard pages on big tables: seeds 1,000,000 jobs in history (7 days), 100,000 pending and
// 10,000 dead letters into a database of its own, then times every page through the Fetch
// handler (median and max of 7 runs after a warm-up; target: under 300 ms each) and prints the
// plan of the heaviest statements. Standalone (not part of `pnpm bench`); needs `pnpm build`.
//   node scripts/bench/dashboard.mjs            # $DATABASE_URL's server, default 127.0.0.1:5432
//   HISTORY=200000 node scripts/bench/dashboard.mjs   (KEEP=1 keeps the database)
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from 'sluice';
import { countFinishedPerMinute, createQueue, listQueueCounts, listQueueStats } from 'sluice/admin';

const root = new URL('../../', import.meta.url);
const { createDashboard } = await import(new URL('packages/dashboard/dist/index.js', root).href);

const HISTORY = Number(process.env.HISTORY ?? 1_000_000);
const PENDING = Number(process.env.PENDING ?? 100_000);
const DEAD = Number(process.env.DEAD ?? 10_000);
const RUNS = 7;
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `sluice_bench_dashboard_${process.pid}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
pool.on('error', () => undefined);

const step = async (label, fn) => {
  const t = performance.now();
  const out = await fn();
  console.log(`${label}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return out;
};

try {
  await migrate({ db: pool });
  for (const name of ['mail', 'billing', 'reports']) await createQueue({ db: pool, name });
  await pool.query(
    `SELECT sluice.create_history_partitions((now() - interval '8 days')::date, 10)`,
  );
  const queues = `(ARRAY['mail','billing','reports','default'])[1 + (g % 4)]`;
  const tasks = `(ARRAY['send-email','charge-card','build-report','resize-image','rare-task'])[1 + least(4, (g / 7) % 97)]`;
  await step(`seed ${HISTORY} history rows`, () =>
    pool.query(`
      INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
        max_attempts, unique_key, created_at, started_at, finished_at, result)
      SELECT nextval('sluice.job_id_seq'), ${queues}, ${tasks}, '{"to": "someone@example.com"}',
        CASE WHEN g % 50 = 0 THEN 'cancelled' ELSE 'completed' END, 0, t, 1, 25,
        CASE WHEN g % 10 = 0 THEN 'key-' || g END, t, t, t + interval '80 ms', '{"ok": true}'
      FROM generate_series(1, ${HISTORY}) g,
        LATERAL (SELECT now() - interval '7 days' * (1 - g::float8 / ${HISTORY}) AS t) x`),
  );
  await step(`seed ${PENDING} pending`, () =>
    pool.query(`
      INSERT INTO sluice.job (id, queue, task, payload, run_at, created_at)
      SELECT nextval('sluice.job_id_seq'), ${queues}, ${tasks}, '{"to": "someone@example.com"}',
        now() - interval '1 minute' + (g % 3) * interval '1 hour', now()
      FROM generate_series(1, ${PENDING}) g`),
  );
  await step(`seed ${DEAD} dead letters`, () =>
    pool.query(`
      INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
        max_attempts, reason, created_at, failed_at, errors)
      SELECT nextval('sluice.job_id_seq'), ${queues}, ${tasks}, '{}', 0, now(), 25, 25,
        'attempts_exhausted', now() - g * interval '1 minute', now() - g * interval '1 minute',
        '[{"attempt": 25, "name": "Error", "message": "SMTP timeout", "stack": "Error: SMTP timeout\\n    at send (mail.js:1:1)"}]'
      FROM generate_series(1, ${DEAD}) g`),
  );
  // VACUUM as autovacuum would (it is off on some CI servers): it also summarizes the BRIN
  // ranges of job_history; unsummarized ranges always match, so without it the last hour's
  // statements read the whole day partition.
  await step('vacuum analyze', () => pool.query('VACUUM ANALYZE'));

  const ids = (
    await pool.query(`
      SELECT (SELECT max(id) FROM sluice.job_history)::text AS history,
             (SELECT min(id) + ${Math.floor(HISTORY / 2)} FROM sluice.job_history)::text AS mid,
             (SELECT max(id) FROM sluice.job)::text AS pending,
             (SELECT max(id) FROM sluice.dead_letter)::text AS dead`)
  ).rows[0];
  const dashboard = createDashboard({ db: pool });
  const pages = [
    '/',
    '/queues/mail',
    '/queues/mail?state=pending',
    '/queues/mail?state=completed',
    '/queues/mail?state=dead',
    `/queues/mail?before=${ids.mid}`,
    '/queues/mail?task=charge-card',
    '/queues/mail?unique_key=key-40',
    `/jobs/${ids.history}`,
    `/jobs/${ids.mid}`,
    `/jobs/${ids.pending}`,
    `/jobs/${ids.dead}`,
    '/dead-letters',
    '/dead-letters?queue=mail&task=send-email',
    '/schedules',
    '/workers',
    '/audit',
  ];
  console.log(
    `\n${'page'.padEnd(44)} ${'status'.padStart(6)} ${'median'.padStart(9)} ${'max'.padStart(9)}`,
  );
  for (const path of pages) {
    const times = [];
    let status = 0;
    for (let i = 0; i <= RUNS; i++) {
      const t = performance.now();
      const res = await dashboard(new Request(`http://127.0.0.1${path}`));
      await res.text();
      status = res.status;
      if (i > 0) times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const max = times.at(-1);
    const flag = max > 300 ? '  > 300 ms' : '';
    console.log(
      `${path.padEnd(44)} ${String(status).padStart(6)} ${median.toFixed(1).padStart(6)} ms ${max.toFixed(1).padStart(6)} ms${flag}`,
    );
  }
  // The overview's statements one by one (and the view it no longer reads).
  console.log('');
  for (const [label, fn] of [
    ['listQueueCounts', () => listQueueCounts({ db: pool })],
    ['countFinishedPerMinute', () => countFinishedPerMinute({ db: pool })],
    ['listQueueStats (queue_stats view)', () => listQueueStats({ db: pool })],
  ]) {
    const times = [];
    for (let i = 0; i <= RUNS; i++) {
      const t = performance.now();
      await fn();
      if (i > 0) times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${label.padEnd(44)} ${times[Math.floor(times.length / 2)].toFixed(1).padStart(13)} ms`,
    );
  }
  // The plans behind the overview and a queue's first page, for review.
  for (const [label, sql] of [
    [
      'live counts (listQueueCounts)',
      `SELECT queue, count(*) FILTER (WHERE state = 'pending' AND run_at <= now()), min(run_at)
       FROM sluice.job GROUP BY queue`,
    ],
    [
      'a queue page (listJobs)',
      `SELECT * FROM sluice.all_jobs WHERE queue = 'mail' ORDER BY id DESC LIMIT 51`,
    ],
    [
      'finishes per minute',
      `SELECT queue, date_trunc('minute', finished_at), count(*) FROM sluice.job_history
       WHERE finished_at >= date_trunc('minute', now()) - interval '59 minutes' GROUP BY 1, 2`,
    ],
  ]) {
    const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`);
    console.log(`\n-- ${label}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
} finally {
  await pool.end();
  if (process.env.KEEP === '1') console.log(`\nkept database ${dbName} (KEEP=1)`);
  else await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
