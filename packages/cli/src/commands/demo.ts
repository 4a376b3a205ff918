// `sluice demo`: the whole life of a job on the embedded Postgres (or DATABASE_URL), narrated:
// an outbox-style enqueue that commits and one that rolls back, worker processes, a retry, a dead
// letter replayed by SQL, a cron tick, a bulk drain with a progress bar, and the stats table.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import pg from 'pg';
import {
  enqueue,
  enqueueMany,
  migrate,
  schedule,
  unschedule,
  waitForJob,
  type JobInfo,
} from 'sluice';
import { assertSchemaName, createQueue, listQueueStats } from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals } from '../command-helpers.js';
import { redactUrl, resolveDatabaseUrl } from '../connection.js';
import { embeddedPaths } from '../embedded-location.js';
import { DEMO_QUEUES, DEMO_SQL, forSchema } from '../demo/demo-sql.js';
import { bulkNoop, flakyCharge, sendOrderEmail, syncInvoice, tick } from '../demo/demo-tasks.js';
import {
  assertWorkersAlive,
  demoWorkArgs,
  startDemoWorker,
  stopDemoWorkers,
  type DemoWorker,
} from '../demo/demo-workers.js';
import { Narrator } from '../demo/narrator.js';
import { statsTable } from './stats.js';

const BULK_JOBS = 20_000;

interface Demo {
  pool: pg.Pool;
  url: string;
  schema: string;
  n: Narrator;
  workers: DemoWorker[];
}

type SqlName = keyof typeof DEMO_SQL;

function sql(d: Demo, name: SqlName): string {
  return forSchema(DEMO_SQL[name], d.schema);
}

