import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineTask,
  enqueue,
  enqueueMany,
  InvalidNameError,
  InvalidOptionsError,
  InvalidPayloadError,
  PayloadTooLargeError,
  UnknownQueueError,
  type SluiceDatabase,
} from 'sluice';
import { createQueue } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const sendEmail = defineTask({
  name: 'send-email',
  schema: z.object({ to: z.string().email(), subject: z.string().max(200).optional() }),
  maxAttempts: 7,
});
const anything = defineTask({ name: 'anything', schema: z.unknown() });

async function countJobs(where = 'true', values: unknown[] = []) {
  const { rows } = await db.current.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM sluice.job WHERE ${where}`,
    values,
  );
  return Number(rows[0]!.n);
}

/** A connection that LISTENs and counts notifications per payload. */
async function listener() {
  const client = new pg.Client({ connectionString: db.current.url });
  await client.connect();
  const got: string[] = [];
  client.on('notification', (n) => got.push(n.payload ?? ''));
  await client.query('LISTEN "sluice:job"');
  return {
    got,
    // A round trip on the listening connection flushes notifications already delivered.
    flush: () => client.query('SELECT 1'),
    end: () => client.end(),
  };
}

async function markWaiting(queue: string) {
  await db.current.pool.query(
    `INSERT INTO sluice.worker_waiting (queue, worker_id) VALUES ($1, 'test') ON CONFLICT DO NOTHING`,
    [queue],
  );
}

describe('transactional enqueue', () => {
  let kysely: Kysely<SluiceDatabase>;
  beforeAll(async () => {
    kysely = new Kysely<SluiceDatabase>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.current.url }) }),
    });
    await db.current.pool.query('CREATE TABLE app_order (id serial PRIMARY KEY, note text)');
    await markWaiting('default');
  });
  afterAll(async () => {
    await kysely.destroy();
  });

  it('a rolled-back pg transaction leaves no job and wakes no listener', async () => {
    const l = await listener();
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO app_order (note) VALUES ('rolled back')`);
      const { id } = await enqueue(sendEmail, { to: 'a@example.com' }, { db: client });
      expect(id).toMatch(/^\d+$/);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await l.flush();
    expect(await countJobs()).toBe(0);
    expect(l.got).toEqual([]);
    await l.end();
  });

  it('a rolled-back Kysely transaction leaves no job', async () => {
    await expect(
      kysely.transaction().execute(async (trx) => {
        await sql`INSERT INTO app_order (note) VALUES ('kysely')`.execute(trx);
        await enqueue(sendEmail, { to: 'k@example.com' }, { db: trx });
        throw new Error('app failure');
      }),
    ).rejects.toThrow('app failure');
    expect(await countJobs()).toBe(0);
  });

  it('a rolled-back savepoint inside a committed transaction leaves no job', async () => {
    const l = await listener();
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SAVEPOINT s1');
      await enqueue(sendEmail, { to: 's@example.com' }, { db: client });
      await client.query('ROLLBACK TO SAVEPOINT s1');
      await client.query(`INSERT INTO app_order (note) VALUES ('kept')`);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await l.flush();
    expect(await countJobs()).toBe(0);
    expect(l.got).toEqual([]);
    await l.end();
  });

  it('a committed enqueue exists and wakes a listener exactly once at commit', async () => {
    const l = await listener();
    const client = await db.current.pool.connect();
    let id: string;
    try {
      await client.query('BEGIN');
      ({ id } = await enqueue(sendEmail, { to: 'c@example.com' }, { db: client }));
      await enqueue(sendEmail, { to: 'c2@example.com' }, { db: client });
      await l.flush();
      expect(l.got).toEqual([]); // not before commit
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await l.flush();
    expect(l.got).toEqual(['default']);
    expect(await countJobs('id = $1', [id])).toBe(1);
    await l.end();
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('a committed Kysely transaction writes the job', async () => {
    const { id } = await kysely.transaction().execute(async (trx) => {
      await sql`INSERT INTO app_order (note) VALUES ('kysely ok')`.execute(trx);
      return enqueue(sendEmail, { to: 'k2@example.com' }, { db: trx });
    });
    const row = await kysely
      .selectFrom('sluice.job')
      .select(['task', 'queue', 'state', 'max_attempts'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      task: 'send-email',
      queue: 'default',
      state: 'pending',
      max_attempts: 7,
    });
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('does not notify when no worker waits; a job scheduled later is announced as later', async () => {
    await createQueue({ db: db.current.pool, name: 'quiet' });
    const l = await listener();
    await enqueue(anything, 1, { db: db.current.pool, queue: 'quiet' });
    await enqueue(anything, 1, { db: db.current.pool, queue: 'quiet', delayMs: 60_000 });
    await l.flush();
    expect(l.got).toEqual([]);
    await markWaiting('quiet');
    // A waiting worker looks up the due time and wakes for it, instead of waiting for a poll.
    await enqueue(anything, 2, { db: db.current.pool, queue: 'quiet', delayMs: 60_000 });
    await l.flush();
    expect(l.got).toEqual(['quiet|later']);
    l.got.length = 0;
    await enqueueMany(
      [1, 2, 3].map((n) => ({ task: anything, payload: n, queue: 'quiet' })),
      { db: db.current.pool },
    );
    await l.flush();
    expect(l.got).toEqual(['quiet']); // one per statement, not one per job
    await l.end();
  });
});

describe('the SQL function', () => {
  it('writes the same row as the TypeScript client, column by column', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const { id: fromTs } = await enqueue(
      sendEmail,
      { to: 'same@example.com', subject: 'Hi' },
      {
        db: db.current.pool,
        runAt,
        priority: 5,
        maxAttempts: 3,
        uniqueKey: 'u-ts',
        groupKey: 'tenant-1',
      },
    );
    const { rows } = await db.current.pool.query<{ id: string }>(
      `SELECT sluice.enqueue('send-email', $1::jsonb, 'default', $2, 5, 3, 'u-sql', 'tenant-1') AS id`,
      [JSON.stringify({ to: 'same@example.com', subject: 'Hi' }), runAt],
    );
    const fromSql = rows[0]!.id;
    const { rows: both } = await db.current.pool.query<Record<string, unknown>>(
      'SELECT * FROM sluice.job WHERE id = ANY($1) ORDER BY id',
      [[fromTs, fromSql]],
    );
    expect(both).toHaveLength(2);
    const [a, b] = both as [Record<string, unknown>, Record<string, unknown>];
    for (const column of Object.keys(a)) {
      if (column === 'id' || column === 'created_at') continue;
      if (column === 'unique_key') continue;
      expect({ column, value: b[column] }).toEqual({ column, value: a[column] });
    }
    expect([a.unique_key, b.unique_key]).toEqual(['u-ts', 'u-sql']);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    expect(b.group_key).toBe('tenant-1');
    // Same defaults when only task and payload are given.
    const { rows: d } = await db.current.pool.query<{ id: string }>(
      `SELECT sluice.enqueue('anything', '{}') AS id`,
    );
    const { rows: def } = await db.current.pool.query(
      'SELECT queue, state, priority, attempt, max_attempts, run_at <= now() AS due FROM sluice.job WHERE id = $1',
      [d[0]!.id],
    );
    expect(def[0]).toEqual({
      queue: 'default',
      state: 'pending',
      priority: 0,
      attempt: 0,
      max_attempts: 25,
      due: true,
    });
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('returns the existing id for a unique_key conflict and rejects an unknown queue', async () => {
    const q = `SELECT sluice.enqueue('anything', '{}', 'default', now(), 0, NULL, 'same') AS id`;
    const first = (await db.current.pool.query<{ id: string }>(q)).rows[0]!.id;
    const second = (await db.current.pool.query<{ id: string }>(q)).rows[0]!.id;
    expect(second).toBe(first);
    await expect(
      db.current.pool.query(`SELECT sluice.enqueue('anything', '{}', 'nope')`),
    ).rejects.toThrow(/unknown queue 'nope': create it with select sluice.create_queue/);
    await expect(db.current.pool.query(`SELECT sluice.enqueue('bad name!', '{}')`)).rejects.toThrow(
      /invalid task name/,
    );
    await db.current.pool.query('DELETE FROM sluice.job');
  });
});

describe('the SQL function refuses useless rows', () => {
  for (const [name, call, message] of [
    ['a NULL payload', `SELECT sluice.enqueue('anything', NULL)`, /payload must not be NULL/],
    [
      'a run_at that never comes',
      `SELECT sluice.enqueue('anything', '{}', run_at => 'infinity')`,
      /never comes/,
    ],
    [
      'max_attempts 0',
      `SELECT sluice.enqueue('anything', '{}', max_attempts => 0)`,
      /max_attempts 0 is out of range/,
    ],
  ] as const) {
    it(`${name} → SQLSTATE 22023`, async () => {
      const err = (await db.current.pool.query(call).catch((e: unknown) => e)) as {
        code?: string;
        message?: string;
      };
      expect(err.code).toBe('22023');
      expect(err.message).toMatch(message);
      expect(await countJobs()).toBe(0);
    });
  }
});

describe('bad input', () => {
  beforeAll(async () => {
    await createQueue({ db: db.current.pool, name: 'tiny', maxPayloadBytes: 64 });
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  const cases: [string, () => Promise<unknown>, new (...args: never[]) => Error][] = [];
  const add = (
    name: string,
    fn: (c: pg.PoolClient) => Promise<unknown>,
    type: new (...args: never[]) => Error,
  ) => cases.push([name, fn as never, type]);
  add(
    'payload failing the schema',
    (c) => enqueue(sendEmail, { to: 'not-an-email' }, { db: c }),
    InvalidPayloadError,
  );
  add(
    'payload over the queue cap',
    (c) => enqueue(anything, { s: 'x'.repeat(100) }, { db: c, queue: 'tiny' }),
    PayloadTooLargeError,
  );
  add(
    'payload over the default 256 KiB cap',
    (c) => enqueue(anything, { s: 'x'.repeat(300_000) }, { db: c }),
    PayloadTooLargeError,
  );
  add(
    'unknown queue',
    (c) => enqueue(anything, {}, { db: c, queue: 'missing' }),
    UnknownQueueError,
  );
  add(
    'invalid queue name',
    (c) => enqueue(anything, {}, { db: c, queue: 'bad queue!' }),
    InvalidNameError,
  );
  add('bigint payload', (c) => enqueue(anything, { n: 10n }, { db: c }), InvalidPayloadError);
  add(
    'circular payload',
    (c) => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return enqueue(anything, o, { db: c });
    },
    InvalidPayloadError,
  );
  add('NaN in payload', (c) => enqueue(anything, { n: NaN }, { db: c }), InvalidPayloadError);
  add(
    '\\u0000 in a string',
    (c) => enqueue(anything, { s: 'a\u0000b' }, { db: c }),
    InvalidPayloadError,
  );
  add('a Map', (c) => enqueue(anything, { m: new Map() }, { db: c }), InvalidPayloadError);
  add(
    '\\u0000 in an object key',
    (c) => enqueue(anything, { 'k\u0000': 1 }, { db: c }),
    InvalidPayloadError,
  );
  add(
    'a lone surrogate',
    (c) => enqueue(anything, { s: '\ud800' }, { db: c }),
    InvalidPayloadError,
  );
  add(
    'a lone surrogate in a key',
    (c) => enqueue(anything, { ['\udc00x']: 1 }, { db: c }),
    InvalidPayloadError,
  );
  add(
    'an array nested 100,000 deep',
    (c) => {
      let deep: unknown[] = [];
      for (let i = 0; i < 100_000; i++) deep = [deep];
      return enqueue(anything, deep, { db: c });
    },
    InvalidPayloadError,
  );
  add(
    '\\u0000 in uniqueKey',
    (c) => enqueue(anything, {}, { db: c, uniqueKey: 'a\u0000b' }),
    InvalidOptionsError,
  );
  add(
    'a lone surrogate in groupKey',
    (c) => enqueue(anything, {}, { db: c, groupKey: '\ud800' }),
    InvalidOptionsError,
  );
  add(
    'a priority beyond int4',
    (c) => enqueue(anything, {}, { db: c, priority: 2 ** 31 }),
    InvalidOptionsError,
  );
  add(
    'a fractional priority',
    (c) => enqueue(anything, {}, { db: c, priority: 1.5 }),
    InvalidOptionsError,
  );
  add(
    'bulk with a priority beyond int4',
    (c) => enqueueMany([{ task: anything, payload: 1, priority: -(2 ** 31) - 1 }], { db: c }),
    InvalidOptionsError,
  );
  add(
    'uniqueScope without a uniqueKey',
    (c) => enqueue(anything, {}, { db: c, uniqueScope: 'retained' }),
    InvalidOptionsError,
  );
  add(
    'a retained unique key into an unknown queue',
    (c) =>
      enqueue(anything, {}, { db: c, queue: 'missing', uniqueKey: 'k', uniqueScope: 'retained' }),
    UnknownQueueError,
  );
  add(
    'unknown option',
    (c) => enqueue(anything, {}, { db: c, prority: 1 } as never),
    InvalidOptionsError,
  );
  add(
    'runAt and delayMs together',
    (c) => enqueue(anything, {}, { db: c, runAt: new Date(), delayMs: 5 }),
    InvalidOptionsError,
  );
  add(
    'bulk with one bad payload',
    (c) =>
      enqueueMany(
        [
          { task: sendEmail, payload: { to: 'a@b.co' } },
          { task: sendEmail, payload: { to: 'x' } },
        ],
        { db: c },
      ),
    InvalidPayloadError,
  );
  add(
    'bulk into an unknown queue',
    (c) => enqueueMany([{ task: anything, payload: 1, queue: 'missing' }], { db: c }),
    UnknownQueueError,
  );

  it.each(cases)('%s → typed error, no row, transaction still usable', async (_name, fn, type) => {
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO app_order (note) VALUES ('before')`);
      await expect((fn as (c: pg.PoolClient) => Promise<unknown>)(client)).rejects.toBeInstanceOf(
        type,
      );
      // The transaction is still usable: a statement succeeds and the commit keeps it.
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM sluice.job');
      expect(rows[0]!.n).toBe('0');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await countJobs()).toBe(0);
  });

  it('the error names the zod issues and the missing queue', async () => {
    const err = await enqueue(sendEmail, { to: 'nope' }, { db: db.current.pool }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidPayloadError);
    expect((err as InvalidPayloadError).issues[0]?.path).toEqual(['to']);
    expect((err as Error).message).toMatch(/to: /);
    const err2 = await enqueue(anything, 1, { db: db.current.pool, queue: 'ghost' }).catch(
      (e: unknown) => e,
    );
    expect((err2 as Error).message).toMatch(/unknown queue "ghost": create it with createQueue/);
  });
});

describe('uniqueKey and bulk', () => {
  it('20 concurrent enqueuers of the same key write exactly one row', async () => {
    const pool = new pg.Pool({ connectionString: db.current.url, max: 20 });
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          const r = await enqueue(anything, { n: 1 }, { db: c, uniqueKey: 'report:2026-11-22' });
          await c.query('COMMIT');
          return r;
        } finally {
          c.release();
        }
      }),
    );
    await pool.end();
    expect(await countJobs(`unique_key = 'report:2026-11-22'`)).toBe(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => !r.isDuplicate)).toHaveLength(1);
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('bulk enqueue maps ids to inputs and reports duplicates', async () => {
    await enqueue(anything, 0, { db: db.current.pool, uniqueKey: 'k0' });
    const out = await enqueueMany(
      [
        { task: anything, payload: 1 },
        { task: anything, payload: 2, uniqueKey: 'k0' },
        { task: anything, payload: 3, uniqueKey: 'k1' },
        { task: anything, payload: 4, uniqueKey: 'k1' },
        { task: anything, payload: 5 },
      ],
      { db: db.current.pool },
    );
    expect(out.map((o) => o.isDuplicate)).toEqual([false, true, false, true, false]);
    expect(out[3]!.id).toBe(out[2]!.id);
    const { rows } = await db.current.pool.query<{ id: string; payload: unknown }>(
      'SELECT id, payload FROM sluice.job WHERE id = ANY($1)',
      [out.map((o) => o.id)],
    );
    const byId = new Map(rows.map((r) => [r.id, r.payload]));
    expect(out.map((o) => byId.get(o.id))).toEqual([1, 0, 3, 3, 5]);
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('bulk jobs that differ in every option get their own columns', async () => {
    await createQueue({ db: db.current.pool, name: 'other' });
    const runAt = new Date(Date.now() + 3_600_000);
    const out = await enqueueMany(
      [
        { task: anything, payload: { n: 1 } },
        {
          task: sendEmail,
          payload: { to: 'a@b.co' },
          queue: 'other',
          priority: 5,
          maxAttempts: 2,
          groupKey: 'tenant-1',
          runAt,
        },
        { task: anything, payload: [1, 'two'], delayMs: 60_000, uniqueKey: 'u1' },
      ],
      { db: db.current.pool },
    );
    const { rows } = await db.current.pool.query<Record<string, unknown>>(
      `SELECT id, queue, task, payload, priority, max_attempts, group_key, unique_key,
         run_at = $2::timestamptz AS is_at_run_at,
         run_at BETWEEN now() + interval '50 s' AND now() + interval '70 s' AS is_delayed,
         run_at <= now() AS is_due
       FROM sluice.job WHERE id = ANY($1) ORDER BY id`,
      [out.map((o) => o.id), runAt],
    );
    expect(rows.map((r) => r.id)).toEqual(out.map((o) => o.id));
    expect(rows[0]).toMatchObject({ queue: 'default', task: 'anything', payload: { n: 1 } });
    expect(rows[0]).toMatchObject({ priority: 0, max_attempts: 25, group_key: null, is_due: true });
    expect(rows[1]).toMatchObject({ queue: 'other', task: 'send-email', priority: 5 });
    expect(rows[1]).toMatchObject({ max_attempts: 2, group_key: 'tenant-1', is_at_run_at: true });
    expect(rows[2]).toMatchObject({ payload: [1, 'two'], unique_key: 'u1', is_delayed: true });
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('a bulk call whose last chunk is over the cap writes nothing, even without a transaction', async () => {
    const jobs = [1, 2, 3, 4].map((i) => ({ task: anything, payload: { i }, queue: 'tiny' }));
    jobs.push({ task: anything, payload: { i: 'x'.repeat(100) } as never, queue: 'tiny' });
    await expect(enqueueMany(jobs, { db: db.current.pool, chunkSize: 2 })).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
    expect(await countJobs()).toBe(0);
  });

  it('a bulk call with more payload bytes than one statement carries is split, in order', async () => {
    await createQueue({ db: db.current.pool, name: 'big', maxPayloadBytes: 2_000_000 });
    // 40 payloads of 1 MB: over the 32 MB a chunk carries, so at least two statements.
    const jobs = Array.from({ length: 40 }, (_, i) => ({
      task: anything,
      payload: { i, s: 'x'.repeat(1_000_000) },
      queue: 'big',
    }));
    let statements = 0;
    const counting = {
      query: (...args: Parameters<pg.Pool['query']>) => {
        statements++;
        return db.current.pool.query(...args);
      },
    } as unknown as pg.Pool;
    const out = await enqueueMany(jobs, { db: counting });
    expect(statements).toBe(2);
    const { rows } = await db.current.pool.query<{ ok: boolean; n: number }>(
      `SELECT bool_and((payload->>'i')::int = ord - 1) AS ok, count(*)::int AS n
       FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) JOIN sluice.job j ON j.id = t.id`,
      [out.map((o) => o.id)],
    );
    expect(rows[0]).toEqual({ ok: true, n: 40 });
    await db.current.pool.query('DELETE FROM sluice.job');
  });

  it('100,000 jobs in one call', async () => {
    const jobs = Array.from({ length: 100_000 }, (_, i) => ({ task: anything, payload: { i } }));
    const out = await enqueueMany(jobs, { db: db.current.pool });
    expect(out).toHaveLength(100_000);
    expect(await countJobs()).toBe(100_000);
    const { rows } = await db.current.pool.query<{ ok: boolean }>(
      `SELECT bool_and((payload->>'i')::int = ord - 1) AS ok
       FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) JOIN sluice.job j ON j.id = t.id`,
      [out.map((o) => o.id)],
    );
    expect(rows[0]!.ok).toBe(true);
    await db.current.pool.query('TRUNCATE sluice.job');
  });
});

describe('prepared statements', () => {
  it('enqueue uses a named prepared statement, and preparedStatements: false turns it off', async () => {
    const prepared = async (off: boolean) => {
      const client = new pg.Client({ connectionString: db.current.url });
      await client.connect();
      try {
        await enqueue(anything, 1, { db: client, preparedStatements: !off });
        const { rows } = await client.query<{ name: string }>(
          'SELECT name FROM pg_prepared_statements',
        );
        return rows.map((r) => r.name);
      } finally {
        await client.end();
      }
    };
    expect(await prepared(false)).toEqual(['sluice_job_insert']);
    expect(await prepared(true)).toEqual([]);
    await db.current.pool.query('DELETE FROM sluice.job');
  });
});

describe('uniqueness scopes', () => {
  async function finish(id: string) {
    // Completes the job as a worker would: moved to history.
    await db.current.pool.query(
      `WITH d AS (DELETE FROM sluice.job WHERE id = $1 RETURNING *)
       INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
         max_attempts, unique_key, group_key, created_at)
       SELECT id, queue, task, payload, 'completed', priority, run_at, 1, max_attempts, unique_key,
         group_key, created_at FROM d`,
      [id],
    );
  }

  it("'unfinished' (the default) frees the key when the job finishes", async () => {
    const first = await enqueue(anything, {}, { db: db.current.pool, uniqueKey: 'free' });
    await finish(first.id);
    const again = await enqueue(anything, {}, { db: db.current.pool, uniqueKey: 'free' });
    expect(again.isDuplicate).toBe(false);
  });

  it("'retained' and finishedWithinMs keep it after the job finished, in TS, bulk and SQL", async () => {
    const opts = { db: db.current.pool, uniqueKey: 'pay:1', uniqueScope: 'retained' } as const;
    const first = await enqueue(anything, {}, opts);
    expect(first.isDuplicate).toBe(false);
    expect(await enqueue(anything, {}, opts)).toEqual({ id: first.id, isDuplicate: true });
    await finish(first.id);
    expect(await enqueue(anything, {}, opts)).toEqual({ id: first.id, isDuplicate: true });
    const bulk = await enqueueMany(
      [
        { task: anything, payload: 1 },
        { task: anything, payload: 2, uniqueKey: 'pay:1', uniqueScope: 'retained' },
        {
          task: anything,
          payload: 3,
          uniqueKey: 'pay:2',
          uniqueScope: { finishedWithinMs: 60_000 },
        },
      ],
      { db: db.current.pool },
    );
    expect(bulk.map((b) => b.isDuplicate)).toEqual([false, true, false]);
    expect(bulk[1]!.id).toBe(first.id);
    const { rows } = await db.current.pool.query<{ id: string }>(
      `SELECT sluice.enqueue('anything', '{}', unique_key => 'pay:1',
         unique_finished_within => interval '1 hour') AS id`,
    );
    expect(rows[0]!.id).toBe(first.id);
    // A window that has passed frees it.
    await db.current.pool.query(
      `UPDATE sluice.job_history SET finished_at = now() - interval '2 minutes' WHERE id = $1`,
      [first.id],
    );
    const later = await enqueue(
      anything,
      {},
      {
        db: db.current.pool,
        uniqueKey: 'pay:1',
        uniqueScope: { finishedWithinMs: 60_000 },
      },
    );
    expect(later.isDuplicate).toBe(false);
  });

  it('concurrent enqueues of one retained key write one job', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = await db.current.pool.connect();
        try {
          await c.query('BEGIN');
          const r = await enqueue(
            anything,
            {},
            { db: c, uniqueKey: 'race', uniqueScope: 'retained' },
          );
          await c.query('COMMIT');
          return r;
        } finally {
          c.release();
        }
      }),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => !r.isDuplicate)).toHaveLength(1);
  });
});

describe('replay keeps the unique key', () => {
  it('a replayed job still deduplicates; a replay whose key a live job holds is skipped, never doubled', async () => {
    const { id } = await enqueue(anything, {}, { db: db.current.pool, uniqueKey: 'payment-7' });
    await db.current.pool.query(
      `WITH d AS (DELETE FROM sluice.job WHERE id = $1 RETURNING *)
       INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
         max_attempts, unique_key, group_key, errors, reason, created_at)
       SELECT id, queue, task, payload, priority, run_at, 3, max_attempts, unique_key, group_key,
         errors, 'attempts_exhausted', created_at FROM d`,
      [id],
    );
    // While it is dead, the key is free (scope 'unfinished'): a new job takes it.
    const other = await enqueue(anything, {}, { db: db.current.pool, uniqueKey: 'payment-7' });
    const skipped = await db.current.pool.query(`SELECT sluice.replay_dead_letter($1) AS id`, [id]);
    expect(skipped.rows[0].id).toBeNull();
    expect(
      (await db.current.pool.query(`SELECT count(*)::int AS n FROM sluice.dead_letter`)).rows[0].n,
    ).toBe(1);
    await db.current.pool.query(`DELETE FROM sluice.job WHERE id = $1`, [other.id]);
    const replayed = await db.current.pool.query(`SELECT sluice.replay_dead_letters() AS n`);
    expect(replayed.rows[0].n).toBe(1);
    const { rows } = await db.current.pool.query(
      `SELECT unique_key FROM sluice.job WHERE id = $1`,
      [id],
    );
    expect(rows).toEqual([{ unique_key: 'payment-7' }]);
    const dup = await enqueue(anything, {}, { db: db.current.pool, uniqueKey: 'payment-7' });
    expect(dup).toEqual({ id, isDuplicate: true });
    expect(
      (await db.current.pool.query(`SELECT sluice.replay_dead_letters() AS n`)).rows[0].n,
    ).toBe(0);
    await db.current.pool.query('DELETE FROM sluice.job');
  });
});
