// The audit log for operators' tools: record an action in its own transaction, list them.
import { auditInsert, auditList } from '../queries/audit.js';
import type { Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import { camelRow } from '../core/camel-row.js';

/** One recorded operator action (a row of `sluice.audit`). */
export interface AuditEntry {
  id: string;
  at: Date;
  /** Who: a user name, a token's label, or `local`. */
  actor: string;
  /** What, e.g. `job.retry` or `dead_letter.replay_matching`. */
  action: string;
  /** A job id, queue or schedule name; null for bulk actions by filter. */
  target: string | null;
  /** The filter of a bulk action or the new settings; null otherwise. */
  filter: unknown;
  /** Rows the action touched. */
  count: number | null;
}

/**
 * Appends one action to `sluice.audit`; pass the action's own transaction as `db` so that the
 * action and its record commit together. Returns the entry's id.
 * @example await recordAudit({ db: client, actor: 'alice', action: 'job.retry', target: '42', count: 1 });
 */
export async function recordAudit(
  options: Target & {
    actor: string;
    action: string;
    target?: string | null;
    filter?: unknown;
    count?: number | null;
  },
): Promise<string> {
  if (!options.actor || !options.action) {
    throw new InvalidOptionsError('audit', 'actor and action are required');
  }
  return auditInsert(options);
}

/**
 * Newest audit entries first, optionally of one action; `beforeId` pages (the last id of the
 * previous page). Default limit 50.
 * @example const recent = await listAuditLog({ db: pool, limit: 20 });
 */
export async function listAuditLog(
  options: Target & { beforeId?: string; action?: string; limit?: number },
): Promise<AuditEntry[]> {
  if (options.beforeId !== undefined && !/^\d{1,19}$/.test(options.beforeId)) {
    throw new InvalidOptionsError('beforeId', `${JSON.stringify(options.beforeId)} is not an id`);
  }
  const rows = await auditList({ ...options, limit: options.limit ?? 50 });
  return rows.map((r) => camelRow(r));
}
