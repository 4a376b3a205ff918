// `sluice schedule list|enable|disable|run-now|remove`: cron schedules through the library's
// API. Schedules are created in code with schedule(); the CLI operates the rows.
import { InvalidArgumentError, type Command } from 'commander';
import { unschedule } from 'sluice';
import {
  assertName,
  listSchedules,
  runScheduleNow,
  setScheduleEnabled,
  type ScheduleInfo,
} from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals, shortTime } from '../command-helpers.js';
import { tagged } from '../clusters.js';
import { withDb, withEachDb } from '../connection.js';
import { formatTable, printJson } from '../format-table.js';

function scheduleName(value: string): string {
  try {
    return assertName('schedule', value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

function notFound(name: string): CliError {
  return new CliError(`schedule ${name} not found (see \`sluice schedule list\`)`);
}

function scheduleTable(rows: ScheduleInfo[]): string {
  return formatTable(
    ['NAME', 'CRON', 'TIME ZONE', 'TASK', 'QUEUE', 'ENABLED', 'MISSED', 'NEXT RUN', 'LAST RUN'],
    rows.map((s) => [
      s.name,
      s.cron,
      s.timezone,
      s.task,
      s.queue,
      s.isEnabled ? 'yes' : 'no',
      s.missedPolicy === 'run_all' ? `run_all (${s.maxCatchUp})` : s.missedPolicy,
      s.isEnabled ? shortTime(s.nextRunAt) : '-',
      shortTime(s.lastRunAt),
    ]),
  );
}

/** Registers `sluice schedule …`. */
export function registerSchedule(program: Command): void {
  const sched = program
    .command('schedule')
    .description('list, enable, disable, run and remove cron schedules')
    .addHelpText(
      'after',
      examples(
        'sluice schedule list',
        'sluice schedule disable nightly-report',
        'sluice schedule run-now nightly-report',
      ),
    );

  sched
    .command('list')
    .description('every schedule with its next and last run')
    .option('--json', 'print the schedules as JSON')
    .addHelpText('after', examples('sluice schedule list', 'sluice schedule list --json'))
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const rows = tagged(
        await withEachDb(globals(cmd), (db, schema) => listSchedules({ db, schema })),
      );
      if (opts.json) printJson(rows);
      else console.log(scheduleTable(rows));
    });

  for (const [verb, isEnabled, what] of [
    ['enable', true, 'start firing again from the next tick (missed ticks are not caught up)'],
    ['disable', false, 'stop firing; jobs already enqueued stay'],
  ] as const) {
    sched
      .command(verb)
      .description(what)
      .argument('<name>', 'schedule name', scheduleName)
      .option('--json', 'print the result as JSON')
      .addHelpText('after', examples(`sluice schedule ${verb} nightly-report`))
      .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
        const ok = await withDb(globals(cmd), (db, schema) =>
          setScheduleEnabled({ db, schema, name, isEnabled }),
        );
        if (!ok) throw notFound(name);
        if (opts.json) printJson({ name, isEnabled });
        else console.log(`${isEnabled ? 'enabled' : 'disabled'} schedule ${name}`);
      });
  }

  sched
    .command('run-now')
    .description('enqueue one extra job of the schedule now; its next tick stays as it is')
    .argument('<name>', 'schedule name', scheduleName)
    .option('--json', 'print the new job id as JSON')
    .addHelpText('after', examples('sluice schedule run-now nightly-report'))
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const job = await withDb(globals(cmd), (db, schema) => runScheduleNow({ db, schema, name }));
      if (job === null) throw notFound(name);
      if (opts.json) printJson({ name, jobId: job.id });
      else console.log(`enqueued job ${job.id} for schedule ${name}`);
    });

  sched
    .command('remove')
    .description(
      'delete the schedule; jobs already enqueued stay (schedule() in code re-creates it)',
    )
    .argument('<name>', 'schedule name', scheduleName)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', examples('sluice schedule remove nightly-report'))
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const ok = await withDb(globals(cmd), (db, schema) => unschedule({ db, schema, name }));
      if (!ok) throw notFound(name);
      if (opts.json) printJson({ name, isRemoved: true });
      else console.log(`removed schedule ${name}`);
    });
}
