// `sluice dlq list|show|replay|purge`: dead letters, replayed through the SQL API.
import type { Command } from 'commander';
import {
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetter,
  replayDeadLetters,
} from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals, shortTime } from '../command-helpers.js';
import type pg from 'pg';
import { tagged, withClusterColumn } from '../clusters.js';
import { withDb, withEachDb, type GlobalOptions } from '../connection.js';
import { formatRecord, formatTable, printJson } from '../format-table.js';
import { isoDate, jobId, nameOf, positiveInt } from '../parse-args.js';

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A count from the queue's cluster, or summed over every cluster when no queue is given. */
async function sumOver(
  g: GlobalOptions,
  queue: string | undefined,
  fn: (db: pg.Pool, schema: string) => Promise<number>,
): Promise<number> {
  return (await withEachDb(g, fn, queue)).reduce((sum, r) => sum + r.value, 0);
}

/** Registers `sluice dlq …`. */
export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('dead letters: jobs that will not be retried again until replayed')
    .addHelpText(
      'after',
      examples('sluice dlq list --queue mail', 'sluice dlq replay --all --queue mail'),
    );

  dlq
    .command('list')
    .description('newest dead letters first')
    .option('--queue <name>', 'only this queue', nameOf('queue'))
    .option('--task <name>', 'only this task', nameOf('task'))
    .option('--limit <n>', 'how many (default 50)', positiveInt, 50)
    .option('--json', 'print the dead letters as JSON')
    .addHelpText('after', examples('sluice dlq list', 'sluice dlq list --queue mail --json'))
    .action(
      async (
        opts: { queue?: string; task?: string; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        const list = (db: pg.Pool, schema: string) =>
          listDeadLetters({ db, schema, queue: opts.queue, task: opts.task, limit: opts.limit });
        const rows = tagged(await withEachDb(globals(cmd), list, opts.queue));
        if (opts.json) return printJson(rows);
        console.log(
          formatTable(
            ...withClusterColumn(
              rows,
              ['ID', 'QUEUE', 'TASK', 'ATTEMPTS', 'FAILED AT', 'REASON'],
              (d) => [
                d.id,
                d.queue,
                d.task,
                `${d.attempt}/${d.maxAttempts}`,
                shortTime(d.failedAt),
                clip(d.reason, 60),
              ],
              ['right', 'left', 'left', 'right'],
            ),
          ),
        );
      },
    );

  dlq
    .command('show')
    .description('every column of one dead letter, with each attempt’s error')
    .argument('<id>', 'job id', jobId)
    .option('--json', 'print the dead letter as JSON')
    .addHelpText('after', examples('sluice dlq show 42'))
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const row = await withDb(globals(cmd), (db, schema) => getDeadLetter({ db, schema, id }));
      if (!row) throw new CliError(`dead letter ${id} not found`);
      if (opts.json) printJson(row);
      else console.log(formatRecord({ ...row }));
    });

  dlq
    .command('replay')
    .description('move dead letters back to pending with fresh attempts')
    .argument('[id]', 'the dead letter to replay', jobId)
    .option('--all', 'replay every dead letter matching the filters')
    .option('--queue <name>', 'with --all: only this queue', nameOf('queue'))
    .option('--task <name>', 'with --all: only this task', nameOf('task'))
    .option('--since <iso>', 'with --all: only those that failed at or after this time', isoDate)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples(
        'sluice dlq replay 42',
        'sluice dlq replay --all --queue mail --since 2025-01-31T00:00:00Z',
      ),
    )
    .action(
      async (
        id: string | undefined,
        opts: { all?: boolean; queue?: string; task?: string; since?: Date; json?: boolean },
        cmd: Command,
      ) => {
        const hasFilter =
          opts.queue !== undefined || opts.task !== undefined || opts.since !== undefined;
        if ((id === undefined) === (opts.all !== true)) {
          throw new CliError('give either a dead letter id or --all');
        }
        if (id !== undefined && hasFilter) {
          throw new CliError('--queue, --task and --since go with --all, not with an id');
        }
        const g = globals(cmd);
        if (id !== undefined) {
          const newId = await withDb(g, (db, schema) => replayDeadLetter({ db, schema, id }));
          if (newId === null)
            throw new CliError(`dead letter ${id} not found (already replayed or purged?)`);
          if (opts.json) printJson({ id, jobId: newId });
          else console.log(`replayed dead letter ${id} as job ${newId}`);
          return;
        }
        const n = await sumOver(g, opts.queue, (db, schema) =>
          replayDeadLetters({
            db,
            schema,
            queue: opts.queue,
            task: opts.task,
            since: opts.since,
          }),
        );
        if (opts.json) printJson({ replayed: n });
        else console.log(`replayed ${n} dead letter${n === 1 ? '' : 's'}`);
      },
    );

  dlq
    .command('purge')
    .description('delete dead letters for good')
    .option('--queue <name>', 'only this queue', nameOf('queue'))
    .option('--before <iso>', 'only those that failed before this time', isoDate)
    .option('--all', 'delete every dead letter (required when no filter is given)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples(
        'sluice dlq purge --queue mail --before 2025-01-01T00:00:00Z',
        'sluice dlq purge --all',
      ),
    )
    .action(
      async (
        opts: { queue?: string; before?: Date; all?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        if (opts.queue === undefined && opts.before === undefined && opts.all !== true) {
          throw new CliError(
            'dlq purge deletes dead letters for good: give --queue, --before, or --all',
          );
        }
        const n = await sumOver(globals(cmd), opts.queue, (db, schema) =>
          purgeDeadLetters({ db, schema, queue: opts.queue, before: opts.before }),
        );
        if (opts.json) printJson({ purged: n });
        else console.log(`purged ${n} dead letter${n === 1 ? '' : 's'}`);
      },
    );
}
