// Seeds a demo database, serves the dashboard and saves screenshots of the overview, a job and
// the dead letters into docs/images/ (linked from the READMEs). Needs `pnpm build` and Debian's
// chromium at /usr/bin/chromium. Uses $DATABASE_URL's server (default: the local PostgreSQL at
// 127.0.0.1:5432) to create and finally drop its own database.
//   node scripts/dashboard-screenshots.mjs
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { defineTask, enqueue, migrate, schedule } from 'sluice';
import { createQueue } from 'sluice/admin';
import { drainQueue } from 'sluice/testing';

const root = new URL('..', import.meta.url);
const dashboardDir = new URL('packages/dashboard/', root);
const { createDashboard, serveDashboard } = await import(
  new URL('dist/index.js', dashboardDir).href
);
const { chromium } = createRequire(new URL('package.json', dashboardDir))('playwright-core');
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error(`no ${CHROMIUM}: apt-get install -y chromium`);
  process.exit(1);
}

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `sluice_screenshots_${process.pid}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
const pool = new pg.Pool({ connectionString: url.toString(), max: 5 });
pool.on('error', () => undefined);

try {
  await migrate({ db: pool });
  await seedDemo(pool);
  const server = await serveDashboard(createDashboard({ db: pool, showPayloads: true }));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 800 } });
    const out = fileURLToPath(new URL('docs/images/', root));
    mkdirSync(out, { recursive: true });
    const shot = async (path, file, fullPage = false) => {
      await page.goto(server.url.replace(/\/$/, '') + path);
      await page.screenshot({ path: `${out}${file}`, fullPage });
      console.log(`docs/images/${file}`);
    };
    await shot('/', 'dashboard-overview.png');
    const { rows } = await pool.query(
      `SELECT id FROM sluice.dead_letter WHERE task = 'charge-card' ORDER BY id LIMIT 1`,
    );
    await shot(`/jobs/${rows[0].id}`, 'dashboard-job.png', true);
    await shot('/dead-letters', 'dashboard-dead-letters.png');
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}

async function seedDemo(db) {
  await createQueue({ db, name: 'mail', concurrencyLimit: 20 });
  await createQueue({
    db,
    name: 'billing',
    concurrencyLimit: 4,
    rateLimit: 100,
    rateWindowMs: 60_000,
  });
  await createQueue({ db, name: 'reports' });
  // An hour of finished work, per minute, in waves: what a steady day looks like.
  await db.query(`
    INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
      max_attempts, created_at, started_at, finished_at, result)
    SELECT nextval('sluice.job_id_seq'), q.queue, q.task, '{}', 'completed', 0, t, 1, 25, t, t,
      t + interval '120 milliseconds', '{}'
    FROM (VALUES ('mail', 'send-email', 40), ('billing', 'charge-card', 12),
                 ('default', 'resize-image', 25), ('reports', 'build-report', 2)) AS q(queue, task, rate),
      generate_series(0, 59) AS m,
      generate_series(1, (q.rate * (1.3 + sin(m / 6.0)))::int) AS n,
      LATERAL (SELECT now() - m * interval '1 minute' - (n % 60) * interval '1 second' AS t) x`);
  await db.query(`
    INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
      max_attempts, reason, created_at, failed_at, errors)
    SELECT nextval('sluice.job_id_seq'), 'mail', 'send-email', '{}', 0, now(), 5, 5,
      'attempts_exhausted', now() - m * interval '1 minute', now() - m * interval '1 minute',
      jsonb_build_array(jsonb_build_object('attempt', 5, 'name', 'SmtpError',
        'message', '550 mailbox unavailable', 'at', now()))
    FROM generate_series(3, 57, 9) AS m`);
  // Real failures with real stacks, through the real worker code path.
  const chargeCard = defineTask({
    name: 'charge-card',
    queue: 'billing',
    maxAttempts: 3,
    schema: z.object({ orderId: z.number(), amountCents: z.number() }),
  });
  for (let i = 0; i < 4; i++) {
    await enqueue(chargeCard, { orderId: 1041 + i, amountCents: 1999 + i * 500 }, { db });
  }
  await drainQueue({
    db,
    withScheduled: true,
    tasks: [
      chargeCard.handle(({ orderId }, ctx) => {
        class PaymentDeclinedError extends Error {
          name = 'PaymentDeclinedError';
        }
        void ctx.progress({ step: 'authorise', orderId });
        throw new PaymentDeclinedError(
          `card declined for order ${orderId} (attempt ${ctx.attempt})`,
        );
      }),
    ],
  });
  // Work waiting, running and scheduled.
  await db.query(`
    SELECT sluice.enqueue('send-email', '{}', 'mail') FROM generate_series(1, 340);
    SELECT sluice.enqueue('resize-image', '{}', 'default') FROM generate_series(1, 57);
    SELECT sluice.enqueue('build-report', '{}', 'reports', now() + interval '2 hours') FROM generate_series(1, 12);
    SELECT sluice.enqueue('charge-card', '{"orderId": 2001, "amountCents": 4999}', 'billing', now() - interval '40 seconds') FROM generate_series(1, 9);
    INSERT INTO sluice.worker (id, host, pid, queues, concurrency) VALUES
      ('app-1:4311', 'app-1', 4311, '{mail,default,billing,reports}', 20),
      ('app-2:5120', 'app-2', 5120, '{mail,default,billing,reports}', 20);
    INSERT INTO sluice.leader (name, worker_id, expires_at) VALUES ('maintenance', 'app-1:4311', now() + interval '30 seconds');
    UPDATE sluice.job SET state = 'running', attempt = 1, started_at = now(), lease_expires_at = now() + interval '30 seconds',
      worker_id = CASE WHEN id % 2 = 0 THEN 'app-1:4311' ELSE 'app-2:5120' END
    WHERE id IN (SELECT id FROM sluice.job WHERE queue = 'mail' ORDER BY id LIMIT 14);
    SELECT sluice.pause_queue('reports');`);
  await schedule({
    db,
    name: 'nightly-report',
    cron: '0 2 * * *',
    timezone: 'Europe/Paris',
    task: 'build-report',
    queue: 'reports',
    payload: {},
  });
  await schedule({
    db,
    name: 'hourly-digest',
    cron: '0 * * * *',
    task: 'send-email',
    queue: 'mail',
    payload: {},
  });
}
