// Output: one JSON line per result as it comes, and at the end a Markdown report with the
// environment, every figure with its ratio to the baselines and to each peer, and the targets.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { round, withClient } from './lib.mjs';

const SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'full_page_writes',
  'wal_sync_method',
  'max_wal_size',
  'max_connections',
];

const PEERS = ['graphile-worker', 'pg-boss', 'bullmq-redis', 'bullmq-redis-aof', 'bullmq-pg'];

function packageVersion(name) {
  try {
    const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** What the numbers were measured on. */
export async function environment(serverUrl, source) {
  const pg = await withClient(serverUrl, async (c) => {
    const version = (await c.query('SHOW server_version')).rows[0].server_version;
    const settings = {};
    for (const name of SETTINGS) {
      settings[name] = (await c.query(`SELECT current_setting($1) AS v`, [name])).rows[0].v;
    }
    return { version, settings };
  });
  const cpus = os.cpus();
  return {
    postgres: { source, ...pg },
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    packages: Object.fromEntries(
      ['sluice', 'graphile-worker', 'pg-boss', 'bullmq', 'ioredis', 'pg'].map((p) => [
        p,
        packageVersion(p),
      ]),
    ),
  };
}

/** Prints one result as a JSON line on stdout (rounded values, full detail). */
export function printResult(result) {
  process.stdout.write(`${JSON.stringify({ ...result, value: round(result.value) })}\n`);
}

const same = (a, b) =>
  a.scenario === b.scenario && a.metric === b.metric && (a.procs ?? 0) === (b.procs ?? 0);

function find(results, pred) {
  return results.find((r) => pred(r) && typeof r.value === 'number');
}

/** The peer's best configuration for the same scenario, metric and process count. */
function peerRef(results, row, peer) {
  return find(
    results,
    (r) => r.system === peer && same(r, row) && (r.variant === 'best' || r.variant === 'any'),
  );
}

function baselineRef(results, row) {
  if (row.scenario === 'C') {
    return find(results, (r) => r.scenario === 'C' && r.system === 'raw-sql');
  }
  if (row.scenario === 'B') {
    return find(
      results,
      (r) => r.scenario === 'B' && r.system === 'raw-sql' && r.variant === 'no-enqueue',
    );
  }
  return undefined;
}

function fmtValue(r) {
  if (typeof r.value !== 'number') return `n/a (${r.na ?? 'no value'})`;
  const v = round(r.value).toLocaleString('en-US');
  return r.complete === false ? `${v} ${r.unit} (incomplete)` : `${v} ${r.unit}`;
}

function ratio(value, ref) {
  if (typeof value !== 'number' || !ref || typeof ref.value !== 'number' || ref.value === 0) {
    return '—';
  }
  return `${(value / ref.value).toFixed(2)}×`;
}

function fmtVerified(r) {
  if (r.verified === undefined) return '—';
  if (!r.verified) return '✗';
  return r.complete === false ? '✓ (ran once; not all ran)' : '✓';
}

/** Evaluates the issue's targets from one run's results. */
function targets(results) {
  const get = (pred) => find(results, pred);
  const s = (scenario, metric, procs, variant = 'best') =>
    get(
      (r) =>
        r.system === 'sluice' &&
        r.scenario === scenario &&
        r.metric === metric &&
        (procs === undefined || r.procs === procs) &&
        (r.variant === variant || r.variant === 'any'),
    );
  const peerBest = (scenario, metric, procs, pick) => {
    const vals = results.filter(
      (r) =>
        PEERS.includes(r.system) &&
        r.scenario === scenario &&
        r.metric === metric &&
        (procs === undefined || r.procs === procs) &&
        typeof r.value === 'number',
    );
    return vals.length ? pick(...vals.map((r) => r.value)) : undefined;
  };
  const out = [];
  const line = (name, ok, detail) =>
    out.push(`| ${name} | ${ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met'} | ${detail} |`);
  const pct = (a, b) => `${((a / b) * 100).toFixed(0)}%`;
  const x = (a, b) => `${(a / b).toFixed(2)}×`;

  for (const procs of [1, 2]) {
    const me = s('C', 'drain rate', procs);
    const gw = get(
      (r) =>
        r.system === 'graphile-worker' &&
        r.scenario === 'C' &&
        r.variant === 'best' &&
        r.procs === procs,
    );
    const rawC = baselineRef(results, { scenario: 'C' });
    const ok =
      me && gw && rawC ? me.value >= 1.5 * gw.value && me.value >= 0.4 * rawC.value : undefined;
    line(
      `C drain (${procs} proc): ≥ 1.5× graphile-worker best, ≥ 40% of raw`,
      ok,
      me && gw && rawC
        ? `${x(me.value, gw.value)} gw, ${pct(me.value, rawC.value)} of raw`
        : 'missing figures',
    );
  }
  {
    const me = s('A', 'enqueue rate');
    const best = peerBest('A', 'enqueue rate', undefined, Math.max);
    line(
      'A bulk enqueue: ≥ 2.5× the best peer',
      me && best ? me.value >= 2.5 * best : undefined,
      me && best ? `${x(me.value, best)} best peer` : 'missing figures',
    );
  }
  {
    const me = s('B', 'app transactions');
    const base = baselineRef(results, { scenario: 'B' });
    const best = peerBest('B', 'app transactions', undefined, Math.max);
    const floor = find(
      results,
      (r) => r.scenario === 'B' && r.system === 'raw-sql' && r.variant === 'one-more-insert',
    );
    const floorNote = me && floor ? `; ${pct(me.value, floor.value)} of one-more-insert` : '';
    line(
      'B: ≥ 90% of the app transaction alone, above both peers',
      me && base && best ? me.value >= 0.9 * base.value && me.value > best : undefined,
      me && base && best
        ? `${pct(me.value, base.value)} of no-enqueue, ${x(me.value, best)} best peer${floorNote}`
        : 'missing figures',
    );
  }
  {
    const p50 = s('D', 'p50 latency', 1);
    const p99 = s('D', 'p99 latency', 1);
    const peer50 = peerBest('D', 'p50 latency', 1, Math.min);
    const peer99 = peerBest('D', 'p99 latency', 1, Math.min);
    const ok =
      p50 && p99 && peer50 !== undefined && peer99 !== undefined
        ? p50.value <= 3 && p99.value <= 15 && p50.value < peer50 && p99.value < peer99
        : undefined;
    line(
      'D idle latency: p50 ≤ 3 ms, p99 ≤ 15 ms, below both peers',
      ok,
      p50 && p99
        ? `p50 ${round(p50.value)} ms, p99 ${round(p99.value)} ms (best peer ${round(peer50)} / ${round(peer99)} ms)`
        : 'missing figures',
    );
  }
  {
    const p99 = s('E', 'p99 latency', undefined);
    const backlog = s('E', 'backlog at end', undefined);
    const rate = backlog?.detail?.producedRate ?? 0;
    const ok =
      p99 && backlog
        ? p99.value <= 50 && backlog.value <= rate * 0.1 && backlog.complete !== false
        : undefined;
    line(
      'E steady load: p99 ≤ 50 ms, no growing backlog (≤ 100 ms of work left at the end)',
      ok,
      p99 && backlog
        ? `p99 ${round(p99.value)} ms, backlog ${backlog.value} jobs`
        : 'missing figures',
    );
  }
  for (const shape of ['fan-out 1→N', 'fan-in N→1', 'chain of M']) {
    const rate = s('F', `${shape}: rate`, 1);
    const p99 = s('F', `${shape}: release p99`, 1);
    const peer = (system, metric) =>
      find(
        results,
        (r) =>
          r.system === system && r.scenario === 'F' && r.metric === metric && r.variant === 'best',
      );
    const naOf = (system) =>
      results.find(
        (r) => r.system === system && r.scenario === 'F' && r.metric === `${shape}: rate` && r.na,
      );
    const bull = peer('bullmq-pg', `${shape}: rate`);
    const boss = peer('pg-boss', `${shape}: rate`);
    const checks = [];
    const parts = [];
    if (rate && bull) {
      checks.push(rate.value >= 5 * bull.value);
      parts.push(`${x(rate.value, bull.value)} bullmq-pg`);
    } else if (naOf('bullmq-pg')) parts.push('bullmq-pg: not expressible');
    if (rate && boss) {
      checks.push(rate.value > boss.value);
      parts.push(`${x(rate.value, boss.value)} pg-boss`);
    } else if (naOf('pg-boss')) parts.push('pg-boss: not expressible');
    if (p99) {
      checks.push(p99.value <= 20);
      parts.push(`release p99 ${round(p99.value)} ms`);
    }
    const first = s('F', `${shape}: first release`, 1);
    if (first) parts.push(`first release ${round(first.value)} ms (not part of the check)`);
    line(
      `F ${shape} (issue 12): ≥ 5× BullMQ flows on PostgreSQL, faster than pg-boss dependsOn, release p99 ≤ 20 ms (idle worker)`,
      rate && p99 && checks.length ? checks.every(Boolean) : undefined,
      rate && p99 ? parts.join(', ') : 'missing figures',
    );
  }
  benchTargets(results, { s, get, line, pct, x });
  return out;
}

/**
 * Adds the rows of the benchmark issue's (14) targets through `line`: like against like, Sluice's durable worker commits
 * against the peers' durable ones; the S curve against its own small backlog.
 */
function benchTargets(results, { s, get, line, x, pct }) {
  const peer = (system, scenario, metric, procs) =>
    get(
      (r) =>
        r.system === system &&
        r.scenario === scenario &&
        r.metric === metric &&
        r.variant === 'best' &&
        (procs === undefined || r.procs === procs) &&
        typeof r.value === 'number',
    );
  for (const procs of [1, 2]) {
    // Sluice's best durable configuration: with history kept, or deleting finished jobs as
    // graphile-worker does (the variant is named in the row).
    const me = ['durable', 'durable-nohist']
      .map((variant) => s('C', 'drain rate', procs, variant))
      .filter(Boolean)
      .sort((a, b) => b.value - a.value)[0];
    const checks = [
      ['graphile-worker', 2],
      ['bullmq-redis-aof', 3],
      ['bullmq-pg', 30],
    ].map(([system, times]) => ({ system, times, r: peer(system, 'C', 'drain rate', procs) }));
    const known = checks.filter((c) => c.r);
    line(
      `C drain durable (${procs} proc, issue 14): ≥ 2× graphile-worker, ≥ 3× BullMQ AOF Redis, ≥ 30× BullMQ PostgreSQL`,
      me && known.length === checks.length
        ? known.every((c) => me.value >= c.times * c.r.value)
        : undefined,
      me
        ? `${me.variant}: ` +
            (known.map((c) => `${x(me.value, c.r.value)} ${c.system}`).join(', ') || 'no peers')
        : 'missing figures (run with --variants best,durable)',
    );
  }
  {
    const p99 = s('D', 'p99 latency', 1);
    const delayed = s('D', 'p99 lateness, delayed', 1);
    const cron = s('D', 'p99 lateness, cron tick', 1);
    line(
      'D (issue 14): idle p99 ≤ 5 ms; delayed jobs and cron ticks p99 ≤ 20 ms late',
      p99 && delayed && cron
        ? p99.value <= 5 && delayed.value <= 20 && cron.value <= 20
        : undefined,
      p99
        ? `idle p99 ${round(p99.value)} ms, delayed p99 ${round(delayed?.value)} ms, cron p99 ${round(cron?.value)} ms`
        : 'missing figures',
    );
  }
  {
    const rates = results.filter(
      (r) =>
        r.system === 'sluice' &&
        r.scenario === 'S' &&
        /^drain rate middle @/.test(r.metric) &&
        typeof r.value === 'number',
    );
    const at = (tag, metric) =>
      get((r) => r.system === 'sluice' && r.scenario === 'S' && r.metric === `${metric} @${tag}`);
    // The smallest backlog with a figure: a 10k drain can be over before its middle is timed.
    const smallTag = ['10k', '100k'].find(
      (t) => typeof at(t, 'drain rate middle')?.value === 'number',
    );
    const small = smallTag && at(smallTag, 'drain rate middle');
    const big = at('1M', 'drain rate middle');
    const p99Small = at('10k', 'enqueue p99 with backlog');
    const p99Big = at('1M', 'enqueue p99 with backlog');
    line(
      'S (issue 14): drain with a 1M backlog ≥ 90% of a small one; single-enqueue p99 at 1M ≤ 2× at 10k',
      small && big && p99Small && p99Big
        ? big.value >= 0.9 * small.value && p99Big.value <= 2 * p99Small.value
        : undefined,
      small && big
        ? `drain ${pct(big.value, small.value)} of ${smallTag}; enqueue p99 ${round(p99Big?.value)} vs ${round(p99Small?.value)} ms`
        : `missing figures (${rates.length} backlogs measured)`,
    );
  }
}

/** The Markdown report: environment, one table row per result, targets. */
export function markdown({ results, env, sizes, mode, variants, flows = {}, startedAt, elapsedS }) {
  const lines = [];
  lines.push(`# Sluice bench — ${mode} run, ${startedAt}, ${Math.round(elapsedS)} s`);
  lines.push('');
  const s = env.postgres.settings;
  lines.push(
    `- PostgreSQL ${env.postgres.version} (${env.postgres.source}): ` +
      SETTINGS.map((k) => `${k}=${s[k]}`).join(', '),
  );
  lines.push(
    `- Machine: ${env.cpus} cores (os.cpus().length), ${env.cpuModel}, ${env.memoryGiB} GiB, ${env.os}; Node ${env.node}`,
  );
  lines.push(
    `- Packages: ${Object.entries(env.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  lines.push(
    `- Sizes: ${Object.entries(sizes)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
  for (const [system, v] of Object.entries(variants)) {
    lines.push(
      `- ${system} variants: ${Object.entries(v)
        .map(([k, label]) => `**${k}**: ${label}`)
        .join('; ')}`,
    );
  }
  if (results.some((r) => r.scenario === 'F') && Object.keys(flows).length) {
    lines.push(
      `- F flow APIs (best worker variant only): ${Object.entries(flows)
        .map(([system, label]) => `**${system}**: ${label}`)
        .join('; ')}`,
    );
  }
  lines.push('');
  lines.push(
    `| Scen. | System | Variant | Procs | Metric | Value | vs baseline | ${PEERS.map((p) => `vs ${p} (best)`).join(' | ')} | Verified |`,
  );
  lines.push(`|---|---|---|---|---|---|---|${PEERS.map(() => '---|').join('')}---|`);
  // Baselines first within each scenario; otherwise in run order.
  const rows = results
    .map((r, i) => ({ r, i }))
    .sort(
      (a, b) =>
        a.r.scenario.localeCompare(b.r.scenario) ||
        Number(b.r.system === 'raw-sql') - Number(a.r.system === 'raw-sql') ||
        a.i - b.i,
    )
    .map(({ r }) => r);
  for (const r of rows) {
    const base = baselineRef(results, r);
    const isBaseline = r.system === 'raw-sql';
    const baseCell =
      base && !isBaseline && typeof r.value === 'number'
        ? `${((r.value / base.value) * 100).toFixed(0)}% of ${base.variant}`
        : '—';
    const peerCells = PEERS.map((p) => (isBaseline ? '—' : ratio(r.value, peerRef(results, r, p))));
    const arrow = r.better === 'lower' ? ' ↓' : r.better === 'higher' ? ' ↑' : '';
    lines.push(
      `| ${r.scenario} | ${r.system} | ${r.variant} | ${r.procs ?? '—'} | ${r.metric}${arrow} | ${fmtValue(r)}${r.note ? ` — ${r.note}` : ''} | ${baseCell} | ${peerCells.join(' | ')} | ${fmtVerified(r)} |`,
    );
  }
  lines.push('');
  lines.push('↑ higher is better, ↓ lower is better. Ratios are value ÷ reference value.');
  lines.push('');
  lines.push('| Target (issues 4, 12, 14) | Status | From this run |');
  lines.push('|---|---|---|');
  lines.push(...targets(results));
  lines.push('');
  return lines.join('\n');
}
