// Flows for operators: a flow's members with their states and dependencies, cancelling every
// unfinished member, replaying its dead ones. Any member's id names its flow.
import { camelRow } from '../core/camel-row.js';
import { InvalidOptionsError } from '../core/errors.js';
import { resolveTarget, type Target } from '../core/target.js';
import {
  flowCancel,
  flowMembers,
  flowOf,
  flowReplay,
  type FlowMemberRow,
} from '../queries/flow.js';

/** One member of a flow as {@link getFlow} returns it. */
export interface FlowMember {
  flowId: string;
  id: string;
  queue: string;
  task: string;
  state: string;
  attempt: number;
  maxAttempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Ids of the jobs it waits for, in order. */
  dependsOn: string[];
}

/** A flow: its id and members, oldest first (at most `limit`, default 10,000). */
export interface FlowInfo {
  flowId: string;
  members: FlowMember[];
}

function idOf(id: unknown): string {
  const s = String(id);
  if (!/^[1-9]\d{0,18}$/.test(s)) throw new InvalidOptionsError('flow id', `${s} is not a job id`);
  return s;
}

/**
 * The flow `id` belongs to (any member's id, or the flow's own), or undefined.
 * @example const flow = await getFlow({ db: pool, id: '42' }); flow?.members.filter((m) => m.state === 'dead');
 */
export async function getFlow(
  options: Target & { id: string | number | bigint; limit?: number },
): Promise<FlowInfo | undefined> {
  const { exec, schema } = resolveTarget(options);
  const flowId = await flowOf(exec, schema, idOf(options.id));
  if (flowId === undefined) return undefined;
  const rows = await flowMembers(exec, schema, flowId, options.limit ?? 10_000);
  return { flowId, members: rows.map((r: FlowMemberRow) => camelRow(r)) };
}

/**
 * Cancels every unfinished member of the flow `id` belongs to: waiting ones at once, running
 * ones by their workers. Returns how many it cancelled or asked to stop.
 * @example await cancelFlow({ db: pool, id: flowId, reason: 'order withdrawn' });
 */
export async function cancelFlow(
  options: Target & { id: string | number | bigint; reason?: string },
): Promise<number> {
  const { exec, schema } = resolveTarget(options);
  const flowId = await flowOf(exec, schema, idOf(options.id));
  if (flowId === undefined) return 0;
  return flowCancel(exec, schema, flowId, options.reason ?? 'flow cancelled');
}

/**
 * Replays the dead members of the flow `id` belongs to; what waited on them waits again and
 * runs once they complete. Returns how many it replayed.
 * @example await replayFlow({ db: pool, id: flowId });
 */
export async function replayFlow(
  options: Target & { id: string | number | bigint },
): Promise<number> {
  const { exec, schema } = resolveTarget(options);
  const flowId = await flowOf(exec, schema, idOf(options.id));
  if (flowId === undefined) return 0;
  return flowReplay(exec, schema, flowId);
}
