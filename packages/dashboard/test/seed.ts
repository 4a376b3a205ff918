// A small, realistic data set for the dashboard's tests: jobs in every state made by the real
// library (enqueue, drainQueue with real handlers, schedule), plus a worker and a leader row as
// a running worker would write them.
import type pg from 'pg';
import { z } from 'zod';
import { defineTask, enqueue, schedule } from 'sluice';
import { createQueue } from 'sluice/admin';
import { drainQueue } from 'sluice/testing';

export const sendEmail = defineTask({
  name: 'send-email',
  queue: 'mail',
  schema: z.object({ to: z.string() }),
});
export const chargeCard = defineTask({
  name: 'charge-card',
  queue: 'mail',
  maxAttempts: 1,
  schema: z.object({ card: z.string() }),
});

/** Ids of the seeded jobs, by what they show. */
export interface Seeded {
  completed: string[];
  dead: string[];
  pending: string;
  scheduled: string;
  running: string;
  keyed: string;
  workerId: string;
}

export async function seed(pool: pg.Pool): Promise<Seeded> {
  await createQueue({ db: pool, name: 'mail', concurrencyLimit: 5 });
  await createQueue({ db: pool, name: 'reports' });
  const completed: string[] = [];
  for (let i = 0; i < 3; i++) {
    completed.push((await enqueue(sendEmail, { to: `user${i}@example.com` }, { db: pool })).id);
  }
  const dead: string[] = [];
  for (let i = 0; i < 3; i++) {
    dead.push((await enqueue(chargeCard, { card: `secret-card-${i}` }, { db: pool })).id);
  }
  await drainQueue({
    db: pool,
    tasks: [
      sendEmail.handle(({ to }) => ({ messageId: `msg-for-${to}` })),
      chargeCard.handle((_p, ctx) => {
        ctx.log('calling the card gateway', { gateway: 'acme' });
        return Promise.reject(new Error('card declined'));
      }),
    ],
  });
  const pending = (await enqueue(sendEmail, { to: 'secret-pending@example.com' }, { db: pool })).id;
  const keyed = (
    await enqueue(
      sendEmail,
      { to: 'k@example.com' },
      { db: pool, uniqueKey: 'order-42', groupKey: 'customer-7' },
    )
  ).id;
  const scheduled = (
    await enqueue(sendEmail, { to: 'later@example.com' }, { db: pool, delayMs: 3_600_000 })
  ).id;
  const running = (await enqueue(sendEmail, { to: 'busy@example.com' }, { db: pool })).id;
  const workerId = 'w-test-1';
  await pool.query(
    `INSERT INTO sluice.worker (id, host, pid, queues, concurrency) VALUES ($1, 'host-a', 4242, '{mail,default}', 10)`,
    [workerId],
  );
  await pool.query(
    `INSERT INTO sluice.leader (name, worker_id, expires_at) VALUES ('maintenance', $1, now() + interval '1 minute')`,
    [workerId],
  );
  await pool.query(
    `UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = $2, started_at = now(),
       lease_expires_at = now() + interval '1 minute' WHERE id = $1`,
    [running, workerId],
  );
  await schedule({
    db: pool,
    name: 'nightly-report',
    cron: '0 2 * * *',
    timezone: 'Europe/Paris',
    task: 'send-report',
    queue: 'reports',
    payload: {},
  });
  return { completed, dead, pending, scheduled, running, keyed, workerId };
}
