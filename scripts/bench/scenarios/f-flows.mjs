// F: flows end to end. Three shapes, each written with the system's own flow API in one call:
// fan-out (one parent whose completion releases N children), fan-in (N children, then a parent
// waiting for all of them) and a chain of M steps. One idle worker process (best variant) per
// (system, shape), in a fresh database. Handlers are no-ops that note their start and end on
// CLOCK_MONOTONIC, one clock for the machine, so a dependency's end (in the worker) and its
// dependent's start can be subtracted, as D does with commit and start.
import { checkLedger, createDatabase, log, nowMs, percentile, settle, sleep } from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';

/** Scenario id and title. */
export const id = 'F';
export const title = 'flows: fan-out 1→N, fan-in N→1, chain of M, end to end';

/**
 * The shapes. Seqs: fan-out parent 0, children 1..N; fan-in children 0..N-1, parent N; chain
 * steps 0..M-1 in order. `releases(t)` lists, from the first start (`t.start[seq]`) and end
 * (`t.end[seq]`) of each seq, every (dependency → dependent) release whose dependency ended.
 */
export const SHAPES = [
  {
    key: 'fanOut',
    metric: 'fan-out 1→N',
    size: (sizes) => sizes.fFan,
    jobs: (n) => n + 1,
    enqueue: (p, n) =>
      p.fanOut(
        0,
        Array.from({ length: n }, (_, i) => i + 1),
      ),
    pairs: (n) => Array.from({ length: n }, (_, i) => [[0], i + 1]),
  },
  {
    key: 'fanIn',
    metric: 'fan-in N→1',
    size: (sizes) => sizes.fFan,
    jobs: (n) => n + 1,
    enqueue: (p, n) =>
      p.fanIn(
        Array.from({ length: n }, (_, i) => i),
        n,
      ),
    pairs: (n) => [[Array.from({ length: n }, (_, i) => i), n]],
  },
  {
    key: 'chain',
    metric: 'chain of M',
    size: (sizes) => sizes.fChain,
    jobs: (m) => m,
    enqueue: (p, m) => p.chain(Array.from({ length: m }, (_, i) => i)),
    pairs: (m) => Array.from({ length: m - 1 }, (_, i) => [[i], i + 1]),
  },
];

/** First start and end of every seq 0..total-1 (NaN where it never ran or never ended). */
function firstTimes(ledger, total) {
  const start = new Float64Array(total).fill(Number.NaN);
  const end = new Float64Array(total).fill(Number.NaN);
  ledger.seqs.forEach((seq, i) => {
    if (!Number.isInteger(seq) || seq < 0 || seq >= total || !Number.isNaN(start[seq])) return;
    start[seq] = ledger.starts[i];
    end[seq] = ledger.ends[i] ?? Number.NaN;
  });
  return { start, end };
}

/**
 * Release latencies (dependent start − the last end among its dependencies) and order checks.
 * A dependent whose dependencies all ended but which never started counts as +Infinity (as in
 * D), except the chain's one step in flight when time ran out (`frontier`), which is left out:
 * in a chain one release is always pending.
 */
export function analyse(shape, n, t) {
  const lat = [];
  let violations = 0;
  let pending = 0;
  for (const [deps, dependent] of shape.pairs(n)) {
    const ends = deps.map((d) => t.end[d]);
    if (ends.some((e) => Number.isNaN(e))) {
      // Not every dependency ended: the dependent must not have started.
      if (!Number.isNaN(t.start[dependent])) violations++;
      continue;
    }
    const released = Math.max(...ends);
    if (Number.isNaN(t.start[dependent])) {
      pending++;
      if (shape.key !== 'chain') lat.push(Number.POSITIVE_INFINITY);
      continue;
    }
    const d = t.start[dependent] - released;
    if (d < 0) violations++;
    lat.push(d);
  }
  return { lat, violations, pending };
}

function naRows(record, base, shape, why) {
  const metrics =
    shape.key === 'fanOut'
      ? ['first release', 'release p50', 'release p99']
      : ['release p50', 'release p99'];
  record({
    ...base,
    metric: `${shape.metric}: rate`,
    value: null,
    unit: 'jobs/s',
    better: 'higher',
    na: why,
  });
  for (const m of metrics) {
    record({
      ...base,
      metric: `${shape.metric}: ${m}`,
      value: null,
      unit: 'ms',
      better: 'lower',
      na: why,
    });
  }
}

async function waitProcessed(workers, n, deadline) {
  while (workers.processed() < n) {
    if (nowMs() > deadline) return false;
    await sleep(5);
  }
  return true;
}

