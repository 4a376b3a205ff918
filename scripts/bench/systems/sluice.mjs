// Sluice adapter: producer side from the built `sluice` package; worker side through the
// createWorker contract, detected at run time so the bench runs before the worker lands.
import pg from 'pg';
import * as sluice from 'sluice';
import { createQueue } from 'sluice/admin';
import { z } from 'zod';
import { withClient } from '../lib.mjs';

/** System name used in results. */
export const name = 'sluice';

const QUEUE = 'bench';
const noop = sluice.defineTask({
  name: 'noop',
  queue: QUEUE,
  schema: z.object({ seq: z.number().int(), orderId: z.string().optional() }),
});

/** Producer-side variants (enqueue does not depend on worker settings). */
export const producerVariants = { any: 'queue `bench` (own partition), enqueue/enqueueMany' };

/** Worker variants: best = the settings the docs recommend for throughput. */
export const workerVariants = {
  // No-op handlers finish faster than a claim round trip: a buffer of 3,000 keeps one claim of
  // ~1,000 rows in flight while the slots run (docs/performance.md "Tuning for throughput").
  best: {
    label: 'concurrency 64, bufferSize 3000 per process',
    options: { concurrency: 64, bufferSize: 3000 },
  },
  defaults: { label: 'createWorker defaults (concurrency 10, LISTEN on, poll 1 s)', options: {} },
  // Only Sluice has these variants (the scenarios skip a variant a system lacks): its worker
  // commits wait for the WAL flush like the peers' do.
  durable: {
    label: "concurrency 64, bufferSize 3000, commitMode 'durable'",
    options: { concurrency: 64, bufferSize: 3000, commitMode: 'durable' },
  },
  // The same work as graphile-worker and pg-boss with deleteAfter 0: a finished job is deleted,
  // not kept (the queue's historyRetention '0 days').
  'durable-nohist': {
    label:
      "durable, queue historyRetention '0 days' (finished jobs deleted, as graphile-worker does)",
    options: { concurrency: 64, bufferSize: 3000, commitMode: 'durable' },
    queue: { historyRetention: '0 days' },
    // C only: D and E would time the same worker, and D's cron lateness is read from history.
    isDrainOnly: true,
  },
  // Sluice only: best with everything an operator turns on, to price instrumentation per job.
  observed: {
    label:
      'best + OpenTelemetry SDK 2.x (BatchSpanProcessor, spans discarded by the exporter) + prom-client metrics scraped every 5 s',
    options: { concurrency: 64, bufferSize: 3000 },
    isObserved: true,
  },
};

/**
 * Turns on tracing (a real SDK: spans are built, batched and handed to an exporter that drops
 * them, so no collector enters the figure) and metrics for `worker`; returns the shutdown.
 */
async function observe(worker, url) {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { createMetrics } = await import('sluice/metrics');
  let exported = 0;
  const exporter = {
    export: (spans, done) => {
      exported += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => undefined,
  };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const metrics = await createMetrics({ target: { db: pool } });
  const unobserve = metrics.observe(worker);
  const scrape = setInterval(() => void metrics.text().catch(() => undefined), 5000);
  return async () => {
    clearInterval(scrape);
    unobserve();
    await provider.shutdown();
    await pool.end();
    // Proof that the SDK saw the work (one process span per attempt).
    process.stderr.write(`[sluice observed] ${exported} spans exported\n`);
  };
}

/** Why the worker side cannot run, or null. */
export function workerUnavailable() {
  return typeof sluice.createWorker !== 'function' ? 'worker not built' : null;
}

/** Migrates the schema and creates the bench queue in a fresh database. */
export async function install(url, variant) {
  await sluice.migrate({ db: url });
  const queue = workerVariants[variant]?.queue ?? {};
  await withClient(url, (c) => createQueue({ db: c, name: QUEUE, ...queue }));
}

/** Enqueue paths: bulk (one call), one (own transaction), inTx (caller's open transaction). */
export async function openProducer(url) {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    bulk: (seqs) =>
      sluice.enqueueMany(
        seqs.map((seq) => ({ task: noop, payload: { seq } })),
        { db: pool },
      ),
    one: (seq) => sluice.enqueue(noop, { seq }, { db: pool }),
    delayed: (seq, delayMs) => sluice.enqueue(noop, { seq }, { db: pool, delayMs }),
    // A schedule of the bench task every second (D's cron part); its ticks carry seq -1.
    scheduleEverySecond: () =>
      sluice.schedule({
        db: pool,
        name: 'bench-tick',
        task: noop,
        cron: '* * * * * *',
        payload: { seq: -1 },
      }),
    inTx: (client, payload) => sluice.enqueue(noop, payload, { db: client }),
    close: () => pool.end(),
  };
}

