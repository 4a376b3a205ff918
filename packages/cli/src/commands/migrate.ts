// `sluice migrate`: install or upgrade the schema, or print the script for another tool.
import type { Command } from 'commander';
import { migrate } from 'sluice';
import { assertSchemaName, latestVersion, migrationScript } from 'sluice/admin';
import { examples, globals } from '../command-helpers.js';
import { resolveDatabaseUrl } from '../connection.js';
import { printJson } from '../format-table.js';

/** Registers `sluice migrate`. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'install or upgrade the Sluice schema (idempotent; safe from many processes at once)',
    )
    .option('--print-sql', 'print an idempotent SQL script instead of running it')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples(
        'sluice migrate',
        'DATABASE_URL=postgres://app@db/app sluice migrate --schema jobs',
        'sluice migrate --print-sql > migrations/2025_sluice.sql',
      ),
    )
    .action(async (opts: { printSql?: boolean; json?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const schema = assertSchemaName(g.schema);
      if (opts.printSql) {
        process.stdout.write(migrationScript(schema));
        return;
      }
      // A URL, not a pool: the migrator runs its transaction on one connection it owns.
      const applied = await migrate({ db: await resolveDatabaseUrl(g), schema });
      const version = latestVersion();
      if (opts.json) {
        printJson({ schema, applied, version });
      } else if (applied.length > 0) {
        console.log(
          `applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to schema ${schema}`,
        );
      } else {
        console.log(`schema ${schema} is up to date (version ${version})`);
      }
    });
}
