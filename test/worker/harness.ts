// Shared set-up for worker end-to-end tests: a ledger table, job helpers and worker processes.
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueueMany } from 'sluice';
import { killAllProcesses, spawnNode, type TestDatabase } from '@sluice/testkit';

export const workerScript = fileURLToPath(new URL('../fixtures/worker.mjs', import.meta.url));

export const ledgerPayload = z.object({
  sleepMs: z.number().optional(),
  firstAttemptSleepMs: z.number().optional(),
  isPoison: z.boolean().optional(),
  isSignalIgnored: z.boolean().optional(),
});

/** The task the fixture worker runs for `queue`. */
export function ledgerTask(queue = 'default', maxAttempts = 25) {
  return defineTask({ name: `ledger-${queue}`, queue, schema: ledgerPayload, maxAttempts });
}

export async function createLedger(db: TestDatabase) {
  await db.pool.query(
    'CREATE TABLE IF NOT EXISTS ledger (job_id bigint, attempt int, pid int, at timestamptz DEFAULT clock_timestamp())',
  );
}

export async function enqueueLedger(
  db: TestDatabase,
  count: number,
  payload: z.input<typeof ledgerPayload> = {},
  queue = 'default',
  maxAttempts = 25,
) {
  const task = ledgerTask(queue, maxAttempts);
  const out = await enqueueMany(
    Array.from({ length: count }, () => ({ task, payload })),
    { db: db.pool },
  );
  return out.map((o) => o.id);
}

/** Starts a fixture worker process against `db`. */
export function startWorker(db: TestDatabase, env: Record<string, string> = {}) {
  return spawnNode(workerScript, { DATABASE_URL: db.url, SLUICE_LOG_LEVEL: 'warn', ...env });
}

export async function rows<T = Record<string, unknown>>(
  db: TestDatabase,
  text: string,
  values: unknown[] = [],
) {
  return (await db.pool.query(text, values)).rows as T[];
}

/** Fails the test if a worker process outlived it (and kills it). */
export function assertNoWorkerOutlivesTest() {
  afterEach(async () => {
    const left = await killAllProcesses();
    expect(left, 'worker processes left running by the test').toBe(0);
  });
}

/** Stops workers gracefully and waits for them to exit. */
export async function stopAll(
  procs: { kill(s?: NodeJS.Signals): void; exited: Promise<unknown> }[],
) {
  procs.forEach((p) => p.kill('SIGTERM'));
  await Promise.all(procs.map((p) => p.exited));
}
