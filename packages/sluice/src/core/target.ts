// The one resolver of `{ db, schema }`: every public function that takes a connection takes it
// in this shape, checked here.
import { toExecutor, type DbTarget, type Executor } from './db.js';
import { assertSchemaName } from './names.js';

/** Where Sluice's tables are: a connection (or transaction) and the schema migrated into. */
export interface Target {
  /** The caller's pg Pool/Client/PoolClient or Kysely instance/transaction. */
  db: DbTarget;
  /** Schema Sluice was migrated into. Default `sluice`. */
  schema?: string;
  /**
   * Run hot statements as named prepared statements (pg only). Default true; false behind
   * PgBouncer in transaction mode before 1.21 (no prepared statements there). The CLI reads
   * `SLUICE_PREPARED_STATEMENTS=off`.
   */
  preparedStatements?: boolean;
}

/** Checks a {@link Target}: an executor for its `db`, and its schema name (default `sluice`). */
export function resolveTarget(t: Target): { exec: Executor; schema: string } {
  return {
    exec: toExecutor(t.db, { isPrepared: t.preparedStatements ?? true }),
    schema: assertSchemaName(t.schema ?? 'sluice'),
  };
}
