// pg-boss 12 adapter: insert() for bulk, send() with a `db` adapter inside the caller's
// transaction, work() with batch handlers.
import { PgBoss } from 'pg-boss';

/** System name used in results. */
export const name = 'pg-boss';

const QUEUE = 'bench';

// The queue's `notify` flag is a producer-side setting (inserts send NOTIFY), so pg-boss has a
// producer variant per worker variant.
const notifyByVariant = { best: true, defaults: false };

/** Producer-side variants: the queue's notify flag changes what an insert does. */
export const producerVariants = {
  best: 'queue created with notify: true (each insert sends NOTIFY)',
  defaults: 'queue created with defaults (no NOTIFY)',
};

/** Worker variants: best = batch fetch, short polling, LISTEN/NOTIFY on, burst while full. */
export const workerVariants = {
  best: {
    label:
      'useListenNotify + queue notify, batchSize 100, pollingIntervalSeconds 0.5, ' +
      'notifyPollingIntervalSeconds 0.5, burstWhenBatchFull, localConcurrency 4',
    boss: { useListenNotify: true },
    work: {
      batchSize: 100,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 0.5,
      burstWhenBatchFull: true,
      localConcurrency: 4,
    },
  },
  defaults: {
    label: 'work() defaults (batchSize 1, localConcurrency 1, poll 2 s, no LISTEN)',
    boss: {},
    work: {},
  },
};

function quiet(boss) {
  boss.on('error', (err) => process.stderr.write(`[pg-boss error] ${String(err)}\n`));
  boss.on('warning', (w) => process.stderr.write(`[pg-boss warning] ${w?.message ?? ''}\n`));
  return boss;
}

/** Why the worker side cannot run, or null. */
export function workerUnavailable() {
  return null;
}

/** Installs pg-boss's schema and creates the bench queue in a fresh database. */
export async function install(url, variant) {
  const boss = quiet(new PgBoss({ connectionString: url, supervise: false, schedule: false }));
  await boss.start();
  await boss.createQueue(QUEUE, { notify: notifyByVariant[variant] ?? false });
  await boss.stop({ graceful: false });
}

/** Enqueue paths: bulk (insert), one (send), inTx (send with the caller's client as `db`). */
export async function openProducer(url) {
  const boss = quiet(
    new PgBoss({ connectionString: url, max: 2, supervise: false, schedule: false }),
  );
  await boss.start();
  return {
    bulk: (seqs) =>
      boss.insert(
        QUEUE,
        seqs.map((seq) => ({ data: { seq } })),
      ),
    one: (seq) => boss.send(QUEUE, { seq }),
    delayed: (seq, delayMs) =>
      boss.send(QUEUE, { seq }, { startAfter: new Date(Date.now() + delayMs) }),
    inTx: (client, payload) =>
      boss.send(QUEUE, payload, {
        db: { executeSql: (text, values) => client.query(text, values) },
      }),
    close: () => boss.stop({ graceful: false }),
  };
}

/** Jobs not finished yet (created, retry or active). */
export async function unfinished(client) {
  const { rows } = await client.query(
    `SELECT count(*)::int AS n FROM pgboss.job
     WHERE name = $1 AND state IN ('created', 'retry', 'active')`,
    [QUEUE],
  );
  return rows[0].n;
}

/** Jobs stored, with distinct payload seqs. */
export async function stored(client) {
  const { rows } = await client.query(
    `SELECT count(*)::int AS count, count(DISTINCT data->>'seq')::int AS distinct
     FROM pgboss.job WHERE name = $1`,
    [QUEUE],
  );
  return rows[0];
}

/** Child side: a started instance; work() is registered only on start(). */
export async function prepareWorker({ url, variant, onJob }) {
  const v = workerVariants[variant];
  const boss = quiet(new PgBoss({ connectionString: url, ...v.boss }));
  await boss.start();
  return {
    async start() {
      await boss.work(QUEUE, v.work, async (jobs) => {
        for (const job of jobs) onJob(job.data.seq);
      });
    },
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  };
}

/**
 * Scenario F: pg-boss 12 flows, `boss.flow(jobs)` with `dependsOn` refs, one call per shape (one
 * transaction). pg-boss completes jobs without touching their dependents: a background resolver
 * (its "Navigator", in every supervising instance, gated cluster-wide) unblocks them every
 * `flowIntervalSeconds` (default 5 s, documented minimum 1 s), so the worker runs it at 1 s.
 */
export const flows = {
  label:
    'boss.flow() with dependsOn refs, one call per shape; worker = best + flowIntervalSeconds 1 ' +
    '(the minimum; its resolver unblocks dependents only on that tick)',
  unavailable: () => null,
  install: (url) => install(url, 'best'),
  async openProducer(url) {
    const boss = quiet(
      new PgBoss({ connectionString: url, max: 2, supervise: false, schedule: false }),
    );
    await boss.start();
    const job = (seq, dependsOn) => ({
      ref: String(seq),
      name: QUEUE,
      data: { seq },
      ...(dependsOn ? { dependsOn } : {}),
    });
    return {
      fanOut: (parentSeq, childSeqs) =>
        boss.flow([job(parentSeq), ...childSeqs.map((seq) => job(seq, [String(parentSeq)]))]),
      fanIn: (childSeqs, parentSeq) =>
        boss.flow([
          ...childSeqs.map((seq) => job(seq)),
          job(
            parentSeq,
            childSeqs.map((seq) => String(seq)),
          ),
        ]),
      chain: (seqs) =>
        boss.flow(seqs.map((seq, i) => job(seq, i > 0 ? [String(seqs[i - 1])] : undefined))),
      close: () => boss.stop({ graceful: false }),
    };
  },
  async prepareWorker({ url, onJob, onEnd }) {
    const v = workerVariants.best;
    const boss = quiet(new PgBoss({ connectionString: url, ...v.boss, flowIntervalSeconds: 1 }));
    await boss.start();
    return {
      async start() {
        await boss.work(QUEUE, v.work, async (jobs) => {
          // The batch is the handler: every job in it ends when the batch does.
          const runs = jobs.map((job) => onJob(job.data.seq));
          for (const i of runs) onEnd(i);
        });
      },
      stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
    };
  },
};
