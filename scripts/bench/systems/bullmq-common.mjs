// BullMQ 6 adapters, one per configuration: Redis as the machine runs it, a Redis with
// `appendonly yes` + `appendfsync everysec` that the bench starts itself, and BullMQ's PostgreSQL
// backend on the bench's database. BullMQ cannot enqueue in the caller's transaction: its B path
// is the app transaction followed by an enqueue after COMMIT, the dual write a BullMQ user does
// (not atomic: a crash between the two loses the job).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowProducer, Queue, Worker, createPostgresBackend, withBackend } from 'bullmq';
import IORedis from 'ioredis';
import pg from 'pg';

const AOF_PORT = 6391;

/** Worker variants: best = the settings BullMQ documents for throughput. */
export const workerVariants = {
  best: {
    label: 'concurrency 32 per process; jobs added with removeOnComplete/removeOnFail',
    options: { concurrency: 32 },
  },
  defaults: { label: 'Worker defaults (concurrency 1)', options: {} },
};

// One Redis with AOF for the whole bench run, started on first use and stopped at exit.
let aof;
function startAofRedis() {
  if (aof) return aof.ready;
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-aof-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(AOF_PORT),
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--dir',
      dir,
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  // The server must not keep the bench alive: it is killed when the bench exits.
  child.unref();
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      const c = new IORedis({ port: AOF_PORT, lazyConnect: true, maxRetriesPerRequest: 0 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        return;
      } catch {
        c.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('redis-server with appendonly did not start');
  })();
  process.on('exit', () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  aof = { ready };
  return ready;
}

/** The queue name of one bench database: each scenario run gets a fresh, empty queue. */
function queueName(url) {
  return `bench-${new URL(url).pathname.slice(1)}`;
}

/** The URL of the database a pg client is connected to (the bench hands adapters clients). */
function urlOf(client) {
  const p = client.connectionParameters;
  const auth = p.password ? `${p.user}:${encodeURIComponent(p.password)}` : p.user;
  return `postgres://${auth}@${p.host}:${p.port}/${p.database}`;
}

/**
 * Builds one configuration's adapter. `kind`: 'redis' | 'redis-aof' | 'pg'.
 * @param {{ name: string, kind: 'redis' | 'redis-aof' | 'pg' }} c
 */
export function makeAdapter({ name, kind }) {
  const isPg = kind === 'pg';
  const classes = isPg ? withBackend(createPostgresBackend) : { Queue, Worker, FlowProducer };
  const connection = (url) => {
    if (isPg) return url;
    return new IORedis({
      port: kind === 'redis-aof' ? AOF_PORT : 6379,
      maxRetriesPerRequest: null,
    });
  };
  const jobOptions = { removeOnComplete: true, removeOnFail: true };

  return {
    name,
    producerVariants: {
      any: isPg ? 'Queue.addBulk / add on the PostgreSQL backend' : 'Queue.addBulk / add',
    },
    workerVariants,
    workerUnavailable: () => null,

    /** PostgreSQL: BullMQ's own migrations in the bench database; Redis: the AOF server. */
    async install(url) {
      if (kind === 'redis-aof') await startAofRedis();
      if (isPg) {
        const q = new classes.Queue(queueName(url), {
          connection: { connectionString: url, migrate: true },
        });
        await q.waitUntilReady?.();
        await q.close();
      }
    },

    async openProducer(url) {
      if (kind === 'redis-aof') await startAofRedis();
      const conn = connection(url);
      const queue = new classes.Queue(queueName(url), { connection: conn });
      const appPool = new pg.Pool({ connectionString: url, max: 2 });
      return {
        bulk: (seqs) =>
          queue.addBulk(seqs.map((seq) => ({ name: 'noop', data: { seq }, opts: jobOptions }))),
        one: (seq) => queue.add('noop', { seq }, jobOptions),
        delayed: (seq, delayMs) => queue.add('noop', { seq }, { ...jobOptions, delay: delayMs }),
        // Not atomic: the app transaction commits, then the job is added outside it (B).
        afterCommit: (payload) => queue.add('noop', payload, jobOptions),
        close: async () => {
          await queue.close();
          if (!isPg) conn.disconnect();
          await appPool.end();
        },
      };
    },

    async unfinished(client) {
      const url = urlOf(client);
      const conn = connection(url);
      const queue = new classes.Queue(queueName(url), { connection: conn });
      try {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).reduce((a, b) => a + b, 0);
      } finally {
        await queue.close();
        // A connection handed to BullMQ stays open after close(): it would keep the bench alive.
        if (!isPg) conn.disconnect();
      }
    },

    async stored(client) {
      const url = urlOf(client);
      const conn = connection(url);
      const queue = new classes.Queue(queueName(url), { connection: conn });
      try {
        const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized'], 0, -1);
        return { count: jobs.length, distinct: new Set(jobs.map((j) => j.data.seq)).size };
      } finally {
        await queue.close();
        if (!isPg) conn.disconnect();
      }
    },

    async prepareWorker({ url, variant, onJob }) {
      const { options } = workerVariants[variant];
      let worker;
      const conn = connection(url);
      return {
        async start() {
          worker = new classes.Worker(
            queueName(url),
            async (job) => {
              onJob(job.data.seq);
            },
            { connection: conn, ...options },
          );
          await worker.waitUntilReady();
        },
        stop: async () => {
          await worker?.close();
          if (!isPg) conn.disconnect();
        },
      };
    },

    /**
     * Scenario F: FlowProducer.add, one call per shape. A BullMQ job has at most one parent
     * (`opts.parent` names one job) and a parent runs after its children, so fan-in and chain
     * are trees (the chain nested M deep, its first step the deepest child); fan-out, N jobs
     * waiting for one job, has no form.
     */
    flows: {
      label: 'FlowProducer.add, one call per shape (trees: a parent runs after its children)',
      unavailable: () => null,
      na: {
        fanOut:
          'not expressible: a BullMQ job has at most one parent (opts.parent), so N jobs cannot wait for one job',
      },
      async install(url) {
        if (kind === 'redis-aof') await startAofRedis();
        if (isPg) {
          const q = new classes.Queue(queueName(url), {
            connection: { connectionString: url, migrate: true },
          });
          await q.waitUntilReady?.();
          await q.close();
        }
      },
      async openProducer(url) {
        if (kind === 'redis-aof') await startAofRedis();
        const conn = connection(url);
        const producer = new classes.FlowProducer({ connection: conn });
        const queue = queueName(url);
        const node = (seq, children) => ({
          name: 'noop',
          queueName: queue,
          data: { seq },
          opts: jobOptions,
          ...(children ? { children } : {}),
        });
        return {
          ready: () => producer.waitUntilReady(),
          fanIn: (childSeqs, parentSeq) =>
            producer.add(
              node(
                parentSeq,
                childSeqs.map((seq) => node(seq)),
              ),
            ),
          chain: (seqs) => {
            let tree;
            for (const seq of seqs) tree = node(seq, tree ? [tree] : undefined);
            return producer.add(tree);
          },
          close: async () => {
            await producer.close();
            if (!isPg) conn.disconnect();
          },
        };
      },
      async prepareWorker({ url, onJob, onEnd }) {
        const { options } = workerVariants.best;
        let worker;
        const conn = connection(url);
        return {
          async start() {
            worker = new classes.Worker(
              queueName(url),
              async (job) => {
                onEnd(onJob(job.data.seq));
              },
              { connection: conn, ...options },
            );
            await worker.waitUntilReady();
          },
          stop: async () => {
            await worker?.close();
            if (!isPg) conn.disconnect();
          },
        };
      },
    },
  };
}
