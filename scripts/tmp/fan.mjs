import pg from 'pg';
import { z } from 'zod';
import {
  defineTask,
  flow,
  createWorker,
  migrate,
} from '/work/wt/flows/packages/sluice/dist/index.js';
const url = 'postgres://postgres@127.0.0.1:5432/fantry';
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS fantry');
await admin.query('CREATE DATABASE fantry');
await admin.end();
const pool = new pg.Pool({ connectionString: url });
await migrate({ db: pool });
const child = defineTask({ name: 'c', schema: z.object({ n: z.number() }) });
const parent = defineTask({ name: 'p', schema: z.object({}) });
const N = Number(process.argv[2] ?? 10000);
const f = flow();
const kids = Array.from({ length: N }, (_, n) => f.add(child, { n }));
f.add(parent, {}, { dependsOn: kids });
let t = performance.now();
const out = await f.enqueue({ db: pool });
console.log('enqueue', (performance.now() - t).toFixed(0), 'ms');
let done;
const finished = new Promise((r) => (done = r));
let depsMs;
const w = createWorker({
  db: url,
  concurrency: 32,
  tasks: [
    child.handle(({ n }) => n),
    parent.handle(async (_p, ctx) => {
      const t0 = performance.now();
      const d = await ctx.dependencies();
      depsMs = performance.now() - t0;
      done();
      return d.length;
    }),
  ],
  logger: { debug() {}, info() {}, warn() {}, error: console.error },
});
t = performance.now();
await w.start();
await finished;
console.log(
  'drain+release',
  (performance.now() - t).toFixed(0),
  'ms',
  'deps read',
  depsMs.toFixed(0),
  'ms',
);
await w.stop();
await pool.end();
