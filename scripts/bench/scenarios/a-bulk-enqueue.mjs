// A: bulk enqueue of N jobs in calls of `batch` jobs, one call at a time on one connection.
import { createDatabase, log, nowMs, seqBatches, settle, withClient } from '../lib.mjs';

/** Scenario id and title. */
export const id = 'A';
export const title = 'bulk enqueue';

/** Runs A for every system and producer variant. */
export async function run({ serverUrl, sizes, systems, record }) {
  const { aJobs: n, aBatch: batch } = sizes;
  for (const system of systems) {
    for (const variant of Object.keys(system.producerVariants)) {
      const db = await createDatabase(serverUrl, `a_${system.name}_${variant}`);
      try {
        await system.install(db.url, variant);
        const producer = await system.openProducer(db.url, variant);
        await settle(db.url);
        log(`A ${system.name}/${variant}: ${n} jobs in calls of ${batch}`);
        const t0 = nowMs();
        for (const seqs of seqBatches(0, n, batch)) await producer.bulk(seqs);
        const elapsedMs = nowMs() - t0;
        await producer.close();
        const s = await withClient(db.url, (c) => system.stored(c));
        record({
          scenario: 'A',
          system: system.name,
          variant,
          metric: 'enqueue rate',
          value: (n / elapsedMs) * 1000,
          unit: 'jobs/s',
          better: 'higher',
          verified: s.count === n && s.distinct === n,
          detail: { jobs: n, batch, elapsedMs, stored: s.count, distinct: s.distinct },
        });
      } finally {
        await db.drop();
      }
    }
  }
}
