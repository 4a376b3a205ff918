// `sluice work --tasks ./tasks.js`: one worker process running the tasks a module exports.
import { InvalidArgumentError, type Command } from 'commander';
import pg from 'pg';
import {
  createLogger,
  createWorker,
  DatabaseUnreachableError,
  type Logger,
  type Task,
  type Worker,
} from 'sluice';
import { assertSchemaCurrent, assertSchemaName, listQueues, waitForDatabase } from 'sluice/admin';
import { CliError, describeError } from '../cli-error.js';
import { examples, globals } from '../command-helpers.js';
import { clusterRouterOf } from '../clusters.js';
import { redactUrl, resolveDatabaseUrl, type GlobalOptions } from '../connection.js';
import { loadTasks } from '../load-tasks.js';
import { serveWorkerMetrics, type MetricsServer, type WorkerSite } from '../metrics-server.js';
import { nameOf, positiveInt } from '../parse-args.js';
import { onStopSignal, stopSignal, type StopRequestedError } from '../stop-signals.js';

interface WorkOptions {
  tasks: string;
  queue: string[];
  concurrency?: number;
  bufferSize?: number;
  pollIntervalMs?: number;
  leaseMs?: number;
  graceMs?: number;
  listen: boolean;
  listenUrl?: string;
  connectTimeoutMs?: number;
  metricsPort?: number;
  metricsHost: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  }
  return n;
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a whole number of milliseconds.');
  }
  return Number(value);
}

const queueName = nameOf('queue');

/** How a queue is created, as a command to copy. */
function createCommand(queue: string, schema: string): string {
  return `sluice ${schema === 'sluice' ? '' : `--schema ${schema} `}queue create ${queue}`;
}

// Before the worker starts: the schema must be migrated (an older one is reported by
// assertSchemaCurrent), and a queue named with --queue must exist, or the worker would wait for
// nothing without a word. A task's queue that is missing is only a warning: jobs cannot be
// enqueued into it either, until it is created.
async function checkDatabase(
  url: string,
  schema: string,
  queues: { named: string[]; ofTasks: string[] },
  logger: Logger,
): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => undefined);
  try {
    await assertSchemaCurrent({ db: pool, schema });
    const known = new Set((await listQueues({ db: pool, schema })).map((q) => q.name));
    const missing = queues.named.filter((q) => !known.has(q));
    if (missing.length > 0) {
      const what = missing.map((q) => `"${q}"`).join(', ');
      const how = missing.map((q) => `\`${createCommand(q, schema)}\``).join(', ');
      throw new CliError(
        `${missing.length > 1 ? 'queues' : 'queue'} ${what} ${missing.length > 1 ? 'do' : 'does'} ` +
          `not exist (--queue): create ${missing.length > 1 ? 'them' : 'it'} with ${how}`,
      );
    }
    for (const queue of queues.ofTasks.filter((q) => !known.has(q))) {
      logger.warn(
        { queue, hint: createCommand(queue, schema) },
        'queue of a task does not exist: its jobs cannot be enqueued until it is created',
      );
    }
  } finally {
    await pool.end();
  }
}

// Workers and Postgres start in any order (Compose, Kubernetes): wait for the server, logging
// each failed attempt, forever unless --connect-timeout-ms says otherwise.
async function waitForServer(url: string, timeoutMs: number | undefined, logger: Logger) {
  try {
    await waitForDatabase({
      db: url,
      deadlineMs: timeoutMs,
      signal: stopSignal,
      // One short line per attempt: the stack of a refused connection says nothing more.
      onAttempt: ({ attempt, error, delayMs }) =>
        logger.warn(
          { attempt, retryInMs: delayMs, error: describeError(error) },
          'database not reachable yet',
        ),
    });
  } catch (err) {
    if (!(err instanceof DatabaseUnreachableError)) throw err;
    throw new CliError(
      `gave up reaching ${redactUrl(url)} (--connect-timeout-ms ${timeoutMs}): ${err.message}`,
      { cause: err },
    );
  }
}

