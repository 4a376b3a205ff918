// A database Sluice was never migrated into reports SchemaNotMigratedError, naming the schema and
// `sluice migrate`, instead of a raw "relation does not exist" (the defects issue, item 18).
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { replayDeadLetter } from 'sluice/admin';
import { defineTask, enqueue, enqueueMany, SchemaNotMigratedError, SluiceError } from 'sluice';
import { createTestDatabase, type TestDatabase } from '@sluice/testkit';
import { serverUrl, useTestDatabase } from '../../../test/setup/db.js';

const task = defineTask({ name: 'unmigrated', schema: z.object({ n: z.number() }) });
const migrated = useTestDatabase();
let empty: TestDatabase;

beforeAll(async () => {
  empty = await createTestDatabase(serverUrl());
});
afterAll(async () => {
  await empty?.drop();
});

async function failure(p: Promise<unknown>): Promise<SchemaNotMigratedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SchemaNotMigratedError);
  return err as SchemaNotMigratedError;
}

describe('SchemaNotMigratedError', () => {
  it('enqueue into a database without the schema', async () => {
    const err = await failure(enqueue(task, { n: 1 }, { db: empty.pool }));
    expect(err).toBeInstanceOf(SluiceError);
    expect(err.code).toBe('SCHEMA_NOT_MIGRATED');
    expect(err.schema).toBe('sluice');
    expect(err.message).toMatch(/^schema "sluice" is not migrated \(.*\): run `sluice migrate`/);
    expect(err.message).toContain('migrate() from the library');
    // A qualified table in a missing schema is 42P01; a function in one is 3F000.
    expect((err.cause as { code?: string }).code).toBe('42P01');
    const fn = await failure(replayDeadLetter({ db: empty.pool, id: '1' }));
    expect((fn.cause as { code?: string }).code).toBe('3F000');

    const kysely = new Kysely({ dialect: new PostgresDialect({ pool: empty.pool }) });
    const viaKysely = await failure(enqueueMany([{ task, payload: { n: 2 } }], { db: kysely }));
    expect(viaKysely.code).toBe('SCHEMA_NOT_MIGRATED');
  });

  it('an empty schema: missing functions (42883)', async () => {
    await empty.pool.query('CREATE SCHEMA IF NOT EXISTS sluice');
    const fn = await failure(replayDeadLetter({ db: empty.pool, id: '1' }));
    expect((fn.cause as { code?: string }).code).toBe('42883');
    expect(fn.schema).toBe('sluice');
  });

  it('a configured schema that was never migrated, next to a migrated one', async () => {
    const err = await failure(
      enqueue(task, { n: 1 }, { db: migrated.current.pool, schema: 'jobs' }),
    );
    expect(err.schema).toBe('jobs');
    expect(err.message).toMatch(/^schema "jobs" is not migrated/);
  });
});