async function runShape({ serverUrl, sizes, record }, system, shape) {
  const n = shape.size(sizes);
  const total = shape.jobs(n);
  const base = { scenario: 'F', system: system.name, variant: 'best', procs: 1 };
  const flows = system.flows;
  const why = flows ? (flows.unavailable?.() ?? null) : 'no flow adapter';
  if (why || !flows.openProducer) return naRows(record, base, shape, why);
  if (flows.na?.[shape.key]) return naRows(record, base, shape, flows.na[shape.key]);

  const db = await createDatabase(serverUrl, `f_${system.name}_${shape.key}`);
  let workers;
  let producer;
  try {
    await (flows.install ?? system.install)(db.url, 'best');
    producer = await flows.openProducer(db.url);
    await producer.ready?.(); // connected before the clock starts
    await settle(db.url);
    workers = await forkWorkers({
      system: system.name,
      variant: 'best',
      url: db.url,
      procs: 1,
      recordTimes: true,
      mode: 'flows',
    });
    await workers.start();
    await sleep(1000); // LISTEN connected, first empty polls done: the worker is idle
    log(`F ${system.name}: ${shape.metric}, ${total} jobs`);
    const t0 = nowMs();
    await shape.enqueue(producer, n);
    const enqueueMs = nowMs() - t0;
    const deadline = t0 + sizes.fTimeoutS * 1000;
    const allStarted = await waitProcessed(workers, total, deadline);
    const waitedUntil = nowMs();
    await sleep(200); // a duplicate run, if any, shows up in the ledger
    const ledger = await workers.stop();
    workers = undefined;

    const check = checkLedger(ledger.seqs, total);
    const t = firstTimes(ledger, total);
    let lastEnd = -Infinity;
    let ended = 0;
    for (const e of t.end) {
      if (!Number.isNaN(e)) {
        ended++;
        lastEnd = Math.max(lastEnd, e);
      }
    }
    let firstStart = Infinity;
    for (const v of t.start) if (!Number.isNaN(v)) firstStart = Math.min(firstStart, v);
    const complete = allStarted && ended === total;
    const { lat, violations, pending } = analyse(shape, n, t);
    const verified =
      violations === 0 && (complete ? check.ok : check.duplicates === 0 && check.outOfRange === 0);
    const elapsedMs = complete ? lastEnd - t0 : waitedUntil - t0;
    const detail = {
      size: n,
      jobs: total,
      enqueueMs,
      elapsedMs,
      ended,
      orderViolations: violations,
      // First handler start after the enqueue call began; the fastest release (for fan-out the
      // first child's: p50/p99 there include waiting behind the other children).
      firstStartMs: Number.isFinite(firstStart) ? firstStart - t0 : null,
      releases: lat.length,
      minReleaseMs: lat.length ? Math.min(...lat) : null,
      pendingAtEnd: pending,
      ...check,
    };
    const note = complete
      ? undefined
      : `timed out after ${sizes.fTimeoutS} s with ${ended}/${total} done; rate over that time`;
    record({
      ...base,
      metric: `${shape.metric}: rate`,
      value: (ended / elapsedMs) * 1000,
      unit: 'jobs/s',
      better: 'higher',
      complete,
      verified,
      detail,
      ...(note ? { note } : {}),
    });
    if (shape.key === 'fanOut') {
      // The release itself, without the children queueing behind each other on one worker.
      const first = lat.length ? Math.min(...lat) : null;
      const censored = first === null || first === Number.POSITIVE_INFINITY;
      record({
        ...base,
        metric: `${shape.metric}: first release`,
        value: censored ? null : first,
        unit: 'ms',
        better: 'lower',
        complete,
        verified,
        detail,
        ...(censored ? { na: 'no child started' } : { note: "parent's end → first child's start" }),
      });
    }
    for (const p of [50, 99]) {
      const v = percentile(lat, p);
      const censored = v === null || v === Number.POSITIVE_INFINITY;
      record({
        ...base,
        metric: `${shape.metric}: release p${p}`,
        value: censored ? null : v,
        unit: 'ms',
        better: 'lower',
        complete,
        verified,
        detail,
        ...(shape.key === 'fanIn' && !censored ? { note: 'one release: p50 = p99' } : {}),
        ...(censored
          ? {
              na:
                v === null
                  ? 'no release happened'
                  : `> ${sizes.fTimeoutS} s: some dependents never started while the bench waited`,
            }
          : {}),
      });
    }
  } finally {
    workers?.kill();
    await producer?.close();
    await db.drop();
  }
}

/** Runs F for every system × shape, with the best worker variant only. */
export async function run(ctx) {
  for (const system of ctx.systems) {
    for (const shape of SHAPES) await runShape(ctx, system, shape);
  }
}
