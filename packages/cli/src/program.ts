// The `sluice` command tree. Each command lives in commands/<name>.ts and registers itself here.
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { examples } from './command-helpers.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDb } from './commands/db.js';
import { registerDemo } from './commands/demo.js';
import { registerDlq } from './commands/dlq.js';
import { registerDoctor } from './commands/doctor.js';
import { registerFlow } from './commands/flow.js';
import { registerJobs } from './commands/jobs.js';
import { registerMigrate } from './commands/migrate.js';
import { registerQueue } from './commands/queue.js';
import { registerSchedule } from './commands/schedule.js';
import { registerStats } from './commands/stats.js';
import { registerWork } from './commands/work.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Builds the program; `bin.ts` parses `process.argv` with it. */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description(
      'Operate Sluice, the PostgreSQL-native job queue: schema, workers, queues, jobs, dead letters',
    )
    .version(version, '-V, --version')
    .option(
      '--database-url <url>',
      'Postgres to use (default: $DATABASE_URL, else the embedded server in ./.sluice)',
    )
    .option('--schema <name>', 'schema Sluice is installed in', 'sluice')
    .option(
      '--clusters <file>',
      'queues on several clusters: a JSON file of createClusterRouter options (default: $SLUICE_CLUSTERS)',
    )
    .option('--cluster <name>', 'with --clusters: work on this cluster only')
    // Commander's errors become the same one line as ours: `sluice: <reason>`.
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'sluice: ')) })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      examples(
        'sluice demo',
        'sluice migrate',
        'sluice work --tasks ./tasks.js',
        'sluice queue create mail --concurrency-limit 5',
        'sluice stats --watch',
        'DATABASE_URL=postgres://app@db/app sluice dlq replay --all --queue mail',
        'sluice --clusters clusters.json queue list',
      ),
    );
  registerMigrate(program);
  registerDb(program);
  registerQueue(program);
  registerStats(program);
  registerJobs(program);
  registerDlq(program);
  registerFlow(program);
  registerSchedule(program);
  registerDoctor(program);
  registerWork(program);
  registerDemo(program);
  registerDashboard(program);
  return program;
}
