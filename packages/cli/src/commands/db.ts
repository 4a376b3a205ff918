// `sluice db start|stop|url|status`: the embedded Postgres under ./.sluice.
import type { Command } from 'commander';
import { examples } from '../command-helpers.js';
import { embeddedDbStatus, ensureEmbeddedDb, stopEmbeddedDb } from '../embedded-db.js';
import { printJson } from '../format-table.js';

/** Registers `sluice db …`. */
export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .description(
      'manage the embedded Postgres kept in ./.sluice (used when no database URL is set)',
    )
    .addHelpText('after', examples('sluice db start', 'psql "$(sluice db url)"', 'sluice db stop'));

  db.command('start')
    .description('start the embedded server (initialising it the first time); it keeps running')
    .option('--json', 'print the server as JSON')
    .addHelpText('after', examples('sluice db start'))
    .action(async (opts: { json?: boolean }) => {
      const state = await ensureEmbeddedDb();
      if (opts.json) printJson(state);
      else console.log(`embedded Postgres running at ${state.url} (pid ${state.pid ?? '?'})`);
    });

  db.command('stop')
    .description('stop the embedded server (data stays in ./.sluice/data)')
    .addHelpText('after', examples('sluice db stop'))
    .action(async () => {
      const wasRunning = await stopEmbeddedDb();
      console.log(wasRunning ? 'embedded Postgres stopped' : 'embedded Postgres was not running');
    });

  db.command('url')
    .description('print the embedded server URL, starting the server if needed')
    .addHelpText(
      'after',
      examples('psql "$(sluice db url)"', 'export DATABASE_URL=$(sluice db url)'),
    )
    .action(async () => {
      console.log((await ensureEmbeddedDb()).url);
    });

  db.command('status')
    .description('tell whether the embedded server runs, where, and where its data and log are')
    .option('--json', 'print the status as JSON')
    .addHelpText('after', examples('sluice db status', 'sluice db status --json'))
    .action(async (opts: { json?: boolean }) => {
      const s = await embeddedDbStatus();
      if (opts.json) printJson(s);
      else if (s.isRunning) {
        console.log(
          `running at ${s.url ?? '?'} (pid ${s.pid ?? '?'})\ndata: ${s.dataDir}\nlog:  ${s.logFile}`,
        );
      } else if (s.isInitialised) console.log(`stopped\ndata: ${s.dataDir}\nlog:  ${s.logFile}`);
      else console.log(`not initialised: \`sluice db start\` creates it in ${s.dataDir}`);
    });
}