/** Registers `sluice work`. */
export function registerWork(program: Command): void {
  program
    .command('work')
    .description(
      'run a worker process for the tasks a module exports (graceful stop on SIGTERM/SIGINT)',
    )
    .requiredOption('--tasks <file>', 'ES module exporting tasks with handlers')
    .option(
      '--queue <name>',
      'work this queue (repeatable; default: the queues of the tasks)',
      (v: string, prev: string[]) => [...prev, queueName(v)],
      [] as string[],
    )
    .option('--concurrency <n>', 'jobs run at once (default 10)', positiveInt)
    .option(
      '--buffer-size <n>',
      'claimed jobs kept ready beyond the running ones (default: the concurrency)',
      nonNegativeInt,
    )
    .option('--poll-interval-ms <n>', 'poll every n ms besides LISTEN (default 1000)', positiveInt)
    .option(
      '--lease-ms <n>',
      'lease of a claimed job, renewed by heartbeats (default 30000)',
      positiveInt,
    )
    .option(
      '--grace-ms <n>',
      'on SIGTERM, let running jobs finish this long before aborting them (default 25000)',
      nonNegativeInt,
    )
    .option(
      '--connect-timeout-ms <n>',
      'at start-up, give up if the database is not reachable for this long (default: wait forever)',
      nonNegativeInt,
    )
    .option('--no-listen', 'poll only, no LISTEN (for PgBouncer transaction pooling)')
    .option(
      '--listen-url <url>',
      'LISTEN on this direct connection, everything else through DATABASE_URL (a pooler)',
    )
    .option('--metrics-port <n>', 'serve Prometheus metrics on GET /metrics at this port', port)
    .option('--metrics-host <host>', 'address of the metrics endpoint', '127.0.0.1')
    .addHelpText(
      'after',
      examples(
        'sluice work --tasks ./tasks.js',
        'sluice work --tasks ./tasks.js --metrics-port 9464 --metrics-host 0.0.0.0',
        'sluice work --tasks ./tasks.js --queue mail --queue reports --concurrency 20',
        'DATABASE_URL=postgres://app@db/app sluice work --tasks ./dist/tasks.js --no-listen',
        'sluice work --tasks ./tasks.js --connect-timeout-ms 60000',
        'DATABASE_URL=postgres://app@pgbouncer:6432/app sluice work --tasks ./tasks.js --listen-url postgres://app@db:5432/app',
      ),
    )
    .action(async (opts: WorkOptions, cmd: Command) => {
      const g = globals(cmd);
      const schema = assertSchemaName(g.schema);
      const logger = createLogger(logLevelFromEnv());
      // A stop signal before the worker exists ends start-up between steps: nothing is open but
      // short-lived connections, and bin.ts exits 0.
      const isStopped = () => {
        if (!stopSignal.aborted) return false;
        const { signal } = stopSignal.reason as StopRequestedError;
        logger.info({ signal }, 'stopped during start-up');
        return true;
      };
      // The module is loaded before any connection, so a bad module fails fast.
      const tasks = await loadTasks(opts.tasks);
      if (isStopped()) return;
      const sites = await placeWorkers(g, opts.queue, tasks);
      if (isStopped()) return;
      if (opts.listenUrl !== undefined && sites.length > 1) {
        throw new CliError('--listen-url names one server: with --clusters, give --cluster too');
      }
      const workers: Worker[] = [];
      for (const site of sites) {
        const siteLogger =
          site.cluster === undefined
            ? logger
            : (logger.child?.({ cluster: site.cluster }) ?? logger);
        try {
          await waitForServer(site.url, opts.connectTimeoutMs, siteLogger);
        } catch (err) {
          if (isStopped()) return;
          throw err;
        }
        await checkDatabase(site.url, schema, site.queues, siteLogger);
        if (isStopped()) return;
        const named = site.queues.named.length > 0 ? site.queues.named : site.queues.ofTasks;
        workers.push(
          createWorker({
            db: site.url,
            schema,
            // Each cluster's worker runs the tasks of the queues placed on it.
            tasks:
              site.cluster === undefined ? tasks : tasks.filter((t) => named.includes(t.queue)),
            logger: siteLogger,
            queues: site.cluster !== undefined || opts.queue.length > 0 ? named : undefined,
            concurrency: opts.concurrency,
            bufferSize: opts.bufferSize,
            pollIntervalMs: opts.pollIntervalMs,
            leaseMs: opts.leaseMs,
            graceMs: opts.graceMs,
            isListenEnabled: opts.listen,
            listenUrl: opts.listenUrl,
            preparedStatements: process.env.SLUICE_PREPARED_STATEMENTS !== 'off',
          }),
        );
      }
      // Background errors are logged by the worker and retried; they must not end the process.
      for (const w of workers) w.on('error', () => undefined);
      let metricsServer: MetricsServer | undefined;
      const starting = Promise.all(workers.map((w) => w.start())).then(async () => {
        if (opts.metricsPort === undefined) return;
        const { metricsHost: host, metricsPort } = opts;
        metricsServer = await serveWorkerMetrics({
          workers,
          sites,
          schema,
          host,
          port: metricsPort,
          logger,
        });
      });
      // A stop while start() runs waits for it: stopping half-started parts would leave the rest
      // running. Then the graceful stop; a second signal aborts running jobs at once.
      onStopSignal((_signal, count) => {
        if (count > 1) return workers.forEach((w) => w.abortAll());
        void starting
          .catch(() => undefined)
          .then(() => Promise.all(workers.map((w) => w.stop())))
          .then(() => metricsServer?.close())
          .then(
            () => process.exit(0),
            () => process.exit(1),
          );
      });
      try {
        await starting;
      } catch (err) {
        await Promise.all(workers.map((w) => w.stop({ graceMs: 0 }).catch(() => undefined)));
        throw err;
      }
    });
}

/**
 * Where workers run: the one database; or with --clusters, one worker per cluster that holds any
 * of the queues (those given, else the tasks'), each with the queues placed on it.
 */
async function placeWorkers(
  g: GlobalOptions,
  queues: string[],
  tasks: Task[],
): Promise<WorkerSite[]> {
  const router = clusterRouterOf(g);
  const ofTasks = [...new Set(tasks.map((t) => t.queue))];
  if (!router) {
    const url = await resolveDatabaseUrl(g);
    return [
      {
        cluster: undefined,
        url,
        queues: { named: queues, ofTasks: queues.length > 0 ? [] : ofTasks },
      },
    ];
  }
  const wanted = queues.length > 0 ? queues : ofTasks;
  const sites = new Map<string, string[]>();
  for (const q of wanted) {
    const cluster = router.clusterOf(q);
    if (g.cluster !== undefined && cluster !== g.cluster) continue;
    sites.set(cluster, [...(sites.get(cluster) ?? []), q]);
  }
  if (sites.size === 0) {
    throw new CliError(`no queue of these tasks is placed on cluster ${g.cluster ?? ''}`);
  }
  return [...sites].map(([cluster, qs]) => ({
    cluster,
    url: router.urlOf(cluster),
    queues: queues.length > 0 ? { named: qs, ofTasks: [] } : { named: [], ofTasks: qs },
  }));
}

// The environment is read here, at the edge; the library takes options.
function logLevelFromEnv(): 'debug' | 'info' | 'warn' | 'error' | 'silent' {
  const level = process.env.SLUICE_LOG_LEVEL;
  return level === 'debug' || level === 'warn' || level === 'error' || level === 'silent'
    ? level
    : 'info';
}
