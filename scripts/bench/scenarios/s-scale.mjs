// S: how cost grows with work. For each standing backlog (10k, 100k, 1M by default) and each
// PostgreSQL system: the preload rate (first vs last 10% of the bulk calls), single-enqueue
// latency with the backlog sitting there, time to the first job, the drain rate over its first
// 10%, middle and last 10%, single-enqueue latency during the drain, and table sizes and dead
// tuples afterwards (pg_stat_user_tables). Then, for Sluice, reads with a large history:
// queue_stats, all_jobs by id and getJob.
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import {
  checkLedger,
  createDatabase,
  log,
  nowMs,
  percentile,
  seqBatches,
  settle,
  sleep,
} from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';

/** Scenario id and title. */
export const id = 'S';
export const title = 'scale: standing backlog and history';

const PG_SYSTEMS = new Set(['sluice', 'graphile-worker', 'pg-boss', 'bullmq-pg']);

/** 10000 → "10k", 1000000 → "1M". */
export function label(n) {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/** Rate (jobs/s) between the first samples at or past two counts; null when not reached. */
function rateBetween(samples, fromCount, toCount) {
  const a = samples.find((s) => s.count >= fromCount);
  const b = samples.find((s) => s.count >= toCount);
  if (!a || !b || b.t <= a.t) return null;
  return ((b.count - a.count) / (b.t - a.t)) * 1000;
}

async function enqueueLatencies(producer, firstSeq, n, pauseMs) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = nowMs();
    await producer.one(firstSeq + i);
    out.push(nowMs() - t);
    if (pauseMs) await sleep(pauseMs);
  }
  return out;
}

