// A: bulk enqueue of N jobs in calls of `batch` jobs, one call at a time on one connection.
// Each (system, variant) runs `rounds` times, the systems taking turns, and the median counts:
// single runs on a shared machine vary by ±15%, more than the gaps being measured.
import { createDatabase, log, nowMs, seqBatches, settle, withClient } from '../lib.mjs';

/** Scenario id and title. */
export const id = 'A';
export const title = 'bulk enqueue';

/** One timed run in a fresh database: the rate and what the database holds afterwards. */
async function measure(serverUrl, system, variant, n, batch) {
  const db = await createDatabase(serverUrl, `a_${system.name}_${variant}`);
  try {
    await system.install(db.url, variant);
    const producer = await system.openProducer(db.url, variant);
    await settle(db.url);
    const t0 = nowMs();
    for (const seqs of seqBatches(0, n, batch)) await producer.bulk(seqs);
    const elapsedMs = nowMs() - t0;
    await producer.close();
    const s = await withClient(db.url, (c) => system.stored(c));
    return { rate: (n / elapsedMs) * 1000, elapsedMs, ok: s.count === n && s.distinct === n, s };
  } finally {
    await db.drop();
  }
}

/** Runs A for every system and producer variant. */
export async function run({ serverUrl, sizes, systems, record }) {
  const { aJobs: n, aBatch: batch, aRounds: rounds } = sizes;
  const runs = new Map();
  for (let round = 1; round <= rounds; round++) {
    for (const system of systems) {
      for (const variant of Object.keys(system.producerVariants)) {
        log(
          `A ${system.name}/${variant}: ${n} jobs in calls of ${batch} (round ${round}/${rounds})`,
        );
        const key = `${system.name}\u0000${variant}`;
        if (!runs.has(key)) runs.set(key, { system, variant, results: [] });
        runs.get(key).results.push(await measure(serverUrl, system, variant, n, batch));
      }
    }
  }
  for (const { system, variant, results } of runs.values()) {
    const sorted = [...results].sort((a, b) => a.rate - b.rate);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    record({
      scenario: 'A',
      system: system.name,
      variant,
      metric: 'enqueue rate',
      value: median.rate,
      unit: 'jobs/s',
      better: 'higher',
      verified: results.every((r) => r.ok),
      detail: {
        jobs: n,
        batch,
        rounds: results.length,
        rates: results.map((r) => Math.round(r.rate)),
        elapsedMs: median.elapsedMs,
        stored: median.s.count,
        distinct: median.s.distinct,
      },
      note: results.length > 1 ? `median of ${results.length} rounds` : undefined,
    });
  }
}
