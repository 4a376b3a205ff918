// B: `clients` connections each looping BEGIN; INSERT an app row; enqueue one job; COMMIT, for
// a fixed time. The baseline is the same transaction without the enqueue; a second reference,
// the same transaction with one more plain INSERT instead of the enqueue, shows the floor any
// enqueue that is its own statement meets (one more round trip and one more row).
import pg from 'pg';
import { createDatabase, log, nowMs, settle, withClient } from '../lib.mjs';

/** Scenario id and title. */
export const id = 'B';
export const title = 'one job per app transaction';

const APP_TABLE = `CREATE TABLE app_order (
  id bigserial PRIMARY KEY,
  customer text NOT NULL,
  amount_cents integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app_note (id bigserial PRIMARY KEY, note text NOT NULL)`;

/** The floor reference: one more statement writing one more row, in place of the enqueue. */
const oneMoreInsert = (c, payload) =>
  c.query('INSERT INTO app_note (note) VALUES ($1)', [String(payload.seq)]);

async function loadClients(url, count) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    clients.push(c);
  }
  return clients;
}

/**
 * Runs the transaction loop; `enqueue(client, payload)` is null for the baseline. `afterCommit`
 * is the dual write of a queue that cannot join the transaction (BullMQ): not atomic.
 */
async function loop(clients, seconds, enqueue, afterCommit) {
  let seq = 0;
  const t0 = nowMs();
  const end = t0 + seconds * 1000;
  await Promise.all(
    clients.map(async (c, i) => {
      while (nowMs() < end) {
        await c.query('BEGIN');
        const { rows } = await c.query(
          'INSERT INTO app_order (customer, amount_cents) VALUES ($1, $2) RETURNING id',
          [`customer-${i}`, 1999],
        );
        const payload = { seq: seq++, orderId: String(rows[0].id) };
        if (enqueue) await enqueue(c, payload);
        await c.query('COMMIT');
        if (afterCommit) await afterCommit(payload);
      }
    }),
  );
  return { committed: seq, elapsedMs: nowMs() - t0 };
}

/** Runs the baseline and B for every system and producer variant. */
export async function run({ serverUrl, sizes, systems, record }) {
  const { bClients: clientsN, bSeconds: seconds } = sizes;
  // The baseline runs first and last: on a shared machine the mean of both is a fairer
  // reference for the runs in between than either alone.
  const runs = [{ system: null, variant: 'no-enqueue' }];
  for (const system of systems) {
    for (const variant of Object.keys(system.producerVariants)) runs.push({ system, variant });
  }
  runs.push({ system: null, variant: 'no-enqueue' });
  runs.push({ system: null, variant: 'one-more-insert' });
  const baseline = [];
  for (const { system, variant } of runs) {
    const systemName = system?.name ?? 'raw-sql';
    const db = await createDatabase(serverUrl, `b_${systemName}_${variant}`);
    let clients = [];
    let producer;
    try {
      if (system) await system.install(db.url, variant);
      await withClient(db.url, (c) => c.query(APP_TABLE));
      // The producer object is opened for its API (pg-boss caches queue settings in it); every
      // statement runs on the loop's own client inside its transaction.
      if (system) producer = await system.openProducer(db.url, variant);
      clients = await loadClients(db.url, clientsN);
      await settle(db.url);
      log(`B ${systemName}/${variant}: ${clientsN} clients for ${seconds} s`);
      const isFloor = variant === 'one-more-insert';
      const { committed, elapsedMs } = await loop(
        clients,
        seconds,
        producer?.inTx ? (c, payload) => producer.inTx(c, payload) : isFloor ? oneMoreInsert : null,
        producer?.afterCommit,
      );
      const check = await withClient(db.url, async (c) => {
        const app = (await c.query('SELECT count(*)::int AS n FROM app_order')).rows[0].n;
        const jobs = system ? await system.stored(c) : { count: 0, distinct: 0 };
        return { app, jobs };
      });
      const verified = system
        ? check.app === committed &&
          check.jobs.count === committed &&
          check.jobs.distinct === committed
        : check.app === committed;
      const rate = (committed / elapsedMs) * 1000;
      // One row per figure; only value, verification, detail and note differ.
      const recordRate = (value, isVerified, detail, note) =>
        record({
          scenario: 'B',
          system: systemName,
          variant,
          metric: 'app transactions',
          value,
          unit: 'tx/s',
          better: 'higher',
          verified: isVerified,
          detail: { clients: clientsN, seconds, ...detail },
          note,
        });
      if (isFloor) {
        recordRate(rate, verified, { committed }, 'one more plain INSERT in place of the enqueue');
        continue;
      }
      if (!system) {
        baseline.push({ rate, committed, verified });
        if (baseline.length < 2) continue;
        recordRate(
          (baseline[0].rate + baseline[1].rate) / 2,
          baseline.every((b) => b.verified),
          { runs: baseline.map((b) => b.rate) },
          'mean of a run before and a run after the systems',
        );
        continue;
      }
      recordRate(
        rate,
        verified,
        {
          committed,
          appRows: check.app,
          jobs: check.jobs.count,
          distinctJobs: check.jobs.distinct,
        },
        producer?.afterCommit
          ? 'not atomic: the job is added after COMMIT (a crash between the two loses it)'
          : undefined,
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await producer?.close();
      await db.drop();
    }
  }
}
