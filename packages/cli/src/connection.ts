// Which database a command talks to: --database-url, else DATABASE_URL, else the embedded
// server under ./.sluice (started on demand).
import pg from 'pg';
import { assertSchemaName } from 'sluice/admin';
import { ensureEmbeddedDb } from './embedded-db.js';

/** Options every command inherits from the program. */
export interface GlobalOptions {
  databaseUrl?: string;
  schema: string;
}

/** `url` with its password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(the database URL)';
  }
}

/** The connection URL for these options; starts the embedded server when none is given. */
export async function resolveDatabaseUrl(globals: GlobalOptions): Promise<string> {
  const url = globals.databaseUrl ?? process.env.DATABASE_URL;
  if (url) return url;
  return (await ensureEmbeddedDb()).url;
}

/** Runs `fn` with a small pool on the resolved database and the validated schema, then closes it. */
export async function withDb<T>(
  globals: GlobalOptions,
  fn: (db: pg.Pool, schema: string) => Promise<T>,
): Promise<T> {
  const schema = assertSchemaName(globals.schema);
  const pool = new pg.Pool({ connectionString: await resolveDatabaseUrl(globals), max: 2 });
  // An idle client dropped by the server must surface through the next query, not crash us.
  pool.on('error', () => undefined);
  try {
    return await fn(pool, schema);
  } finally {
    await pool.end();
  }
}