/** The server's current WAL position (WAL is per cluster: the bench runs nothing else meanwhile). */
async function walLsn(client) {
  const { rows } = await client.query('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0].lsn;
}

async function walBytes(client, from, to) {
  const { rows } = await client.query('SELECT pg_wal_lsn_diff($2, $1)::float8 AS bytes', [
    from,
    to,
  ]);
  return rows[0].bytes;
}

/** Size and dead tuples of the database's tables (every system gets a database of its own). */
async function tableStats(client) {
  // Statistics reach the views asynchronously; give them a moment.
  await sleep(1200);
  const { rows } = await client.query(
    `SELECT relname, n_live_tup::bigint AS live, n_dead_tup::bigint AS dead,
       pg_total_relation_size(relid)::bigint AS bytes
     FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC`,
  );
  const total = rows.reduce((t, r) => t + Number(r.bytes), 0);
  const dead = rows.reduce((t, r) => t + Number(r.dead), 0);
  const top = rows
    .slice(0, 4)
    .map((r) => `${r.relname} ${(Number(r.bytes) / 1048576).toFixed(1)} MB`);
  return { totalMb: total / 1048576, dead, top };
}

async function runOne(ctx, system, backlog) {
  const { serverUrl, sizes, record } = ctx;
  const tag = `@${label(backlog)}`;
  const base = { scenario: 'S', system: system.name, variant: 'best', procs: 1 };
  const why = system.workerUnavailable();
  if (why) {
    record({ ...base, metric: `drain rate middle ${tag}`, value: null, unit: 'jobs/s', na: why });
    return;
  }
  const db = await createDatabase(serverUrl, `s_${system.name}_${label(backlog)}`);
  const client = new pg.Client({ connectionString: db.url });
  let workers;
  let producer;
  try {
    await system.install(db.url, 'best');
    await client.connect();
    producer = await system.openProducer(db.url, 'best');
    log(`S ${system.name}: preload ${backlog} jobs`);
    const lsn0 = await walLsn(client);
    const calls = [];
    for (const seqs of seqBatches(0, backlog, 5000)) {
      const t = nowMs();
      await producer.bulk(seqs);
      calls.push({ n: seqs.length, ms: nowMs() - t });
    }
    const tenth = Math.max(1, Math.round(calls.length / 10));
    const rateOf = (cs) =>
      (cs.reduce((t, c) => t + c.n, 0) / cs.reduce((t, c) => t + c.ms, 0)) * 1000;
    record({
      ...base,
      metric: `preload first 10% ${tag}`,
      value: rateOf(calls.slice(0, tenth)),
      unit: 'jobs/s',
      better: 'higher',
    });
    record({
      ...base,
      metric: `preload last 10% ${tag}`,
      value: rateOf(calls.slice(-tenth)),
      unit: 'jobs/s',
      better: 'higher',
    });
    const lsn1 = await walLsn(client);
    record({
      ...base,
      metric: `WAL per enqueued job ${tag}`,
      value: (await walBytes(client, lsn0, lsn1)) / backlog,
      unit: 'bytes',
      better: 'lower',
      note: 'bulk calls of 5,000',
    });
    await settle(db.url);
    // Single enqueues with the backlog sitting there (no worker yet).
    const idle = await enqueueLatencies(producer, backlog, sizes.sSingles, 0);
    for (const p of [50, 99]) {
      record({
        ...base,
        metric: `enqueue p${p} with backlog ${tag}`,
        value: percentile(idle, p),
        unit: 'ms',
        better: 'lower',
      });
    }
    const total = backlog + sizes.sSingles * 2;
    workers = await forkWorkers({ system: system.name, variant: 'best', url: db.url, procs: 1 });
    log(`S ${system.name}: drain ${total} jobs`);
    const samples = [];
    const lsn2 = await walLsn(client);
    const t0 = nowMs();
    await workers.start();
    let firstAt = null;
    let draining = true;
    const sampler = (async () => {
      while (draining) {
        const count = workers.processed();
        const t = nowMs();
        if (firstAt === null && count > 0) firstAt = t;
        samples.push({ t, count });
        await sleep(10);
      }
    })();
    // Single enqueues during the drain, spread over its first part.
    const during = await enqueueLatencies(producer, backlog + sizes.sSingles, sizes.sSingles, 5);
    const deadline = t0 + sizes.sTimeoutS * 1000;
    while (workers.processed() < total && nowMs() < deadline) await sleep(10);
    while ((await system.unfinished(client)) > 0 && nowMs() < deadline) await sleep(20);
    draining = false;
    await sampler;
    const drainWal = await walBytes(client, lsn2, await walLsn(client));
    const ledger = await workers.stop();
    workers = undefined;
    const check = checkLedger(ledger.seqs, total);
    const complete = check.distinct === total;
    record({
      ...base,
      metric: `time to first job ${tag}`,
      value: firstAt === null ? null : firstAt - t0,
      unit: 'ms',
      better: 'lower',
    });
    const phases = [
      // Thresholds on the backlog: the singles enqueued during the drain run after it (FIFO).
      ['first 10%', 1, 0.1 * backlog],
      ['middle', 0.45 * backlog, 0.55 * backlog],
      ['last 10%', 0.9 * backlog, backlog],
    ];
    for (const [name, from, to] of phases) {
      record({
        ...base,
        metric: `drain rate ${name} ${tag}`,
        value: rateBetween(samples, from, to),
        unit: 'jobs/s',
        better: 'higher',
        complete,
        verified: check.ok,
        detail: { jobs: total, ...check },
      });
    }
    record({
      ...base,
      metric: `WAL per drained job ${tag}`,
      value: drainWal / total,
      unit: 'bytes',
      better: 'lower',
      note: 'claim, completion, history',
    });
    record({
      ...base,
      metric: `enqueue p99 during drain ${tag}`,
      value: percentile(during, 99),
      unit: 'ms',
      better: 'lower',
    });
    const st = await tableStats(client);
    record({
      ...base,
      metric: `tables after ${tag}`,
      value: st.totalMb,
      unit: 'MB',
      better: 'lower',
      note: st.top.join(', '),
    });
    record({
      ...base,
      metric: `dead tuples after ${tag}`,
      value: st.dead,
      unit: 'rows',
      better: 'lower',
    });
    return rateBetween(samples, 0.45 * backlog, 0.55 * backlog);
  } finally {
    workers?.kill();
    await producer?.close().catch(() => undefined);
    await client.end().catch(() => undefined);
    await db.drop();
  }
}

/** Sluice's reads with `rows` of history: queue_stats, all_jobs by id, getJob; p50/p99 of 50 each. */
async function historyReads(ctx, system) {
  const rows = ctx.sizes.sHistory;
  const db = await createDatabase(ctx.serverUrl, `s_history_${label(rows)}`);
  const client = new pg.Client({ connectionString: db.url });
  try {
    await system.install(db.url, 'best');
    await client.connect();
    log(`S sluice: ${rows} rows of history`);
    // Spread over the last 6 days (their partitions exist), written in 1M-row statements.
    for (let from = 0; from < rows; from += 1_000_000) {
      await client.query(
        `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
           max_attempts, created_at, started_at, finished_at, result)
         SELECT nextval('sluice.job_id_seq'), 'bench', 'noop', '{"seq":0}', 'completed', 0, t, 1, 25,
           t, t, t, 'null'
         FROM (SELECT now() - (g % 518400) * interval '1 second' AS t
           FROM generate_series($1::bigint, $2::bigint) g) s`,
        [from, Math.min(rows, from + 1_000_000) - 1],
      );
    }
    await settle(db.url);
    const {
      rows: [{ bytes }],
    } =
      await client.query(`SELECT sum(pg_total_relation_size(c.oid))::float8 AS bytes FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sluice.job_history'::regclass`);
    ctx.record({
      scenario: 'S',
      system: 'sluice',
      variant: 'best',
      procs: 1,
      metric: `history disk per 1M jobs @${label(rows)} history`,
      value: ((bytes / rows) * 1e6) / 1048576,
      unit: 'MB',
      better: 'lower',
      note: 'tables and indexes; payload {"seq":0}, result null',
    });
    const {
      rows: [{ lo, hi }],
    } = await client.query(
      `SELECT min(id)::text AS lo, max(id)::text AS hi FROM sluice.job_history`,
    );
    // Ids spread over the whole history (every day partition), the same ones for each read.
    const idAt = (i) =>
      String(BigInt(lo) + ((BigInt(hi) - BigInt(lo)) * BigInt((i * 7919) % 1000)) / 1000n);
    const sluice = await import('sluice');
    const timed = async (fn) => {
      const out = [];
      for (let i = 0; i < 50; i++) {
        const t = nowMs();
        await fn(i);
        out.push(nowMs() - t);
      }
      return out;
    };
    const reads = {
      queue_stats: () => client.query(`SELECT * FROM sluice.queue_stats`),
      'all_jobs by id': (i) =>
        client.query(`SELECT * FROM sluice.all_jobs WHERE id = $1`, [idAt(i)]),
      getJob: (i) => sluice.getJob({ db: client, id: idAt(i) }),
    };
    for (const [name, fn] of Object.entries(reads)) {
      const lat = await timed(fn);
      for (const p of [50, 99]) {
        ctx.record({
          scenario: 'S',
          system: 'sluice',
          variant: 'best',
          procs: 1,
          metric: `${name} p${p} @${label(rows)} history`,
          value: percentile(lat, p),
          unit: 'ms',
          better: 'lower',
        });
      }
    }
  } finally {
    await client.end().catch(() => undefined);
    await db.drop();
  }
}

/** A small SVG: middle drain rate against backlog, one line per system (log-scale x). */
export function curveSvg(curves) {
  const w = 520;
  const h = 260;
  const pad = { l: 60, r: 130, t: 20, b: 40 };
  const all = curves.flatMap((c) => c.points);
  if (all.length === 0) return '';
  const xs = [...new Set(all.map((p) => p.backlog))].sort((a, b) => a - b);
  const maxY = Math.max(...all.map((p) => p.rate)) * 1.1;
  const x = (b) =>
    pad.l +
    (xs.length === 1
      ? 0
      : ((Math.log10(b) - Math.log10(xs[0])) / (Math.log10(xs.at(-1)) - Math.log10(xs[0]))) *
        (w - pad.l - pad.r));
  const y = (r) => h - pad.b - (r / maxY) * (h - pad.t - pad.b);
  const colors = ['#2563eb', '#dc2626', '#16a34a', '#9333ea'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#999"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#999"/>`,
    `<text x="${(w - pad.r + pad.l) / 2}" y="${h - 8}" text-anchor="middle">standing backlog (jobs)</text>`,
    `<text x="14" y="${(h - pad.b + pad.t) / 2}" transform="rotate(-90 14 ${(h - pad.b + pad.t) / 2})" text-anchor="middle">drain rate, middle 10% (jobs/s)</text>`,
  ];
  for (const b of xs)
    parts.push(`<text x="${x(b)}" y="${h - pad.b + 14}" text-anchor="middle">${label(b)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxY / 4) * i;
    parts.push(
      `<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v / 1000)}k</text>`,
    );
  }
  curves.forEach((c, i) => {
    const color = colors[i % colors.length];
    const pts = c.points.map((p) => `${x(p.backlog)},${y(p.rate)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of c.points)
      parts.push(`<circle cx="${x(p.backlog)}" cy="${y(p.rate)}" r="3" fill="${color}"/>`);
    parts.push(
      `<text x="${w - pad.r + 8}" y="${pad.t + 14 * i + 10}" fill="${color}">${c.system}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Every PostgreSQL system × backlog, then Sluice's reads with a large history. */
export async function run(ctx) {
  const backlogs = String(ctx.sizes.sBacklogs)
    .split(/[,_]/)
    .map(Number)
    .filter((n) => n > 0);
  const curves = [];
  for (const system of ctx.systems.filter((s) => PG_SYSTEMS.has(s.name))) {
    const points = [];
    for (const backlog of backlogs) {
      const rate = await runOne(ctx, system, backlog);
      if (rate) points.push({ backlog, rate });
    }
    curves.push({ system: system.name, points });
  }
  if (ctx.sizes.sSvg) {
    writeFileSync(ctx.sizes.sSvg, curveSvg(curves));
    log(`S: wrote ${ctx.sizes.sSvg}`);
  }
  const sluice = ctx.systems.find((s) => s.name === 'sluice');
  if (sluice && ctx.sizes.sHistory > 0) await historyReads(ctx, sluice);
}
