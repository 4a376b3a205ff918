// The audit log (migration 0014): one row per operator action, written in the action's
// transaction; read newest first by id.
import { resolveTarget, type Target } from '../core/target.js';
import { inSchema } from '../core/schema-sql.js';

/** A row of `sluice.audit`. */
export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
  filter: unknown;
  count: number | null;
}

/** Appends one action to the audit log; its id. */
export async function auditInsert(
  t: Target & {
    actor: string;
    action: string;
    target?: string | null;
    filter?: unknown;
    count?: number | null;
  },
): Promise<string> {
  const { exec, schema } = resolveTarget(t);
  const { rows } = await exec.query<{ id: string }>(
    inSchema(
      `INSERT INTO sluice.audit (actor, action, target, filter, count)
       VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id`,
      schema,
    ),
    [
      t.actor,
      t.action,
      t.target ?? null,
      t.filter === undefined ? null : JSON.stringify(t.filter),
      t.count ?? null,
    ],
  );
  return rows[0]?.id ?? '';
}

/** Newest audit rows first, older than `beforeId` when given, optionally of one action. */
export async function auditList(
  t: Target & { beforeId?: string | null; action?: string | null; limit: number },
): Promise<AuditRow[]> {
  const { exec, schema } = resolveTarget(t);
  const { rows } = await exec.query<AuditRow>(
    inSchema(
      `SELECT id, at, actor, action, target, filter, count FROM sluice.audit
       WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2)
       ORDER BY id DESC LIMIT $3`,
      schema,
    ),
    [t.beforeId ?? null, t.action ?? null, t.limit],
  );
  return rows;
}
