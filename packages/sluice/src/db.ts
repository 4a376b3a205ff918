// One way to run a statement on whatever the caller hands us: a pg Pool, PoolClient or Client
// (possibly inside the caller's open transaction), or a Kysely instance or Transaction.
import { CompiledQuery, type Kysely } from 'kysely';
import type { QueryResultRow } from 'pg';
import { InvalidOptionsError } from './errors.js';

/** Something with pg's `query(text, values)`: a Pool, PoolClient or Client. */
export interface PgQueryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string | { text: string; values?: unknown[]; name?: string },
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** Where a statement runs: the caller's pg client or pool, or a Kysely instance/transaction. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any database shape is accepted
export type DbTarget = PgQueryable | Kysely<any>;

/** A resolved target: runs one parameterised statement and returns its rows. */
export interface Executor {
  /** `name` makes pg reuse a prepared statement per connection (ignored for Kysely). */
  query<R>(
    text: string,
    values?: unknown[],
    name?: string,
  ): Promise<{ rows: R[]; rowCount: number }>;
}

function isKysely(db: object): db is Kysely<unknown> {
  return typeof (db as { executeQuery?: unknown }).executeQuery === 'function';
}

/** Wraps a {@link DbTarget} as an {@link Executor}; throws a typed error for anything else. */
export function toExecutor(db: DbTarget | undefined | null): Executor {
  if (db == null || typeof db !== 'object') {
    throw new InvalidOptionsError(
      'db',
      'pass a pg Pool, Client or PoolClient, or a Kysely instance',
    );
  }
  if (isKysely(db)) {
    return {
      async query<R>(text: string, values: unknown[] = []) {
        const res = await db.executeQuery<R>(CompiledQuery.raw(text, values));
        // Kysely reports affected rows separately: a statement without RETURNING has no rows.
        const affected = res.numAffectedRows;
        return {
          rows: res.rows,
          rowCount: affected === undefined ? res.rows.length : Number(affected),
        };
      },
    };
  }
  if (typeof db.query === 'function') {
    const pg = db;
    // Hot statements are named prepared statements. PgBouncer in transaction mode needs
    // max_prepared_statements > 0 (1.21+) for them, or SLUICE_PREPARED_STATEMENTS=off.
    const isPrepared = process.env.SLUICE_PREPARED_STATEMENTS !== 'off';
    return {
      async query<R>(text: string, values?: unknown[], name?: string) {
        const res = await (name && isPrepared
          ? pg.query({ name, text, values })
          : pg.query(text, values));
        return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
      },
    };
  }
  throw new InvalidOptionsError('db', 'pass a pg Pool, Client or PoolClient, or a Kysely instance');
}
