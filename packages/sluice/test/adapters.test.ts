// Knex and Drizzle transactions as a `db`: the job is written in the caller's transaction, so a
// rollback leaves no job and a commit keeps it; a bad enqueue leaves the transaction usable.
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import knexFactory from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineTask,
  enqueue,
  enqueueMany,
  fromDrizzle,
  fromKnex,
  UnknownQueueError,
  type PgQueryable,
} from 'sluice';
import { assertEnqueued, refuteEnqueued } from 'sluice/testing';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const note = defineTask({ name: 'note', schema: z.object({ by: z.string(), n: z.number() }) });
let pool: pg.Pool;
let knex: ReturnType<typeof knexFactory>;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: db.current.url, max: 2 });
  knex = knexFactory({ client: 'pg', connection: db.current.url, pool: { min: 0, max: 2 } });
});
afterAll(async () => {
  await knex.destroy();
  await pool.end();
});

class Rollback extends Error {}

/** Runs `body` in a transaction of each library, committed or rolled back. */
const libraries: [
  string,
  (body: (target: PgQueryable) => Promise<void>, commit: boolean) => Promise<void>,
][] = [
  [
    'knex',
    async (body, commit) => {
      await knex
        .transaction(async (trx) => {
          await body(fromKnex(trx));
          if (!commit) throw new Rollback();
        })
        .catch((e: unknown) => {
          if (!(e instanceof Rollback)) throw e;
        });
    },
  ],
  [
    'drizzle',
    async (body, commit) => {
      await drizzle(pool)
        .transaction(async (tx) => {
          await body(fromDrizzle(tx, sql));
          if (!commit) throw new Rollback();
        })
        .catch((e: unknown) => {
          if (!(e instanceof Rollback)) throw e;
        });
    },
  ],
];

describe.each(libraries)('a %s transaction', (by, inTransaction) => {
  it('rolls back with its jobs, and commits with them', async () => {
    await inTransaction(async (target) => {
      const { id } = await enqueue(note, { by, n: 1 }, { db: target, uniqueKey: `${by}-1` });
      expect(id).toMatch(/^\d+$/);
      await enqueueMany([{ task: note, payload: { by, n: 2 } }], { db: target });
      await assertEnqueued({ db: target, task: note, payload: { by }, count: 2 });
      // A failed enqueue is a typed error before any SQL reaches the transaction.
      await expect(enqueue(note, { by, n: 3 }, { db: target, queue: 'nope' })).rejects.toThrow(
        UnknownQueueError,
      );
      await assertEnqueued({ db: target, task: note, payload: { by }, count: 2 });
    }, false);
    await refuteEnqueued({ db: pool, task: note, payload: { by } });

    await inTransaction(async (target) => {
      await enqueue(note, { by, n: 1 }, { db: target });
    }, true);
    await assertEnqueued({ db: pool, task: note, payload: { by, n: 1 }, count: 1 });
  });
});
