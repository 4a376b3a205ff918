// Transactions of other query builders as a `db`: Knex and Drizzle, written like the Kysely
// support (structural types, nothing imported), so the job commits or rolls back with the
// caller's transaction. Both take Sluice's `$n` statements as their own parameterised queries.
import type { PgQueryable } from '../core/db.js';

type QueryArg = string | { text: string; values?: unknown[]; name?: string };
type QueryResultLike = { rows: unknown[]; rowCount?: number | null };

function textAndValues(arg: QueryArg, values: unknown[] | undefined) {
  return typeof arg === 'string'
    ? { text: arg, values: values ?? [] }
    : { text: arg.text, values: arg.values ?? values ?? [] };
}

/** The part of a Knex instance or transaction (`knex.transaction(async (trx) => …)`) used. */
export interface KnexLike {
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<QueryResultLike>;
}

/**
 * A Knex transaction (or instance) on PostgreSQL as a `db` for enqueue and the rest.
 * @example
 * await knex.transaction(async (trx) => {
 *   await trx('orders').insert(order);
 *   await enqueue(sendEmail, { to: order.email }, { db: fromKnex(trx) });
 * });
 */
export function fromKnex(trx: KnexLike): PgQueryable {
  return {
    async query<R>(arg: QueryArg, values?: unknown[]) {
      const q = textAndValues(arg, values);
      // Knex binds `?` in order: each `$n` becomes one, with its value; a literal `?` is escaped.
      const bindings: unknown[] = [];
      const sql = q.text.replace(/\?/g, '\\?').replace(/\$(\d+)/g, (_, n: string) => {
        bindings.push(q.values[Number(n) - 1]);
        return '?';
      });
      const res = await trx.raw(sql, bindings);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  };
}

/** The part of a Drizzle database or transaction on node-postgres used. */
export interface DrizzleLike {
  execute(query: unknown): PromiseLike<QueryResultLike>;
}

/** Drizzle's `sql` tag (`import { sql } from 'drizzle-orm'`), which builds the query. */
export interface DrizzleSqlTag {
  raw(text: string): unknown;
  param(value: unknown): unknown;
  join(chunks: unknown[], separator?: unknown): unknown;
}

/**
 * A Drizzle transaction (node-postgres) as a `db`; pass Drizzle's `sql` tag with it.
 * @example
 * import { sql } from 'drizzle-orm';
 * await db.transaction(async (tx) => {
 *   await tx.insert(orders).values(order);
 *   await enqueue(sendEmail, { to: order.email }, { db: fromDrizzle(tx, sql) });
 * });
 */
export function fromDrizzle(tx: DrizzleLike, sql: DrizzleSqlTag): PgQueryable {
  return {
    async query<R>(arg: QueryArg, values?: unknown[]) {
      const q = textAndValues(arg, values);
      const chunks: unknown[] = [];
      let last = 0;
      for (const m of q.text.matchAll(/\$(\d+)/g)) {
        chunks.push(sql.raw(q.text.slice(last, m.index)), sql.param(q.values[Number(m[1]) - 1]));
        last = m.index + m[0].length;
      }
      chunks.push(sql.raw(q.text.slice(last)));
      const res = await tx.execute(sql.join(chunks));
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  };
}
