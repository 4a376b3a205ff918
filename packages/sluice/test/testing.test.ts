// sluice/testing: assertions on what code enqueued and drainQueue, in the caller's connection,
// inside an open transaction too (what users' tests do), against the real database.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AssertionError } from 'node:assert';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue, PermanentError, snooze } from 'sluice';
import { assertEnqueued, drainQueue, enqueuedJobs, refuteEnqueued } from 'sluice/testing';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
let client: pg.PoolClient;

beforeEach(async () => {
  client = await db.current.pool.connect();
  await client.query('BEGIN');
});
afterEach(async () => {
  await client.query('ROLLBACK');
  client.release();
});

const sendEmail = defineTask({
  name: 'send-email',
  schema: z.object({ to: z.string(), template: z.object({ name: z.string(), lang: z.string() }) }),
});

/** Code under test: signs a user up and enqueues a welcome email in the same transaction. */
async function signUp(c: pg.PoolClient, email: string) {
  await enqueue(sendEmail, { to: email, template: { name: 'welcome', lang: 'en' } }, { db: c });
}

describe('assertions', () => {
  it('see jobs written by the open transaction, matching a partial payload', async () => {
    await signUp(client, 'ada@example.com');
    const [job] = await assertEnqueued({
      db: client,
      task: sendEmail,
      payload: { to: 'ada@example.com', template: { name: 'welcome' } },
    });
    expect(job).toMatchObject({ task: 'send-email', queue: 'default', state: 'pending' });
    await assertEnqueued({ db: client, task: 'send-email', count: 1 });
    await refuteEnqueued({ db: client, task: sendEmail, payload: { to: 'bob@example.com' } });
    // Outside the transaction nothing is visible yet.
    expect(await enqueuedJobs({ db: db.current.pool, task: sendEmail })).toEqual([]);
  });

  it('fail with a message listing what the task has enqueued', async () => {
    await signUp(client, 'ada@example.com');
    const err = await assertEnqueued({
      db: client,
      task: sendEmail,
      payload: { to: 'bob@example.com' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssertionError);
    expect((err as Error).message).toMatch(
      /expected at least one job of task "send-email" with payload matching \{"to":"bob@example.com"\}, found 0\. Enqueued for the task: default \{"to":"ada@example.com"/,
    );
    await expect(assertEnqueued({ db: client, task: sendEmail, count: 2 })).rejects.toThrow(
      /expected 2 job\(s\) of task "send-email", found 1/,
    );
    await expect(refuteEnqueued({ db: client, task: sendEmail })).rejects.toThrow(
      /expected no job of task "send-email", found 1/,
    );
  });
});

describe('drainQueue', () => {
  it('runs the jobs with their real handlers inside the transaction, and jobs they enqueue', async () => {
    const sent: string[] = [];
    const followUp = defineTask({ name: 'follow-up', schema: z.object({ to: z.string() }) });
    const send = sendEmail.handle(async (p) => {
      sent.push(p.to);
      await enqueue(followUp, { to: p.to }, { db: client });
    });
    const follow = followUp.handle((p) => {
      sent.push(`follow-up ${p.to}`);
      return { ok: true };
    });
    await signUp(client, 'ada@example.com');
    const result = await drainQueue({ db: client, tasks: [send, follow] });
    expect(result).toEqual({ completed: 2, retried: 0, dead: 0, cancelled: 0, snoozed: 0 });
    expect(sent).toEqual(['ada@example.com', 'follow-up ada@example.com']);
    const { rows } = await client.query(
      `SELECT task, state, attempt, result, started_at IS NOT NULL AS has_start
       FROM sluice.job_history ORDER BY id`,
    );
    expect(rows).toEqual([
      { task: 'send-email', state: 'completed', attempt: 1, result: null, has_start: true },
      { task: 'follow-up', state: 'completed', attempt: 1, result: { ok: true }, has_start: true },
    ]);
    await refuteEnqueued({ db: client, task: sendEmail });
    // The drain registered and unregistered itself like a worker.
    expect((await client.query('SELECT * FROM sluice.worker')).rows).toEqual([]);
  });

  it('stops at retries waiting for their back-off unless withScheduled; dead letters and snoozes count', async () => {
    let calls = 0;
    const flaky = defineTask({ name: 'flaky', schema: z.object({}) }).handle(() => {
      if (++calls === 1) throw new Error('first time fails');
      if (calls === 2) return snooze(60_000);
    });
    const doomed = defineTask({ name: 'doomed', schema: z.object({}) }).handle(() => {
      throw new PermanentError('never');
    });
    await enqueue(flaky, {}, { db: client });
    await enqueue(doomed, {}, { db: client });
    expect(await drainQueue({ db: client, tasks: [flaky, doomed] })).toEqual({
      completed: 0,
      retried: 1,
      dead: 1,
      cancelled: 0,
      snoozed: 0,
    });
    await assertEnqueued({ db: client, task: flaky, count: 1 });
    expect(await drainQueue({ db: client, tasks: [flaky, doomed], withScheduled: true })).toEqual({
      completed: 1,
      retried: 0,
      dead: 0,
      cancelled: 0,
      snoozed: 1,
    });
    expect(calls).toBe(3);
    const { rows } = await client.query(`SELECT task, reason FROM sluice.dead_letter`);
    expect(rows).toEqual([{ task: 'doomed', reason: 'permanent' }]);
  });

  it('refuses a task list without tasks, with a typed error', async () => {
    await expect(drainQueue({ db: client, tasks: [] })).rejects.toThrow(/drain options/);
  });
});

describe('the node:test example of docs/testing.md', () => {
  it('passes under node --test', () => {
    const file = fileURLToPath(
      new URL('../../../docs/examples/testing.node-test.mjs', import.meta.url),
    );
    const run = spawnSync(process.execPath, ['--test', file], {
      env: { ...process.env, DATABASE_URL: db.current.url },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stdout + run.stderr).toMatch(/# pass 1/);
    expect(run.status).toBe(0);
  });
});
