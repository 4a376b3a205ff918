// `sluice stats [--watch]`: per-queue counts from the queue_stats view.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type pg from 'pg';
import { countCompletedSince, listQueueStats, type QueueStats } from 'sluice/admin';
import { examples, globals } from '../command-helpers.js';
import { tagged, withClusterColumn } from '../clusters.js';
import { withDb, withEachDb } from '../connection.js';
import { formatAge, formatTable } from '../format-table.js';

/** A queue_stats row, with its completion rate per second under `--watch`. */
export type StatsLine = QueueStats & { ratePerSecond?: number | null };

/** The `sluice stats` table (also printed by `sluice demo`); `hasRate` adds the RATE/S column. */
export function statsTable(rows: (StatsLine & { cluster?: string })[], hasRate: boolean): string {
  const headers = [
    'QUEUE',
    'READY',
    'SCHEDULED',
    'RUNNING',
    'BLOCKED',
    'DEAD',
    'DONE 1H',
    'OLDEST READY',
  ];
  if (hasRate) headers.push('RATE/S');
  return formatTable(
    ...withClusterColumn(
      rows,
      headers,
      (r) => {
        const cells = [
          r.isPaused ? `${r.queue} (paused)` : r.queue,
          String(r.ready),
          String(r.scheduled),
          String(r.running),
          String(r.blocked),
          String(r.dead),
          String(r.completedLastHour),
          r.ready > 0 ? formatAge(r.oldestReadyAgeSeconds) : '-',
        ];
        if (hasRate) cells.push(r.ratePerSecond == null ? '-' : r.ratePerSecond.toFixed(1));
        return cells;
      },
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
}

async function watch(db: pg.Pool, schema: string, isJson: boolean): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let since: string | null = null;
    while (!stop.signal.aborted) {
      const rows = await listQueueStats({ db, schema });
      const done = await countCompletedSince({ db, schema, since });
      const seconds = since === null ? 0 : (Date.parse(done.now) - Date.parse(since)) / 1000;
      since = done.now;
      const lines: StatsLine[] = rows.map((r) => ({
        ...r,
        ratePerSecond: seconds > 0 ? (done.counts[r.queue] ?? 0) / seconds : null,
      }));
      if (isJson) {
        process.stdout.write(JSON.stringify({ at: done.now, queues: lines }) + '\n');
      } else {
        // Redraw in place on a terminal; append when piped, so a log keeps every sample.
        if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
        process.stdout.write(
          `${done.now}  (every 1s, Ctrl-C to stop)\n${statsTable(lines, true)}\n\n`,
        );
      }
      await sleep(1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Registers `sluice stats`. */
export function registerStats(program: Command): void {
  program
    .command('stats')
    .description(
      'per queue: ready, scheduled, running, blocked, dead, completed last hour, oldest ready',
    )
    .option('--watch', 'refresh every second, with the completion rate per second')
    .option('--json', 'print JSON (with --watch: one JSON line per second)')
    .addHelpText(
      'after',
      examples('sluice stats', 'sluice stats --watch', 'sluice stats --json | jq .'),
    )
    .action(async (opts: { watch?: boolean; json?: boolean }, cmd: Command) => {
      // --watch follows one database (with --clusters: --cluster, or the only one).
      if (opts.watch) {
        return withDb(globals(cmd), (db, schema) => watch(db, schema, opts.json === true));
      }
      const rows = tagged(
        await withEachDb(globals(cmd), (db, schema) => listQueueStats({ db, schema })),
      );
      if (opts.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else console.log(statsTable(rows, false));
    });
}
