import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue, enqueueMany, migrate } from 'sluice';
import { createQueue, latestVersion, migrations, migrationScript } from 'sluice/admin';
import { jobChannel } from '../src/core/names.js';
import { createTestDatabase, type TestDatabase } from '@sluice/testkit';
import { serverUrl, useTestDatabase } from '../../../test/setup/db.js';

const template = useTestDatabase();
const anything = defineTask({ name: 'anything', schema: z.unknown() });
const versions = migrations().map((m) => m.version);

const fresh: TestDatabase[] = [];
/** An empty database of its own, dropped after the test. */
async function emptyDatabase() {
  const d = await createTestDatabase(serverUrl());
  fresh.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(fresh.splice(0).map((d) => d.drop()));
});

/** Tables, views, functions, indexes and triggers of `schema`, to compare two installs. */
async function catalog(url: string, schema = 'sluice') {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ item: string }>(
      `SELECT c.relkind::text || ' ' || c.relname AS item FROM pg_class c
       WHERE c.relnamespace = $1::regnamespace AND c.relname !~ '^job_history_[0-9]{8}'
       UNION ALL
       SELECT 'f ' || p.oid::regprocedure::text FROM pg_proc p
       WHERE p.pronamespace = $1::regnamespace
       UNION ALL
       SELECT 't ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
       WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal
       ORDER BY 1`,
      [schema],
    );
    return rows.map((r) => r.item.replaceAll(`${schema}.`, 'SCHEMA.'));
  } finally {
    await client.end();
  }
}

describe('migrate', () => {
  it('20 concurrent migrators on an empty database install the schema exactly once', async () => {
    const d = await emptyDatabase();
    const results = await Promise.all(Array.from({ length: 20 }, () => migrate({ db: d.url })));
    expect(results.filter((r) => r.length > 0)).toEqual([versions]);
    expect(results.filter((r) => r.length === 0)).toHaveLength(19);
    const { rows } = await d.pool.query<{ version: number; n: string }>(
      'SELECT version, count(*) AS n FROM sluice.migration GROUP BY version ORDER BY version',
    );
    expect(rows).toEqual(versions.map((version) => ({ version, n: '1' })));
    // A second run applies nothing, whether given a URL, a Pool or a Client.
    expect(await migrate({ db: d.url })).toEqual([]);
    expect(await migrate({ db: d.pool })).toEqual([]);
    const client = new pg.Client({ connectionString: d.url });
    await client.connect();
    expect(await migrate({ db: client })).toEqual([]);
    await client.end();
    expect(Math.max(...versions)).toBe(latestVersion());
    // The default queue exists after migrate.
    const queues = await d.pool.query('SELECT name FROM sluice.queue');
    expect(queues.rows).toEqual([{ name: 'default' }]);
  });

  it('a failing migration rolls back and leaves the caller able to retry', async () => {
    const d = await emptyDatabase();
    // Occupying a name the migration creates makes it fail part-way through.
    await d.pool.query('CREATE SCHEMA sluice; CREATE TABLE sluice.queue (x int)');
    await expect(migrate({ db: d.url })).rejects.toThrow(/already exists/);
    const { rows } = await d.pool.query(`SELECT to_regclass('sluice.migration') AS t`);
    expect(rows[0]).toEqual({ t: null });
    await d.pool.query('DROP TABLE sluice.queue');
    expect(await migrate({ db: d.url })).toEqual(versions);
  });

  it('installs into a custom schema that works end to end', async () => {
    const url = template.current.url;
    const pool = template.current.pool;
    expect(await migrate({ db: url, schema: 'jobs_custom' })).toEqual(versions);
    expect(await migrate({ db: url, schema: 'jobs_custom' })).toEqual([]);
    const custom = await catalog(url, 'jobs_custom');
    expect(custom).toContain(
      'f SCHEMA.enqueue(text,jsonb,text,timestamp with time zone,integer,integer,text,text,interval,jsonb)',
    );
    expect(custom).toContain('f SCHEMA.claim_limited(text,integer,text,double precision)');
    expect(custom).toEqual(await catalog(url, 'sluice'));

    const target = { db: pool, schema: 'jobs_custom' };
    expect(await createQueue({ ...target, name: 'mail' })).toBe(true);
    // Waiting workers of this schema are woken on its own channel.
    await pool.query(
      `INSERT INTO jobs_custom.worker_waiting (queue, worker_id) VALUES ('mail', 'w')`,
    );
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(`${n.channel} ${n.payload}`));
    await listener.query(`LISTEN "${jobChannel('jobs_custom')}"`);
    await listener.query('LISTEN "sluice:job"');

    const one = await enqueue(anything, { n: 1 }, { ...target, queue: 'mail' });
    const many = await enqueueMany([{ task: anything, payload: 2, queue: 'mail' }], target);
    const viaSql = await pool.query<{ id: string }>(
      `SELECT jobs_custom.enqueue('anything', '3', 'mail') AS id`,
    );
    const ids = [one.id, many[0]!.id, viaSql.rows[0]!.id];
    const { rows } = await pool.query<{ part: string; n: string }>(
      `SELECT tableoid::regclass::text AS part, count(*) AS n FROM jobs_custom.job
       WHERE id = ANY($1) GROUP BY 1`,
      [ids],
    );
    const part = await pool.query<{ p: string }>(
      `SELECT partition_name AS p FROM jobs_custom.queue WHERE name = 'mail'`,
    );
    expect(rows).toEqual([{ part: `jobs_custom.${part.rows[0]!.p}`, n: '3' }]);
    // Nothing leaked into the default schema.
    const inDefault = await pool.query(`SELECT 1 FROM sluice.job WHERE id = ANY($1)`, [ids]);
    expect(inDefault.rows).toEqual([]);
    await listener.query('SELECT 1');
    expect(heard).toEqual(['jobs_custom:job mail', 'jobs_custom:job mail', 'jobs_custom:job mail']);
    await listener.end();
    // Cancelling goes through the schema's own function into its own history.
    await pool.query('SELECT jobs_custom.cancel_job($1)', [one.id]);
    const hist = await pool.query(`SELECT state FROM jobs_custom.job_history WHERE id = $1`, [
      one.id,
    ]);
    expect(hist.rows).toEqual([{ state: 'cancelled' }]);
  });
});

describe('migrationScript', () => {
  it('applied as one query on a fresh database installs the same schema, idempotently', async () => {
    const d = await emptyDatabase();
    const script = migrationScript();
    // One simple-protocol query, as psql -f or a migration tool would send it.
    await d.pool.query(script);
    await d.pool.query(script);
    const { rows } = await d.pool.query<{ version: number }>(
      'SELECT version FROM sluice.migration ORDER BY version',
    );
    expect(rows.map((r) => r.version)).toEqual(versions);
    expect(await catalog(d.url)).toEqual(await catalog(template.current.url));
    // The library's migrator agrees that nothing is left to apply.
    expect(await migrate({ db: d.url })).toEqual([]);
    const { id } = await enqueue(anything, 1, { db: d.pool });
    expect(id).toMatch(/^\d+$/);
  });

  it('can target a custom schema', async () => {
    const d = await emptyDatabase();
    await d.pool.query(migrationScript('jobs_script'));
    expect(await catalog(d.url, 'jobs_script')).toEqual(await catalog(template.current.url));
    expect(await migrate({ db: d.url, schema: 'jobs_script' })).toEqual([]);
  });
});
