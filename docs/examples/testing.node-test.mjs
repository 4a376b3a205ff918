// The node:test example of docs/testing.md (run by packages/sluice/test/testing.test.ts).
// Each test runs in a transaction that is rolled back, so tests leave nothing behind.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { z } from 'zod';
import { defineTask, enqueue } from 'sluice';
import { assertEnqueued, drainQueue } from 'sluice/testing';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
let client;

const sendEmail = defineTask({ name: 'send-email', schema: z.object({ to: z.string() }) });

// The code under test: writes the user and enqueues the email in one transaction.
async function signUp(db, email) {
  await enqueue(sendEmail, { to: email }, { db });
}

beforeEach(async () => {
  client = await pool.connect();
  await client.query('BEGIN');
});

afterEach(async () => {
  await client.query('ROLLBACK');
  client.release();
});

test('sign-up sends a welcome email', async () => {
  await signUp(client, 'ada@example.com');
  await assertEnqueued({ db: client, task: sendEmail, payload: { to: 'ada@example.com' } });

  const sent = [];
  const result = await drainQueue({
    db: client,
    tasks: [sendEmail.handle((p) => sent.push(p.to))],
  });
  assert.equal(result.completed, 1);
  assert.deepEqual(sent, ['ada@example.com']);
});

test.after(() => pool.end());