/** How late each finished cron tick started (started_at − run_at, database clock), in ms. */
export async function tickLateness(client) {
  const { rows } = await client.query(
    `SELECT extract(epoch FROM started_at - run_at) * 1000 AS ms FROM sluice.job_history
     WHERE payload->>'seq' = '-1' ORDER BY run_at`,
  );
  return rows.map((r) => Number(r.ms));
}

/** Jobs not finished yet (pending or running). */
export async function unfinished(client) {
  const { rows } = await client.query('SELECT count(*)::int AS n FROM sluice.job');
  return rows[0].n;
}

/** Jobs stored and waiting, with distinct payload seqs (for enqueue-only scenarios). */
export async function stored(client) {
  const { rows } = await client.query(
    `SELECT count(*)::int AS count, count(DISTINCT payload->>'seq')::int AS distinct
     FROM sluice.job WHERE queue = $1`,
    [QUEUE],
  );
  return rows[0];
}

const quietLogger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(`[sluice warn] ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  },
  error(obj, msg) {
    process.stderr.write(`[sluice error] ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  },
};

/** Child side: builds a worker whose no-op handler reports each payload seq to `onJob`. */
export async function prepareWorker({ url, variant, onJob }) {
  const { options, isObserved } = workerVariants[variant];
  const worker = sluice.createWorker({
    db: url,
    tasks: [noop.handle((payload) => onJob(payload.seq))],
    logger: quietLogger,
    ...options,
  });
  worker.on('error', (err) => process.stderr.write(`[sluice worker error] ${String(err)}\n`));
  const unobserve = isObserved ? await observe(worker, url) : async () => undefined;
  return {
    start: () => worker.start(),
    stop: async () => {
      await worker.stop({ graceMs: 5000 });
      await unobserve();
    },
  };
}

/**
 * Scenario F: each shape written with the flow API in one call (one sluice.enqueue_flow
 * statement), run by the same no-op task, whose handler notes its start and its end.
 */
export const flows = {
  label: 'flow() / chord() / chain() from `sluice`, one enqueue call per shape',
  unavailable: () => (typeof sluice.flow !== 'function' ? 'flows not built' : workerUnavailable()),
  install,
  async openProducer(url) {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    // An idle connection killed from outside must not take the whole bench down.
    pool.on('error', (err) => process.stderr.write(`[sluice producer pool] ${String(err)}\n`));
    return {
      ready: () => pool.query('SELECT 1'),
      // One parent; its completion releases every child.
      async fanOut(parentSeq, childSeqs) {
        const f = sluice.flow();
        const parent = f.add(noop, { seq: parentSeq });
        for (const seq of childSeqs) f.add(noop, { seq }, { dependsOn: [parent] });
        await f.enqueue({ db: pool });
      },
      // N children, then a parent that waits for all of them (a chord).
      async fanIn(childSeqs, parentSeq) {
        await sluice
          .chord(
            childSeqs.map((seq) => sluice.step(noop, { seq })),
            sluice.step(noop, { seq: parentSeq }),
          )
          .enqueue({ db: pool });
      },
      async chain(seqs) {
        await sluice.chain(seqs.map((seq) => sluice.step(noop, { seq }))).enqueue({ db: pool });
      },
      close: () => pool.end(),
    };
  },
  async prepareWorker({ url, variant, onJob, onEnd }) {
    const { options } = workerVariants[variant];
    const worker = sluice.createWorker({
      db: url,
      tasks: [noop.handle((payload) => onEnd(onJob(payload.seq)))],
      logger: quietLogger,
      ...options,
    });
    worker.on('error', (err) => process.stderr.write(`[sluice worker error] ${String(err)}\n`));
    return { start: () => worker.start(), stop: () => worker.stop({ graceMs: 5000 }) };
  },
};