/** Polls `check` every 100 ms until it returns a value, failing after `timeoutMs`. */
async function waitUntil<T>(
  d: Demo,
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertWorkersAlive(d.workers);
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new CliError(`demo: timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function waitJob(d: Demo, id: string, what: string): Promise<JobInfo> {
  assertWorkersAlive(d.workers);
  return waitForJob({ db: d.url, id, schema: d.schema, timeoutMs: 30_000 }).catch((err) => {
    assertWorkersAlive(d.workers);
    throw new CliError(`demo: ${what} did not finish: ${String(err)}`, { cause: err });
  });
}

async function setUp(d: Demo, isEmbedded: boolean): Promise<void> {
  const { n } = d;
  n.step('0. Set-up');
  n.say(
    isEmbedded
      ? `Embedded Postgres in ${embeddedPaths().root}: ${redactUrl(d.url)} (no install, no Docker)`
      : `Postgres from DATABASE_URL: ${redactUrl(d.url)}`,
  );
  const applied = await migrate({ db: d.url, schema: d.schema });
  n.say(
    applied.length > 0
      ? `Migrated schema ${d.schema}: applied ${applied.join(', ')}`
      : `Schema ${d.schema} is up to date`,
  );
  // The demo starts from a clean slate each run: its own tables, queues' jobs and schedule.
  await unschedule({ db: d.pool, schema: d.schema, name: 'demo-tick' });
  for (const name of ['jobDeleteDemo', 'historyDeleteDemo', 'deadLetterDeleteDemo'] as const) {
    await d.pool.query(sql(d, name), [DEMO_QUEUES]);
  }
  await d.pool.query(DEMO_SQL.tablesDrop);
  await d.pool.query(DEMO_SQL.orderCreateTable);
  await d.pool.query(DEMO_SQL.flagCreateTable);
  await d.pool.query(DEMO_SQL.flagInsert);
  for (const queue of DEMO_QUEUES) await createQueue({ db: d.pool, schema: d.schema, name: queue });
  n.say(`Demo tables demo_order and demo_flag created; queues ${DEMO_QUEUES.join(', ')} ready.`);
}

/** One app transaction: an order row and its email job; committed or rolled back. */
async function orderTransaction(
  d: Demo,
  customer: string,
  totalCents: number,
  end: 'COMMIT' | 'ROLLBACK',
): Promise<{ orderId: number; jobId: string }> {
  const client = await d.pool.connect();
  try {
    d.n.showSql('BEGIN');
    await client.query('BEGIN');
    const { rows } = await d.n.query<{ id: number }>(
      client,
      DEMO_SQL.orderInsert,
      [customer, totalCents],
      { isResultShown: false },
    );
    const orderId = rows[0]!.id;
    const payload = { orderId, to: customer };
    d.n.showCode(`await enqueue(sendOrderEmail, ${JSON.stringify(payload)}, { db: client })`);
    const { id: jobId } = await enqueue(sendOrderEmail, payload, { db: client, schema: d.schema });
    d.n.say(`       → order ${orderId}, job ${jobId}`);
    d.n.showSql(end);
    await client.query(end);
    return { orderId, jobId };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function stepCommit(d: Demo): Promise<string> {
  d.n.step('1. An app transaction creates an order and enqueues its email (COMMIT)');
  const { jobId } = await orderTransaction(d, 'ada@example.com', 4200, 'COMMIT');
  d.n.say('The job committed with the order. No worker runs yet, so it waits in sluice.job:');
  await d.n.query(d.pool, sql(d, 'jobShow'), [jobId]);
  return jobId;
}

async function stepRollback(d: Demo): Promise<void> {
  d.n.step('2. A second app transaction does the same and rolls back');
  const { orderId, jobId } = await orderTransaction(d, 'bob@example.com', 990, 'ROLLBACK');
  d.n.say(
    'Neither the order nor its job exists, and no worker was woken (NOTIFY fires at commit):',
  );
  await d.n.query(d.pool, sql(d, 'rolledBackCount'), [orderId, jobId]);
}

async function stepWorkers(d: Demo, emailJobId: string): Promise<void> {
  d.n.step('3. Two worker processes start');
  d.n.say(`Each runs: sluice ${demoWorkArgs(d.schema).join(' ')}`);
  d.workers.push(startDemoWorker(d.url, d.schema), startDemoWorker(d.url, d.schema));
  const pids = d.workers.map((w) => w.pid);
  await waitUntil(d, 'the workers to register', async () => {
    const { rows } = await d.pool.query<{ workers: number }>(sql(d, 'workerCount'), [pids]);
    return rows[0]?.workers === pids.length ? true : undefined;
  });
  d.n.say(`Worker pids: ${pids.join(', ')}. They registered in sluice.worker:`);
  await d.n.query(d.pool, sql(d, 'workerList'), [pids]);
  await waitJob(d, emailJobId, 'the order email');
  d.n.say('One of them picked up the order email from step 1 and ran it:');
  await d.n.query(d.pool, sql(d, 'orderEmailShow'), [emailJobId]);
}

async function stepRetry(d: Demo): Promise<void> {
  d.n.step('4. A flaky task fails twice and succeeds on its third attempt');
  d.n.say('demo-flaky-charge throws on attempts 1 and 2; its retry policy is fixed 500 ms.');
  d.n.showCode(`await enqueue(flakyCharge, { orderId: 1 }, { db: pool })`);
  const { id } = await enqueue(flakyCharge, { orderId: 1 }, { db: d.pool, schema: d.schema });
  const job = await waitJob(d, id, 'the flaky job');
  d.n.say(
    `Job ${id} is ${job.state} after ${job.attempt} attempts. Its errors, with the back-off:`,
  );
  await d.n.query(d.pool, sql(d, 'attemptsShow'), [id]);
}

async function stepDeadLetter(d: Demo): Promise<void> {
  d.n.step('5. A task that always fails lands in sluice.dead_letter, is fixed and replayed');
  d.n.say('demo-sync-invoice fails until demo_flag says the invoice API is fixed; maxAttempts 3.');
  d.n.showCode(`await enqueue(syncInvoice, { orderId: 1 }, { db: pool })`);
  const { id } = await enqueue(syncInvoice, { orderId: 1 }, { db: d.pool, schema: d.schema });
  await waitJob(d, id, 'the failing job');
  d.n.say('After 3 failed attempts it is a dead letter, visible with plain SQL:');
  await d.n.query(d.pool, sql(d, 'deadLetterShow'), [id]);
  d.n.say('Fix the cause, then replay it with the SQL function:');
  await d.n.query(d.pool, DEMO_SQL.flagFix);
  await d.n.query(d.pool, sql(d, 'deadLetterReplay'), [id]);
  await waitJob(d, id, 'the replayed job');
  d.n.say('The replayed job ran again with fresh attempts and completed:');
  await d.n.query(d.pool, sql(d, 'jobStateShow'), [id]);
}

async function stepCron(d: Demo): Promise<void> {
  d.n.step('6. A cron schedule ticks');
  d.n.showCode(
    `await schedule({ db: pool, name: 'demo-tick', cron: '* * * * * *', task: tick, payload: {} })`,
  );
  await schedule({
    db: d.pool,
    schema: d.schema,
    name: 'demo-tick',
    cron: '* * * * * *',
    task: tick,
    payload: {},
  });
  d.n.say('The elected leader among the workers turns each tick into a job. The first one:');
  await waitUntil(
    d,
    'a cron tick to complete',
    async () => ((await d.pool.query(sql(d, 'tickFirstDone'))).rowCount ? true : undefined),
    45_000,
  );
  await d.n.query(d.pool, sql(d, 'tickFirstDone'));
  d.n.showCode(`await unschedule({ db: pool, name: 'demo-tick' })`);
  await unschedule({ db: d.pool, schema: d.schema, name: 'demo-tick' });
}

async function stepBulk(d: Demo): Promise<void> {
  d.n.step(`7. Bulk enqueue of ${BULK_JOBS.toLocaleString('en-US')} jobs, drained by the workers`);
  const total = BULK_JOBS.toLocaleString('en-US');
  d.n.showCode(`await enqueueMany(jobs, { db: pool })   // ${total} no-op demo-bulk jobs`);
  const jobs = Array.from({ length: BULK_JOBS }, (_, i) => ({ task: bulkNoop, payload: { n: i } }));
  const startedAt = Date.now();
  await enqueueMany(jobs, { db: d.pool, schema: d.schema });
  const seconds = (Date.now() - startedAt) / 1000;
  d.n.say(`       → ${total} jobs in ${seconds.toFixed(2)} s (one INSERT per 10,000 jobs)`);
  d.n.say('Draining (done / total, jobs/s over the last second):');
  const bar = d.n.progress(BULK_JOBS, 'done', startedAt);
  const deadline = Date.now() + 120_000;
  for (;;) {
    assertWorkersAlive(d.workers);
    const { rows } = await d.pool.query<{ left: number }>(sql(d, 'bulkLeft'));
    const left = rows[0]?.left ?? 0;
    bar.update(BULK_JOBS - left);
    if (left === 0) break;
    if (Date.now() > deadline) throw new CliError('demo: the bulk jobs did not drain in 120 s');
    await sleep(100);
  }
  const rate = bar.finish();
  const drained = ((Date.now() - startedAt) / 1000).toFixed(1);
  d.n.say(
    `${total} jobs enqueued and run by 2 workers in ${drained} s: ` +
      `${Math.round(rate).toLocaleString('en-US')} jobs/s.`,
  );
}

async function stepStats(d: Demo): Promise<void> {
  d.n.step('8. Final stats per queue (what `sluice stats` prints)');
  const rows = await listQueueStats({ db: d.pool, schema: d.schema });
  d.n.say(statsTable(rows, false));
}

async function stopWorkers(d: Demo): Promise<void> {
  d.n.step('Stopping the workers (SIGTERM)');
  const codes = await stopDemoWorkers(d.workers);
  d.workers.forEach((w, i) => d.n.say(`worker ${w.pid} exited with code ${codes[i] ?? 'null'}`));
  if (codes.some((c) => c !== 0)) throw new CliError('demo: a worker did not exit cleanly');
  await d.n.query(d.pool, sql(d, 'workerCount'), [d.workers.map((w) => w.pid)]);
}

async function runDemo(cmd: Command): Promise<void> {
  const g = globals(cmd);
  const schema = assertSchemaName(g.schema);
  const isEmbedded = !(g.databaseUrl ?? process.env.DATABASE_URL);
  const startedAt = Date.now();
  const url = await resolveDatabaseUrl(g);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  const d: Demo = { pool, url, schema, n: new Narrator(), workers: [] };
  // Ctrl-C or SIGTERM: stop the workers gracefully before leaving, so none outlives the demo.
  const onSignal = () => {
    void stopDemoWorkers(d.workers).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await setUp(d, isEmbedded);
    const emailJobId = await stepCommit(d);
    await stepRollback(d);
    await stepWorkers(d, emailJobId);
    await stepRetry(d);
    await stepDeadLetter(d);
    await stepCron(d);
    await stepBulk(d);
    await stepStats(d);
    await stopWorkers(d);
  } finally {
    await stopDemoWorkers(d.workers);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pool.end();
  }
  d.n.step(`Done in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  if (isEmbedded) {
    d.n.say(`The embedded Postgres keeps running, with its data in ${embeddedPaths().root}:`);
    d.n.say(`  psql "$(sluice db url)" -c 'select * from sluice.queue_stats'   # look around`);
    d.n.say('  sluice db stop                                                  # stop it');
    d.n.say('(In this repository, run the CLI as `pnpm -s sluice …`.)');
  }
}

/** Registers `sluice demo`. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'show the life of a job step by step: commit, rollback, workers, retry, dead letter, cron, bulk',
    )
    .addHelpText(
      'after',
      examples('sluice demo', 'DATABASE_URL=postgres://localhost/scratch sluice demo'),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      await runDemo(cmd);
    });
}
