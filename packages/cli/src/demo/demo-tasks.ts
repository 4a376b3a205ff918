// The demo's tasks module: `sluice demo` imports it to enqueue, and its worker processes run it
// with `sluice work --tasks <this file>`. Handlers reach the demo tables through DATABASE_URL,
// which the demo sets for its workers.
import pg from 'pg';
import { z } from 'zod';
import { defineTask } from 'sluice';
import { DEMO_SQL } from './demo-sql.js';

let pool: pg.Pool | undefined;

function db(): pg.Pool {
  if (!pool) {
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    pool.on('error', () => undefined);
  }
  return pool;
}

// A short fixed back-off keeps the demo quick; real tasks keep the exponential default.
const retry = { kind: 'fixed', delayMs: 500 } as const;

/** Sends (pretends to send) an order's confirmation email and marks the order. */
export const sendOrderEmail = defineTask({
  name: 'demo-send-order-email',
  queue: 'demo-mail',
  schema: z.object({ orderId: z.number().int(), to: z.string() }),
}).handle(async (payload) => {
  await db().query(DEMO_SQL.orderMarkEmailed, [payload.orderId]);
  return { sentTo: payload.to };
});

/** Charges a card through a flaky API: its first two attempts fail, the third succeeds. */
export const flakyCharge = defineTask({
  name: 'demo-flaky-charge',
  queue: 'demo',
  maxAttempts: 5,
  retry,
  schema: z.object({ orderId: z.number().int() }),
}).handle((_payload, ctx) => {
  if (ctx.attempt < 3) throw new Error(`payment API timed out (attempt ${ctx.attempt})`);
  return { isCharged: true, attempt: ctx.attempt };
});

/** Syncs an invoice; fails until the demo "fixes" the invoice API in the demo_flag table. */
export const syncInvoice = defineTask({
  name: 'demo-sync-invoice',
  queue: 'demo',
  maxAttempts: 3,
  retry,
  schema: z.object({ orderId: z.number().int() }),
}).handle(async () => {
  const { rows } = await db().query<{ is_fixed: boolean }>(DEMO_SQL.flagGet, ['invoice-api']);
  if (rows[0]?.is_fixed !== true) throw new Error('invoice API rejected the request (401)');
  return { isSynced: true };
});

/** What the demo's cron schedule runs every second. */
export const tick = defineTask({
  name: 'demo-tick',
  queue: 'demo',
  schema: z.object({}),
}).handle(() => ({ tickedAt: new Date().toISOString() }));

/** The bulk job: does nothing, so the drain shows the queue's own speed. */
export const bulkNoop = defineTask({
  name: 'demo-bulk',
  queue: 'demo-bulk',
  schema: z.object({ n: z.number().int() }),
}).handle(() => undefined);
