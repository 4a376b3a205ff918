// Each test file gets its own database, cloned from a template migrated once per run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from 'sluice';

/** Replaces the database name in a connection URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a database named `name` with Sluice migrated into it, to clone test databases from. */
export async function createTemplateDatabase(serverUrl: string, name: string): Promise<string> {
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}"`);
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const url = withDatabase(serverUrl, name);
  await migrate({ db: url });
  return url;
}

/** A database of one's own for a test file. */
export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Closes the pool and drops the database (kept when SLUICE_KEEP_DB=1). */
  drop(): Promise<void>;
}

/** Clones `template` into a fresh database; pass no template for an empty one. */
export async function createTestDatabase(
  serverUrl: string,
  template?: string,
): Promise<TestDatabase> {
  const name = `sluice_test_${randomBytes(5).toString('hex')}`;
  await adminQuery(
    serverUrl,
    template ? `CREATE DATABASE "${name}" TEMPLATE "${template}"` : `CREATE DATABASE "${name}"`,
  );
  const url = withDatabase(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // A backend killed on purpose by a test must not crash the test process.
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      if (process.env.SLUICE_KEEP_DB === '1') return;
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}
