// graphile-worker adapter (0.18 API: run() with taskList and a preset, WorkerUtils.addJobs,
// SQL add_job inside the caller's transaction).
import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';
import pg from 'pg';

/** System name used in results. */
export const name = 'graphile-worker';

const TASK = 'noop';

// Silent except for errors: its info logs would drown the bench output.
const logger = new Logger(() => (level, message) => {
  if (level === 'error') process.stderr.write(`[graphile-worker] ${message}\n`);
});

/** Producer-side variants (job insertion is the same whatever the worker settings). */
export const producerVariants = { any: 'WorkerUtils.addJobs / SQL graphile_worker.add_job' };

/** Worker variants: best = the high-throughput settings its performance docs give. */
export const workerVariants = {
  best: {
    label: 'concurrency 24, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0',
    options: {
      concurrency: 24,
      preset: {
        worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
      },
    },
  },
  defaults: { label: 'run() defaults (concurrency 1, LISTEN on, poll 2 s)', options: {} },
};

/** Why the worker side cannot run, or null. */
export function workerUnavailable() {
  return null;
}

/** Installs graphile-worker's schema in a fresh database. */
export async function install(url) {
  await runMigrations({ connectionString: url, logger });
}

/** Enqueue paths: bulk (addJobs, one add_jobs call), one (addJob), inTx (SQL add_job). */
export async function openProducer(url) {
  // Our own pool, with an error handler: an idle client killed when the bench drops the database
  // must not take the whole run down (graphile-worker's own pool has none).
  const pgPool = new pg.Pool({ connectionString: url, max: 2 });
  pgPool.on('error', (err) =>
    process.stderr.write(`[graphile-worker producer pool] ${String(err)}\n`),
  );
  const utils = await makeWorkerUtils({ pgPool, logger });
  return {
    bulk: (seqs) => utils.addJobs(seqs.map((seq) => ({ identifier: TASK, payload: { seq } }))),
    one: (seq) => utils.addJob(TASK, { seq }),
    delayed: (seq, delayMs) =>
      utils.addJob(TASK, { seq }, { runAt: new Date(Date.now() + delayMs) }),
    inTx: (client, payload) =>
      client.query('SELECT graphile_worker.add_job($1, $2::json)', [TASK, JSON.stringify(payload)]),
    close: async () => {
      await utils.release();
      await pgPool.end();
    },
  };
}

/** Jobs not finished yet: graphile-worker deletes a job when it completes. */
export async function unfinished(client) {
  const { rows } = await client.query(
    'SELECT count(*)::int AS n FROM graphile_worker._private_jobs',
  );
  return rows[0].n;
}

/** Jobs stored and waiting, with distinct payload seqs. */
export async function stored(client) {
  const { rows } = await client.query(
    `SELECT count(*)::int AS count, count(DISTINCT payload->>'seq')::int AS distinct
     FROM graphile_worker._private_jobs`,
  );
  return rows[0];
}

/** Child side: a runner whose no-op task reports each payload seq to `onJob`. */
export async function prepareWorker({ url, variant, onJob }) {
  const { options } = workerVariants[variant];
  let runner;
  return {
    async start() {
      runner = await run({
        connectionString: url,
        logger,
        noHandleSignals: true,
        crontab: '',
        taskList: {
          [TASK]: async (payload) => {
            onJob(payload.seq);
          },
        },
        ...options,
      });
    },
    stop: () => runner?.stop(),
  };
}

/** Scenario F: graphile-worker has no dependencies between jobs. */
export const flows = {
  unavailable: () =>
    'graphile-worker 0.18 has no job dependencies (a task can only add its successors itself)',
};
