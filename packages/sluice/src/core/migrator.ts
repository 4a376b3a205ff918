// Installs and upgrades the schema. Forward-only numbered files from migrations/, applied in one
// transaction under an advisory lock, so any number of processes may call migrate() at once and
// the schema is installed exactly once.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SchemaOutOfDateError } from './errors.js';
import { assertSchemaName } from './names.js';
import { inSchema } from './schema-sql.js';

/** One migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

// Lock key: a constant class id plus the schema's hash, so two schemas migrate independently.
const LOCK_CLASS = 0x51c3;

function migrationsDir(): string {
  // Built package: packages/sluice/migrations (copied at build); in the repo: the top-level one.
  for (const rel of ['../../migrations/', '../../../../migrations/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error('sluice: migrations directory not found next to the package');
}

/**
 * The migrations this version ships, rewritten for `schema`.
 * @example for (const m of migrations('jobs')) console.log(m.sql);
 */
export function migrations(schema = 'sluice'): Migration[] {
  assertSchemaName(schema);
  const dir = migrationsDir();
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 4)),
      name: f.slice(5, -4),
      sql: inSchema(readFileSync(dir + f, 'utf8'), schema),
    }));
}

/**
 * The newest migration version this library needs.
 * @example if (appliedVersion < latestVersion()) console.warn('run sluice migrate');
 */
export function latestVersion(): number {
  return Math.max(...migrations().map((m) => m.version));
}

/**
 * A full script for teams that run SQL through their own migration tool (idempotent).
 * @example writeFileSync('migrations/20260101_sluice.sql', migrationScript());
 */
export function migrationScript(schema = 'sluice'): string {
  const parts = migrations(schema).map(
    (m) =>
      `-- ${m.version} ${m.name}\nDO $migrate$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM ${schema}.migration WHERE version = ${m.version}) THEN\n` +
      `    EXECUTE ${dollar(m.sql)};\n    INSERT INTO ${schema}.migration (version, name) VALUES (${m.version}, '${m.name}');\n  END IF;\nEND $migrate$;\n`,
  );
  return (
    `BEGIN;\nSELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext('${schema}'));\n` +
    `CREATE SCHEMA IF NOT EXISTS ${schema};\n${migrationTableSql(schema)};\n` +
    parts.join('\n') +
    'COMMIT;\n'
  );
}

function dollar(sql: string): string {
  let tag = 'sql';
  while (sql.includes(`$${tag}$`)) tag += '_';
  return `$${tag}$${sql}$${tag}$`;
}

function migrationTableSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${schema}.migration (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
}

/** What to migrate: a connection string, a pg Pool, or a connected pg Client. */
export interface MigrateOptions {
  db: string | pg.Pool | pg.Client;
  /** Default `sluice`. */
  schema?: string;
}

async function withClient<T>(
  db: MigrateOptions['db'],
  fn: (c: pg.Client | pg.PoolClient) => Promise<T>,
) {
  if (typeof db === 'string') {
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }
  if (db instanceof pg.Pool) {
    const client = await db.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }
  return fn(db);
}

/**
 * Applies the migrations not yet applied; returns their versions (empty when up to date).
 * @example await migrate({ db: process.env.DATABASE_URL! });
 */
export async function migrate(options: MigrateOptions): Promise<number[]> {
  const schema = assertSchemaName(options.schema ?? 'sluice');
  const all = migrations(schema);
  return withClient(options.db, async (c) => {
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, schema]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query(migrationTableSql(schema));
      const { rows } = await c.query<{ version: number }>(
        `SELECT version FROM ${schema}.migration`,
      );
      const done = new Set(rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of all) {
        if (done.has(m.version)) continue;
        await c.query(m.sql);
        await c.query(`INSERT INTO ${schema}.migration (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ]);
        applied.push(m.version);
      }
      await c.query('COMMIT');
      return applied;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/**
 * Throws {@link SchemaOutOfDateError} unless every shipped migration is applied.
 * @example await assertSchemaCurrent({ db: pool }); // at start-up, before serving
 */
export async function assertSchemaCurrent(options: MigrateOptions): Promise<void> {
  const schema = assertSchemaName(options.schema ?? 'sluice');
  const expected = latestVersion();
  const applied = await withClient(options.db, async (c) => {
    // Two statements: a single one would fail to plan on a database without the table.
    const { rows: exists } = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
      `${schema}.migration`,
    ]);
    if (!exists[0]?.t) return 0;
    const { rows } = await c.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${schema}.migration`,
    );
    return rows[0]?.v ?? 0;
  });
  if (applied < expected) throw new SchemaOutOfDateError(schema, applied, expected);
}
