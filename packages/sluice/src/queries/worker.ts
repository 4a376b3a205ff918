// Statements on sluice.worker, sluice.worker_waiting and sluice.leader.
import type { Executor } from '../core/db.js';
import { doneChannel } from '../core/names.js';
import { inSchema } from '../core/schema-sql.js';

export async function workerRegister(
  db: Executor,
  schema: string,
  p: { id: string; host: string; pid: number; queues: string[]; concurrency: number },
) {
  await db.query(
    inSchema(
      `INSERT INTO sluice.worker (id, host, pid, queues, concurrency) VALUES ($1, $2, $3, $4, $5)`,
      schema,
    ),
    [p.id, p.host, p.pid, p.queues, p.concurrency],
  );
}

export async function workerHeartbeat(db: Executor, schema: string, id: string) {
  const { rowCount } = await db.query(
    inSchema(`UPDATE sluice.worker SET heartbeat_at = now() WHERE id = $1`, schema),
    [id],
  );
  return rowCount > 0;
}

export async function workerUnregister(db: Executor, schema: string, id: string) {
  await db.query(
    inSchema(
      `WITH w AS (DELETE FROM sluice.worker_waiting WHERE worker_id = $1)
       DELETE FROM sluice.worker WHERE id = $1`,
      schema,
    ),
    [id],
  );
}

/** Removes workers (and their waiting marks) that stopped heartbeating; returns their ids. */
export async function workerDeleteStale(db: Executor, schema: string, staleMs: number) {
  const { rows } = await db.query<{ id: string }>(
    inSchema(
      `WITH stale AS (
         DELETE FROM sluice.worker
         WHERE heartbeat_at < now() - $1::float8 * interval '1 millisecond'
         RETURNING id
       ), w AS (
         DELETE FROM sluice.worker_waiting ww
         WHERE ww.worker_id IN (SELECT id FROM stale)
           OR NOT EXISTS (SELECT 1 FROM sluice.worker k WHERE k.id = ww.worker_id)
       )
       SELECT id FROM stale`,
      schema,
    ),
    [staleMs],
  );
  return rows.map((r) => r.id);
}

export async function workerWaitingSet(
  db: Executor,
  schema: string,
  p: { workerId: string; queue: string; isWaiting: boolean },
) {
  await db.query(
    inSchema(
      p.isWaiting
        ? `INSERT INTO sluice.worker_waiting (queue, worker_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
        : `DELETE FROM sluice.worker_waiting WHERE queue = $1 AND worker_id = $2`,
      schema,
    ),
    [p.queue, p.workerId],
  );
}

/** Takes or renews the named leadership for `ttlMs`; true when this worker holds it. */
export async function leaderAttemptElect(
  db: Executor,
  schema: string,
  p: { name: string; workerId: string; ttlMs: number },
) {
  const { rows } = await db.query<{ worker_id: string }>(
    inSchema(
      `INSERT INTO sluice.leader (name, worker_id, expires_at)
       VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE
         SET worker_id = excluded.worker_id, expires_at = excluded.expires_at,
           elected_at = CASE WHEN leader.worker_id = excluded.worker_id THEN leader.elected_at
             ELSE now() END
         WHERE leader.worker_id = excluded.worker_id OR leader.expires_at < now()
       RETURNING worker_id`,
      schema,
    ),
    [p.name, p.workerId, p.ttlMs],
  );
  return rows[0]?.worker_id === p.workerId;
}

export async function leaderResign(
  db: Executor,
  schema: string,
  p: { name: string; workerId: string },
) {
  await db.query(inSchema(`DELETE FROM sluice.leader WHERE name = $1 AND worker_id = $2`, schema), [
    p.name,
    p.workerId,
  ]);
}

/** The job-channel payload that tells workers a listener wants 'active' events (not a queue name). */
export const LISTENERS_CHANGED = '*listeners';

/**
 * Records (or renews) a producer that listens for job outcomes, and what more it wants. A new
 * listener of 'active' events tells the workers at once (they otherwise learn it at their poll).
 */
export async function eventListenerUpsert(
  db: Executor,
  schema: string,
  id: string,
  wants: { active: boolean; progress: boolean } = { active: false, progress: false },
) {
  await db.query(
    inSchema(
      `WITH up AS (
         INSERT INTO sluice.event_listener (id, wants_active, wants_progress) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
         RETURNING xmax = 0 AS is_new
       )
       SELECT pg_notify('sluice:job', $4) FROM up WHERE up.is_new AND $2`,
      schema,
    ),
    [id, wants.active, wants.progress, LISTENERS_CHANGED],
  );
}

/** Announces events the worker builds itself ('active' at claim), chunked like the others. */
export async function jobEventsNotify(db: Executor, schema: string, events: string[]) {
  await db.query(inSchema(`SELECT sluice.notify_job_events($1::text[])`, schema), [events]);
}

export async function eventListenerDelete(db: Executor, schema: string, id: string) {
  await db.query(inSchema(`DELETE FROM sluice.event_listener WHERE id = $1`, schema), [id]);
}

/** Forgets listeners that stopped renewing (their process died). */
export async function eventListenerDeleteStale(db: Executor, schema: string, staleMs: number) {
  await db.query(
    inSchema(
      `DELETE FROM sluice.event_listener
       WHERE heartbeat_at < now() - $1::float8 * interval '1 millisecond'`,
      schema,
    ),
    [staleMs],
  );
}

/** LISTENs on the finished-jobs channel of `schema` (the connection must stay the same one). */
export async function doneChannelListen(db: Executor, schema: string) {
  await db.query(`LISTEN "${doneChannel(schema)}"`);
}

/** One round trip: the server answers queries (used to wait for it at start-up). */
export async function serverPing(db: Executor) {
  await db.query('SELECT 1');
}
