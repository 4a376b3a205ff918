// `sluice jobs list|show|cancel|retry`: any job by id, wherever it lives (all_jobs view).
import { Option, type Command } from 'commander';
import type pg from 'pg';
import { cancelJob, getJob, JobNotFoundError, type JobState } from 'sluice';
import { getJobLogs, listJobs, retryJob, type JobLogLine } from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals, shortTime } from '../command-helpers.js';
import { tagged, withClusterColumn } from '../clusters.js';
import { withDb, withEachDb } from '../connection.js';
import { formatRecord, formatTable, printJson } from '../format-table.js';
import { jobId, nameOf, positiveInt } from '../parse-args.js';

const STATES: JobState[] = [
  'pending',
  'running',
  'blocked',
  'completed',
  'cancelled',
  'expired',
  'dead',
];

/** Registers `sluice jobs …`. */
export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('list, inspect, cancel and retry jobs')
    .addHelpText(
      'after',
      examples('sluice jobs list --queue mail --state pending', 'sluice jobs show 42'),
    );

  jobs
    .command('list')
    .description('newest jobs first, across pending, running, finished and dead')
    .option('--queue <name>', 'only this queue', nameOf('queue'))
    .addOption(new Option('--state <state>', 'only this state').choices(STATES))
    .option('--limit <n>', 'how many (default 50)', positiveInt, 50)
    .option('--json', 'print the jobs as JSON')
    .addHelpText(
      'after',
      examples('sluice jobs list', 'sluice jobs list --queue mail --state dead --limit 10'),
    )
    .action(
      async (
        opts: { queue?: string; state?: JobState; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        const list = (db: pg.Pool, schema: string) =>
          listJobs({ db, schema, queue: opts.queue, state: opts.state, limit: opts.limit });
        // A queue lives on one cluster; without one, each cluster's newest (--limit each).
        const rows = tagged(await withEachDb(globals(cmd), list, opts.queue));
        if (opts.json) return printJson(rows);
        console.log(
          formatTable(
            ...withClusterColumn(
              rows,
              ['ID', 'QUEUE', 'TASK', 'STATE', 'ATTEMPT', 'RUN AT', 'FINISHED AT'],
              (j) => [
                j.id,
                j.queue,
                j.task,
                j.state,
                `${j.attempt}/${j.maxAttempts}`,
                shortTime(j.runAt),
                shortTime(j.finishedAt),
              ],
              ['right', 'left', 'left', 'left', 'right'],
            ),
          ),
        );
      },
    );

  jobs
    .command('show')
    .description('every column of one job: payload, attempts, errors, progress, result')
    .argument('<id>', 'job id', jobId)
    .option('--json', 'print the job as JSON')
    .addHelpText(
      'after',
      examples('sluice jobs show 42', 'sluice jobs show 42 --json | jq .errors'),
    )
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const [job, log] = await withDb(globals(cmd), (db, schema) =>
        Promise.all([getJob({ db, schema, id }), getJobLogs({ db, schema, id })]),
      );
      if (!job) throw new JobNotFoundError(id);
      if (opts.json) printJson({ ...job, log });
      else {
        console.log(formatRecord({ ...job }));
        if (log.length > 0) console.log(`\nlog:\n${log.map(logLine).join('\n')}`);
      }
    });

  jobs
    .command('cancel')
    .description(
      'cancel a pending, blocked or running job (a running one is aborted by its worker)',
    )
    .argument('<id>', 'job id', jobId)
    .addHelpText('after', examples('sluice jobs cancel 42'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const job = await withDb(globals(cmd), async (db, schema) => {
        const ok = await cancelJob({ db, schema, id, reason: 'cancelled from the CLI' });
        const after = await getJob({ db, schema, id });
        if (!after) throw new JobNotFoundError(id);
        if (!ok && after.state !== 'running') {
          throw new CliError(
            `job ${id} is ${after.state}: only pending, blocked or running jobs can be cancelled`,
          );
        }
        return after;
      });
      console.log(
        job.state === 'running'
          ? `job ${id} is running: its worker will abort it and record it as cancelled`
          : `job ${id} cancelled`,
      );
    });

  jobs
    .command('retry')
    .description('run a pending job now instead of at its scheduled time or back-off')
    .argument('<id>', 'job id', jobId)
    .addHelpText(
      'after',
      examples('sluice jobs retry 42', 'sluice dlq replay 42   # for a dead job'),
    )
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withDb(globals(cmd), async (db, schema) => {
        if (await retryJob({ db, schema, id })) return;
        const job = await getJob({ db, schema, id });
        if (!job) throw new JobNotFoundError(id);
        if (job.state === 'dead') {
          throw new CliError(`job ${id} is dead: replay it with \`sluice dlq replay ${id}\``);
        }
        throw new CliError(`job ${id} is ${job.state}: only pending jobs can be retried`);
      });
      console.log(`job ${id} will run now`);
    });
}

/** One ctx.log line as `sluice jobs show` prints it: attempt, time, level, message, fields. */
function logLine(l: JobLogLine): string {
  const fields = l.fields ? ` ${JSON.stringify(l.fields)}` : '';
  return `  #${l.attempt} ${l.at.toISOString()} ${l.level} ${l.message}${fields}`;
}
