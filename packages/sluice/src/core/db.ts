// One way to run a statement on whatever the caller hands us: a pg Pool, PoolClient or Client
// (possibly inside the caller's open transaction), or a Kysely instance or Transaction.
import { randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { InvalidOptionsError, SchemaNotMigratedError } from './errors.js';

/** Something with pg's `query(text, values)`: a Pool, PoolClient or Client. */
export interface PgQueryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string | { text: string; values?: unknown[]; name?: string },
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/**
 * The part of a Kysely instance or transaction Sluice uses, written out so that kysely is neither
 * imported at run time nor needed by the type declarations of those who do not use it.
 */
export interface KyselyExecutor {
  executeQuery<R>(query: {
    readonly sql: string;
    readonly parameters: readonly unknown[];
    // any: Kysely's own operation-node type, which these declarations must not name.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly query: any;
    readonly queryId: { readonly queryId: string };
  }): Promise<{ rows: R[]; numAffectedRows?: bigint }>;
}

/** Where a statement runs: the caller's pg client or pool, or a Kysely instance/transaction. */
export type DbTarget = PgQueryable | KyselyExecutor;

/** A resolved target: runs one parameterised statement and returns its rows. */
export interface Executor {
  /** `name` makes pg reuse a prepared statement per connection (ignored for Kysely). */
  query<R>(
    text: string,
    values?: unknown[],
    name?: string,
  ): Promise<{ rows: R[]; rowCount: number }>;
}

function isKysely(db: object): db is KyselyExecutor {
  return typeof (db as { executeQuery?: unknown }).executeQuery === 'function';
}

// undefined_table, invalid_schema_name, undefined_function: what an unmigrated database raises.
const MISSING_OBJECT = new Set(['42P01', '3F000', '42883']);

/**
 * The Sluice schema an error says is missing (in part), or undefined when the error is about
 * something else: a word of the message must be a schema the statement qualifies names with
 * (`sluice.job`), so a missing operator or a caller's own table is left alone. Words, not quotes:
 * servers in other languages quote names differently.
 */
function missingSchemaOf(err: unknown, text: string): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code !== 'string' || !MISSING_OBJECT.has(e.code)) return undefined;
  if (typeof e.message !== 'string') return undefined;
  const qualifiers = new Set(
    [...text.matchAll(/(?:^|[^\w.$])([A-Za-z_][\w$]*)\.[A-Za-z_]/g)].map((m) => m[1]),
  );
  return e.message.match(/[A-Za-z_][\w$]*/g)?.find((word) => qualifiers.has(word));
}

// A rejection handler only: the success path of every statement stays one promise.
function mapped<T>(running: Promise<T>, text: string): Promise<T> {
  return running.catch((err: unknown) => {
    const schema = missingSchemaOf(err, text);
    throw schema === undefined ? err : new SchemaNotMigratedError(schema, { cause: err });
  });
}

// What Kysely's CompiledQuery.raw builds: a RawNode of the whole text, its parameters, and a
// query id (plugins key per-query state on it).
function rawQuery(sql: string, parameters: unknown[]) {
  return {
    sql,
    parameters,
    query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] },
    queryId: { queryId: randomUUID() },
  };
}

/** Wraps a {@link DbTarget} as an {@link Executor}; throws a typed error for anything else. */
// duplicate_prepared_statement, invalid_sql_statement_name: what a pooler in transaction mode
// (PgBouncer before 1.21) answers to named statements, whose server connection changes between
// the parse and the next use. Both fail before the statement runs, so running it again unnamed
// is safe outside a transaction.
const PREPARED_STATEMENT_ERRORS = new Set(['42P05', '26000']);

export function toExecutor(
  db: DbTarget | undefined | null,
  options: {
    isPrepared?: boolean;
    /** Called once if named statements fail as behind a pooler and the executor stops naming them. */
    onPreparedFallback?: (err: unknown) => void;
  } = {},
): Executor {
  if (db == null || typeof db !== 'object') {
    throw new InvalidOptionsError(
      'db',
      'pass a pg Pool, Client or PoolClient, or a Kysely instance',
    );
  }
  if (isKysely(db)) {
    return {
      async query<R>(text: string, values: unknown[] = []) {
        const res = await mapped(db.executeQuery<R>(rawQuery(text, values)), text);
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
    // max_prepared_statements > 0 (1.21+) for them, or `preparedStatements: false`.
    let isPrepared = options.isPrepared ?? true;
    return {
      async query<R>(text: string, values?: unknown[], name?: string) {
        let res;
        // Decided per call: statements already in flight when the fallback happens fail too.
        const isNamed = name !== undefined && name !== '' && isPrepared;
        try {
          res = await mapped(
            isNamed ? pg.query({ name, text, values }) : pg.query(text, values),
            text,
          );
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (!isNamed || !PREPARED_STATEMENT_ERRORS.has(code as string)) throw err;
          // From now on this executor names nothing: one warning instead of one error per call.
          if (isPrepared) options.onPreparedFallback?.(err);
          isPrepared = false;
          res = await mapped(pg.query(text, values), text);
        }
        return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
      },
    };
  }
  throw new InvalidOptionsError('db', 'pass a pg Pool, Client or PoolClient, or a Kysely instance');
}
