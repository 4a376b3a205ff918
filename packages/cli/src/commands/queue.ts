// `sluice queue create|list|pause|resume|set`: queue settings through the library's API.
import type { Command } from 'commander';
import { UnknownQueueError } from 'sluice';
import {
  createQueue,
  listQueues,
  pauseQueue,
  resumeQueue,
  updateQueue,
  type QueueInfo,
  type QueueSettings,
} from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals } from '../command-helpers.js';
import { tagged, withClusterColumn } from '../clusters.js';
import { withDb, withEachDb } from '../connection.js';
import { formatTable, printJson } from '../format-table.js';
import { limitOrNone, nameOf, positiveInt } from '../parse-args.js';

interface SettingsOptions {
  maxPayloadBytes?: number;
  concurrencyLimit?: number | 'none';
  rateLimit?: number | 'none';
  rateWindowMs?: number;
  groupConcurrencyLimit?: number | 'none';
  groupRateLimit?: number | 'none';
  historyRetention?: string;
  deadLetterRetention?: string;
}

function withSettingsOptions(cmd: Command): Command {
  return cmd
    .option('--max-payload-bytes <n>', 'largest payload accepted at enqueue', positiveInt)
    .option('--concurrency-limit <n|none>', 'jobs running at once across all workers', limitOrNone)
    .option('--rate-limit <n|none>', 'job starts per rate window across all workers', limitOrNone)
    .option('--rate-window-ms <ms>', 'length of the rate window (default 1000)', positiveInt)
    .option('--group-concurrency-limit <n|none>', 'running jobs per group key', limitOrNone)
    .option('--group-rate-limit <n|none>', 'starts per group key per rate window', limitOrNone)
    .option('--history-retention <interval>', 'keep finished jobs this long, e.g. "7 days"')
    .option('--dead-letter-retention <interval>', 'keep dead letters this long, e.g. "30 days"');
}

// Only the options given: undefined keeps a setting, `none` becomes null, which clears a limit.
function settingsFrom(opts: SettingsOptions): Omit<QueueSettings, 'name'> {
  return Object.fromEntries(
    Object.entries(opts)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, v === 'none' ? null : v]),
  );
}

function showLimit(n: number | null): string {
  return n === null ? '-' : String(n);
}

function showWindow(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function queueTable(rows: (QueueInfo & { cluster?: string })[]): string {
  return formatTable(
    ...withClusterColumn(
      rows,
      [
        'QUEUE',
        'PAUSED',
        'CONCURRENCY',
        'RATE',
        'GROUP CONC',
        'GROUP RATE',
        'MAX PAYLOAD',
        'HISTORY',
        'DEAD LETTERS',
      ],
      (q) => [
        q.name,
        q.isPaused ? 'yes' : 'no',
        showLimit(q.concurrencyLimit),
        q.rateLimit === null ? '-' : `${q.rateLimit}/${showWindow(q.rateWindowMs)}`,
        showLimit(q.groupConcurrencyLimit),
        q.groupRateLimit === null ? '-' : `${q.groupRateLimit}/${showWindow(q.rateWindowMs)}`,
        String(q.maxPayloadBytes),
        q.historyRetention,
        q.deadLetterRetention,
      ],
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
    ),
  );
}

/** Registers `sluice queue …`. */
export function registerQueue(program: Command): void {
  const queue = program
    .command('queue')
    .description('create, list, pause, resume and configure queues')
    .addHelpText(
      'after',
      examples('sluice queue create mail --concurrency-limit 5', 'sluice queue list'),
    );

  withSettingsOptions(
    queue
      .command('create')
      .description(
        'create a queue (and its job partition); an existing queue gets the settings given',
      )
      .argument('<name>', 'queue name: 1-128 letters, digits or _ . - :', nameOf('queue')),
  )
    .addHelpText(
      'after',
      examples(
        'sluice queue create mail',
        'sluice queue create webhooks --concurrency-limit 10 --rate-limit 100 --rate-window-ms 60000',
        'sluice queue create reports --history-retention "30 days"',
      ),
    )
    .action(async (name: string, opts: SettingsOptions, cmd: Command) => {
      const created = await withDb(
        globals(cmd),
        (db, schema) => createQueue({ db, schema, name, ...settingsFrom(opts) }),
        { queue: name },
      );
      console.log(
        created ? `created queue ${name}` : `queue ${name} already exists; settings applied`,
      );
    });

  queue
    .command('list')
    .description('list queues with their settings')
    .option('--json', 'print the queues as JSON')
    .addHelpText('after', examples('sluice queue list', 'sluice queue list --json'))
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const rows = tagged(
        await withEachDb(globals(cmd), (db, schema) => listQueues({ db, schema })),
      );
      if (opts.json) printJson(rows);
      else console.log(queueTable(rows));
    });

  for (const [verb, fn, what] of [
    ['pause', pauseQueue, 'stop new starts of the queue on every worker; running jobs finish'],
    ['resume', resumeQueue, 'let workers start the queue’s jobs again'],
  ] as const) {
    queue
      .command(verb)
      .description(what)
      .argument('<name>', 'queue name', nameOf('queue'))
      .addHelpText('after', examples(`sluice queue ${verb} mail`))
      .action(async (name: string, _opts: unknown, cmd: Command) => {
        const ok = await withDb(globals(cmd), (db, schema) => fn({ db, schema, name }), {
          queue: name,
        });
        if (!ok) throw new UnknownQueueError(name);
        console.log(`${verb === 'pause' ? 'paused' : 'resumed'} queue ${name}`);
      });
  }

  withSettingsOptions(
    queue
      .command('set')
      .description('change settings of a queue; `none` clears a limit')
      .argument('<name>', 'queue name', nameOf('queue')),
  )
    .addHelpText(
      'after',
      examples(
        'sluice queue set mail --rate-limit 100 --rate-window-ms 60000',
        'sluice queue set mail --concurrency-limit none',
        'sluice queue set mail --max-payload-bytes 1048576',
      ),
    )
    .action(async (name: string, opts: SettingsOptions, cmd: Command) => {
      const settings = settingsFrom(opts);
      if (Object.keys(settings).length === 0) {
        throw new CliError(
          'nothing to change: give at least one setting (see `sluice queue set --help`)',
        );
      }
      const ok = await withDb(
        globals(cmd),
        (db, schema) => updateQueue({ db, schema, name, ...settings }),
        { queue: name },
      );
      if (!ok) throw new UnknownQueueError(name);
      console.log(`updated queue ${name}`);
    });
}
