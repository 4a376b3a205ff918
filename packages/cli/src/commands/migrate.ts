// `sluice migrate`: install or upgrade the schema, or print the script for another tool.
import type { Command } from 'commander';
import { migrate } from 'sluice';
import { assertSchemaName, latestVersion, migrationScript } from 'sluice/admin';
import { examples, globals } from '../command-helpers.js';
import { clusterRouterOf, clustersFor } from '../clusters.js';
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
      const version = latestVersion();
      // With --clusters, every cluster (or --cluster's), one after another.
      const router = clusterRouterOf(g);
      const targets = router
        ? clustersFor(router, g, 'each')
        : [{ cluster: undefined, url: await resolveDatabaseUrl(g) }];
      const results = [];
      for (const { cluster, url } of targets) {
        // A URL, not a pool: the migrator runs its transaction on one connection it owns.
        const applied = await migrate({ db: url, schema });
        results.push({ ...(cluster === undefined ? {} : { cluster }), schema, applied, version });
        if (opts.json) continue;
        const where = cluster === undefined ? '' : ` on cluster ${cluster}`;
        if (applied.length > 0) {
          console.log(
            `applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to schema ${schema}${where}`,
          );
        } else {
          console.log(`schema ${schema} is up to date (version ${version})${where}`);
        }
      }
      if (opts.json) printJson(router ? results : results[0]);
    });
}
