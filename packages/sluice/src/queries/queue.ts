// Statements on sluice.queue. Values always bound; the schema is substituted by inSchema.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { QueueTable, Selected } from '../core/types.js';

/** A row of `sluice.queue` as the queue statements read it (no timestamps). */
export type QueueRow = Omit<Selected<QueueTable>, 'created_at' | 'updated_at'>;

const COLUMNS = `name, partition_name, is_paused, concurrency_limit, rate_limit, rate_window_ms,
  group_concurrency_limit, group_rate_limit, max_payload_bytes,
  history_retention::text AS history_retention, dead_letter_retention::text AS dead_letter_retention`;

export async function queueCreate(
  db: Executor,
  schema: string,
  p: {
    name: string;
    maxPayloadBytes: number;
    concurrencyLimit: number | null;
    rateLimit: number | null;
    rateWindowMs: number;
    historyRetention: string;
    deadLetterRetention: string;
  },
): Promise<boolean> {
  const { rows } = await db.query<{ created: boolean }>(
    inSchema(
      `SELECT sluice.create_queue($1, $2, $3, $4, $5, $6::interval, $7::interval) AS created`,
      schema,
    ),
    [
      p.name,
      p.maxPayloadBytes,
      p.concurrencyLimit,
      p.rateLimit,
      p.rateWindowMs,
      p.historyRetention,
      p.deadLetterRetention,
    ],
  );
  return rows[0]?.created ?? false;
}

export async function queueGet(db: Executor, schema: string, name: string) {
  const { rows } = await db.query<QueueRow>(
    inSchema(`SELECT ${COLUMNS} FROM sluice.queue WHERE name = $1`, schema),
    [name],
  );
  return rows[0];
}

/** Every queue's name: the leader's per-queue passes walk them. */
export async function queueNames(db: Executor, schema: string) {
  const { rows } = await db.query<{ name: string }>(
    inSchema(`SELECT name FROM sluice.queue ORDER BY name`, schema),
  );
  return rows.map((r) => r.name);
}

export async function queueList(db: Executor, schema: string) {
  const { rows } = await db.query<QueueRow>(
    inSchema(`SELECT ${COLUMNS} FROM sluice.queue ORDER BY name`, schema),
  );
  return rows;
}

export async function queueCapsGet(db: Executor, schema: string, names: string[]) {
  const { rows } = await db.query<{ name: string; max_payload_bytes: number }>(
    inSchema(
      `SELECT name, max_payload_bytes FROM sluice.queue WHERE name = ANY($1::text[])`,
      schema,
    ),
    [names],
  );
  return new Map(rows.map((r) => [r.name, r.max_payload_bytes]));
}

export async function queueSetPaused(
  db: Executor,
  schema: string,
  name: string,
  isPaused: boolean,
) {
  const fn = isPaused ? 'pause_queue' : 'resume_queue';
  const { rows } = await db.query<{ ok: boolean | null }>(
    inSchema(`SELECT sluice.${fn}($1) AS ok`, schema),
    [name],
  );
  return rows[0]?.ok === true;
}

/** Updates the settings given (NULL parameters keep the current value, except limits' `clear`). */
export async function queueUpdate(
  db: Executor,
  schema: string,
  p: {
    name: string;
    maxPayloadBytes?: number | undefined;
    concurrencyLimit?: number | null | undefined;
    rateLimit?: number | null | undefined;
    rateWindowMs?: number | undefined;
    groupConcurrencyLimit?: number | null | undefined;
    groupRateLimit?: number | null | undefined;
    historyRetention?: string | undefined;
    deadLetterRetention?: string | undefined;
  },
) {
  // Each limit has a "set" flag so that an explicit null clears it while undefined keeps it.
  const { rowCount } = await db.query(
    inSchema(
      `UPDATE sluice.queue SET
        max_payload_bytes = coalesce($2, max_payload_bytes),
        concurrency_limit = CASE WHEN $3 THEN $4 ELSE concurrency_limit END,
        rate_limit = CASE WHEN $5 THEN $6 ELSE rate_limit END,
        rate_window_ms = coalesce($7, rate_window_ms),
        group_concurrency_limit = CASE WHEN $8 THEN $9 ELSE group_concurrency_limit END,
        group_rate_limit = CASE WHEN $10 THEN $11 ELSE group_rate_limit END,
        history_retention = coalesce($12::interval, history_retention),
        dead_letter_retention = coalesce($13::interval, dead_letter_retention),
        updated_at = now()
      WHERE name = $1`,
      schema,
    ),
    [
      p.name,
      p.maxPayloadBytes ?? null,
      p.concurrencyLimit !== undefined,
      p.concurrencyLimit ?? null,
      p.rateLimit !== undefined,
      p.rateLimit ?? null,
      p.rateWindowMs ?? null,
      p.groupConcurrencyLimit !== undefined,
      p.groupConcurrencyLimit ?? null,
      p.groupRateLimit !== undefined,
      p.groupRateLimit ?? null,
      p.historyRetention ?? null,
      p.deadLetterRetention ?? null,
    ],
  );
  return rowCount > 0;
}
