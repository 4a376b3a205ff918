// `sluice doctor`: compares the live schema with what the migrations build and shows the worker
// processes and leader. Exit 1 when something is broken, so scripts and probes can use it.
import type { Command } from 'commander';
import { inspectSchema, type SchemaReport } from 'sluice/admin';
import { CliError } from '../cli-error.js';
import { examples, globals, shortTime } from '../command-helpers.js';
import { withEachDb } from '../connection.js';
import { formatAge, formatTable, printJson } from '../format-table.js';
import { positiveInt } from '../parse-args.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function list(title: string, lines: string[]): string[] {
  return lines.length === 0 ? [] : ['', `${title}:`, ...lines.map((l) => `  - ${l}`)];
}

function describe(r: SchemaReport): string {
  const m = r.migrations;
  const out = [
    `schema ${r.schema}: migrations applied ${m.applied.join(', ') || 'none'}; this version needs ${m.expected.join(', ')}`,
    ...list(
      'PROBLEMS',
      r.problems.map((p) => p.message),
    ),
    ...list('WARNINGS', r.warnings),
    '',
    r.workers.length === 0 ? 'WORKERS: none registered' : 'WORKERS:',
  ];
  if (r.workers.length > 0) {
    out.push(
      formatTable(
        ['ID', 'HOST', 'PID', 'QUEUES', 'CONCURRENCY', 'HEARTBEAT'],
        r.workers.map((w) => [
          w.id,
          w.host,
          String(w.pid),
          w.queues.join(','),
          String(w.concurrency),
          `${formatAge(w.heartbeatAgeSeconds)} ago${w.isStale ? ' STALE' : ''}`,
        ]),
        ['left', 'left', 'right', 'left', 'right', 'left'],
      ),
    );
  }
  out.push('', r.leaders.length === 0 ? 'LEADER: none' : 'LEADER:');
  if (r.leaders.length > 0) {
    out.push(
      formatTable(
        ['ROLE', 'WORKER', 'ELECTED AT', 'EXPIRES AT', 'CURRENT'],
        r.leaders.map((l) => [
          l.name,
          l.workerId,
          shortTime(l.electedAt),
          shortTime(l.expiresAt),
          l.isCurrent ? 'yes' : 'no (expired)',
        ]),
      ),
    );
  }
  out.push('', r.isHealthy ? 'healthy' : plural(r.problems.length, 'problem'));
  return out.join('\n');
}

/** Registers `sluice doctor`. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the schema (migrations, partitions, indexes, history partitions, functions) and list live workers; exit 1 on problems',
    )
    .option(
      '--stale-after <seconds>',
      'flag workers whose heartbeat is older than this',
      positiveInt,
      60,
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      examples(
        'sluice doctor',
        'sluice doctor --json',
        'DATABASE_URL=postgres://ops@db/app sluice doctor --schema jobs || alert "sluice schema broken"',
      ),
    )
    .action(async (opts: { staleAfter: number; json?: boolean }, cmd: Command) => {
      // With --clusters, each cluster's report, under its name; exit 1 if any has a problem.
      const reports = await withEachDb(globals(cmd), (db, schema) =>
        inspectSchema({ db, schema, staleAfterMs: opts.staleAfter * 1000 }),
      );
      const [only] = reports;
      if (opts.json) {
        printJson(
          only !== undefined && reports.length === 1 && only.cluster === undefined
            ? only.value
            : reports.map((r) => ({ cluster: r.cluster, ...r.value })),
        );
      } else {
        console.log(
          reports
            .map(
              (r) =>
                (r.cluster === undefined ? '' : `== cluster ${r.cluster}\n`) + describe(r.value),
            )
            .join('\n\n'),
        );
      }
      const problems = reports.reduce((n, r) => n + r.value.problems.length, 0);
      if (reports.some((r) => !r.value.isHealthy)) {
        throw new CliError(`doctor found ${plural(problems, 'problem')}`);
      }
    });
}
