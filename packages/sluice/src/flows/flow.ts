// Flows: jobs that wait for other jobs. A Flow collects members (typed by their tasks) and their
// dependencies, then writes all of them with one call of sluice.enqueue_flow in the caller's
// connection or transaction. Handles can only point at members added before them, so a flow
// built here has no cycle. See README.md beside this file.
import { z } from 'zod';
import type { Task } from '../client/define-task.js';
import { serializePayload } from '../client/payload.js';
import { runOptionsJson, storedRetrySchema } from '../client/run-options.js';
import { resolveTarget, type Target } from '../core/target.js';
import { InvalidFlowError, PayloadTooLargeError, UnknownQueueError } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { parseOptions } from '../core/options.js';
import { queueCapsGet } from '../queries/queue.js';
import { dependencyStates, flowEnqueue } from '../queries/flow.js';
import { withSendSpan } from '../tracing/send-span.js';

/** The documented size limit of one flow (sluice.enqueue_flow refuses more). */
export const MAX_FLOW_MEMBERS = 100_000;

/**
 * What a dependent does when a dependency is dead-lettered, cancelled or expired: `'fail'` (the
 * default: the dependent goes to dead letters, its reason naming the dependency), `'ignore'`
 * (it runs anyway once its other dependencies finish; ctx.dependencies() shows the failure), or
 * `'cancel'` (it is cancelled).
 */
export type OnFailure = 'fail' | 'ignore' | 'cancel';

/** A member of a flow, returned by {@link Flow.add}; pass it in another member's `dependsOn`. */
export interface FlowJob {
  /** Position in the flow (0-based), also the ref sent to SQL. */
  readonly index: number;
  readonly task: string;
  readonly queue: string;
}

/** A dependency: a member of this flow, an existing job's id, or either with a failure policy. */
export type Dependency = FlowJob | string | { job: FlowJob | string; onFailure?: OnFailure };

/** Per-member options: the per-job options of `enqueue`, plus dependencies and run options. */
export interface FlowJobOptions {
  queue?: string;
  runAt?: Date;
  delayMs?: number;
  priority?: number;
  groupKey?: string;
  maxAttempts?: number;
  /** Not started by then: moved to history as `expired`, never run; dependents follow their policy. */
  expiresAt?: Date;
  /** Overrides the task's timeoutMs for this job. */
  timeoutMs?: number;
  /** Overrides the task's retry policy for this job (the object forms; a function cannot be stored). */
  retry?:
    | { kind: 'exponential'; baseMs?: number; maxMs?: number; jitter?: number }
    | { kind: 'fixed'; delayMs: number };
  /** What this job waits for. */
  dependsOn?: readonly Dependency[];
}

const memberOptionsSchema = z
  .object({
    queue: z.string().optional(),
    runAt: z.date().optional(),
    delayMs: z.number().nonnegative().finite().optional(),
    priority: z.number().int().min(-2147483648).max(2147483647).optional(),
    groupKey: z.string().min(1).max(512).optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    expiresAt: z.date().optional(),
    timeoutMs: z.number().int().positive().optional(),
    retry: storedRetrySchema.optional(),
    dependsOn: z.array(z.any()).optional(),
  })
  .strict()
  .refine((o) => o.runAt === undefined || o.delayMs === undefined, {
    message: 'give runAt or delayMs, not both',
  })
  .refine(
    (o) => [o.runAt, o.expiresAt].every((d) => d === undefined || !Number.isNaN(d.getTime())),
    {
      message: 'runAt and expiresAt must be valid Dates',
    },
  )
  .refine((o) => !o.runAt || !o.expiresAt || o.expiresAt > o.runAt, {
    message: 'expiresAt must be after runAt: the job could never start',
  });

/** A step of chain(), group() or chord(): a task, its payload, its options. */
export interface FlowStep {
  readonly task: Task;
  readonly payload: unknown;
  readonly options?: Omit<FlowJobOptions, 'dependsOn'>;
}

/**
 * A typed step for {@link Flow.chain}, {@link Flow.group} and {@link Flow.chord}.
 * @example flow().chain([step(fetch, { url }), step(transform, {}), step(load, {})])
 */
export function step<S extends z.ZodType>(
  task: Task<S>,
  payload: z.input<S>,
  options?: Omit<FlowJobOptions, 'dependsOn'>,
): FlowStep {
  return { task: task, payload, options };
}

/** A flow as written: its id (the first member's id) and each member's id in add order. */
export interface EnqueuedFlow {
  flowId: string;
  ids: string[];
  /** The id of a member. */
  idOf(job: FlowJob): string;
}

interface Member {
  json: string;
  queue: string;
  bytes: number;
  idDeps: { id: string; onFailure: OnFailure }[];
  /** Set by the send span for this enqueue (OpenTelemetry); absent while tracing is off. */
  traceContextJson?: string | null;
}

/** The members as sluice.enqueue_flow's JSON array, each with its trace context if it has one. */
function membersJson(members: Member[]): string {
  const json = members.map((m) =>
    m.traceContextJson ? `${m.json.slice(0, -1)},"trace_context":${m.traceContextJson}}` : m.json,
  );
  return `[${json.join(',')}]`;
}

/**
 * A set of jobs and their dependencies, written in one call by {@link Flow.enqueue}.
 * @example
 * const f = flow();
 * const charge = f.add(chargeCard, { orderId });
 * const reserve = f.add(reserveStock, { orderId });
 * f.add(ship, { orderId }, { dependsOn: [charge, reserve] });
 * const { flowId } = await f.enqueue({ db: tx }); // in the caller's transaction
 */
export class Flow {
  readonly #members: Member[] = [];
  readonly #handles = new Set<FlowJob>();

  /** How many members the flow has. */
  get size(): number {
    return this.#members.length;
  }

  /** The queues its members live in (a cluster router keeps a flow on one cluster). */
  get queues(): string[] {
    return [...new Set(this.#members.map((m) => m.queue))];
  }

  /** Adds a member; its payload is checked against the task's schema now. */
  add<S extends z.ZodType>(task: Task<S>, payload: z.input<S>, options?: FlowJobOptions): FlowJob {
    if (this.#members.length >= MAX_FLOW_MEMBERS) {
      throw new InvalidFlowError(`a flow has at most ${MAX_FLOW_MEMBERS} members`);
    }
    const o =
      options === undefined
        ? {}
        : parseOptions(memberOptionsSchema, 'flow member options', options);
    const queue = assertName('queue', o.queue ?? task.queue);
    const payloadJson = serializePayload(task, payload);
    const refs: string[] = [];
    const idDeps: Member['idDeps'] = [];
    for (const dep of o.dependsOn ?? []) {
      const { job, onFailure = 'fail' } =
        typeof dep === 'object' && dep !== null && 'job' in dep
          ? (dep as { job: FlowJob | string; onFailure?: OnFailure })
          : { job: dep as FlowJob | string };
      if (!['fail', 'ignore', 'cancel'].includes(onFailure)) {
        throw new InvalidFlowError(
          `onFailure must be 'fail', 'ignore' or 'cancel', not ${String(onFailure)}`,
        );
      }
      if (typeof job === 'string') {
        if (!/^[1-9][0-9]{0,18}$/.test(job)) throw new InvalidFlowError(`"${job}" is not a job id`);
        idDeps.push({ id: job, onFailure });
        refs.push(`{"id":${job},"on_failure":"${onFailure}"}`);
      } else if (this.#handles.has(job)) {
        refs.push(`{"ref":"${job.index}","on_failure":"${onFailure}"}`);
      } else {
        throw new InvalidFlowError(
          'a dependency is a member of another flow: add it to this one first',
        );
      }
    }
    const index = this.#members.length;
    let json = `{"ref":"${index}","task":${JSON.stringify(assertName('task', task.name))},"queue":${JSON.stringify(queue)},"payload":${payloadJson}`;
    json += `,"priority":${o.priority ?? task.priority},"max_attempts":${o.maxAttempts ?? task.maxAttempts}`;
    if (o.runAt) json += `,"run_at":"${o.runAt.toISOString()}"`;
    if (o.delayMs !== undefined) json += `,"delay_ms":${o.delayMs}`;
    if (o.groupKey !== undefined) json += `,"group_key":${JSON.stringify(o.groupKey)}`;
    if (o.expiresAt) json += `,"expires_at":"${o.expiresAt.toISOString()}"`;
    const runOptions = runOptionsJson(o);
    if (runOptions) json += `,"run_options":${runOptions}`;
    if (refs.length > 0) json += `,"depends_on":[${refs.join(',')}]`;
    this.#members.push({ json: json + '}', queue, bytes: Buffer.byteLength(payloadJson), idDeps });
    const handle: FlowJob = Object.freeze({ index, task: task.name, queue });
    this.#handles.add(handle);
    return handle;
  }

  /**
   * Adds steps that run one after another; each sees the previous one's result through
   * `ctx.dependencies()`. Returns the members in order.
   * @example const [, , load] = f.chain([step(fetchRows, { url }), step(transform, {}), step(loadRows, {})]);
   */
  chain(
    steps: readonly FlowStep[],
    options: { dependsOn?: readonly Dependency[] } = {},
  ): FlowJob[] {
    const out: FlowJob[] = [];
    for (const s of steps) {
      const prev = out.at(-1);
      out.push(
        this.add(s.task, s.payload, { ...s.options, dependsOn: prev ? [prev] : options.dependsOn }),
      );
    }
    return out;
  }

  /** Adds members that run side by side (fan-out), each after `dependsOn` if given. */
  group(
    members: readonly FlowStep[],
    options: { dependsOn?: readonly Dependency[] } = {},
  ): FlowJob[] {
    return members.map((s) =>
      this.add(s.task, s.payload, { ...s.options, dependsOn: options.dependsOn }),
    );
  }

  /**
   * A group plus a callback that runs once every member finished and receives all their
   * results, in member order (Celery's chord). `onFailure` applies to every member.
   * @example f.chord([step(resize, { size: 64 }), step(resize, { size: 512 })], step(publish, {}));
   */
  chord(
    members: readonly FlowStep[],
    callback: FlowStep,
    options: { onFailure?: OnFailure } = {},
  ): FlowJob {
    const group = this.group(members);
    return this.add(callback.task, callback.payload, {
      ...callback.options,
      dependsOn: group.map((job) => ({ job, onFailure: options.onFailure })),
    });
  }

  /**
   * Writes every member in one statement, in the caller's connection or transaction: the flow
   * exists only if that transaction commits. Bad input (unknown queue, oversized payload, a
   * dependency that does not exist or already failed) is refused before anything is written.
   */
  async enqueue(target: Target): Promise<EnqueuedFlow> {
    if (this.#members.length === 0) throw new InvalidFlowError('a flow needs at least one member');
    const { exec, schema } = resolveTarget(target);
    await this.#check(exec, schema);
    const members = this.#members;
    const rows = await withSendSpan(members, () => flowEnqueue(exec, schema, membersJson(members)));
    const ids = rows.map((r) => r.id);
    return {
      flowId: ids[0]!,
      ids,
      idOf: (job) => {
        if (!this.#handles.has(job)) throw new InvalidFlowError('not a member of this flow');
        return ids[job.index]!;
      },
    };
  }

  async #check(exec: ReturnType<typeof resolveTarget>['exec'], schema: string): Promise<void> {
    const caps = await queueCapsGet(exec, schema, [...new Set(this.#members.map((m) => m.queue))]);
    for (const m of this.#members) {
      const cap = caps.get(m.queue);
      if (cap === undefined) throw new UnknownQueueError(m.queue);
      if (m.bytes > cap) throw new PayloadTooLargeError(m.queue, m.bytes, cap);
    }
    const idDeps = this.#members.flatMap((m) => m.idDeps);
    if (idDeps.length === 0) return;
    const states = await dependencyStates(exec, schema, [...new Set(idDeps.map((d) => d.id))]);
    for (const d of idDeps) {
      const state = states.get(d.id);
      if (state === undefined)
        throw new InvalidFlowError(`dependency ${d.id} does not exist (never enqueued, or purged)`);
      if (state !== 'unfinished' && state !== 'completed' && d.onFailure !== 'ignore') {
        throw new InvalidFlowError(
          `dependency ${d.id} is ${state}: replay it first, or depend on it with onFailure: 'ignore'`,
        );
      }
    }
  }
}

/**
 * A new, empty flow.
 * @example const f = flow(); const a = f.add(taskA, {}); f.add(taskB, {}, { dependsOn: [a] });
 */
export function flow(): Flow {
  return new Flow();
}

/**
 * A flow of steps run one after another (Celery's chain).
 * @example await chain([step(fetchRows, { url }), step(transform, {}), step(loadRows, {})]).enqueue({ db });
 */
export function chain(steps: readonly FlowStep[]): Flow {
  const f = new Flow();
  f.chain(steps);
  return f;
}

/**
 * A flow of a group plus a callback receiving every member's result (Celery's chord).
 * @example await chord([step(a, {}), step(b, {})], step(sum, {})).enqueue({ db });
 */
export function chord(
  members: readonly FlowStep[],
  callback: FlowStep,
  options?: { onFailure?: OnFailure },
): Flow {
  const f = new Flow();
  f.chord(members, callback, options);
  return f;
}

/** A node of {@link tree}: a job and the children it waits for (BullMQ's parent and children). */
export interface TreeNode extends FlowStep {
  readonly children?: readonly TreeNode[];
}

/**
 * A flow from a tree: every node runs after all its children (BullMQ's FlowProducer shape).
 * @example await tree({ ...step(ship, { orderId }), children: [step(charge, { orderId }), step(reserve, { orderId })] }).enqueue({ db });
 */
export function tree(root: TreeNode): Flow {
  const f = new Flow();
  const addNode = (node: TreeNode): FlowJob => {
    const children = (node.children ?? []).map(addNode);
    return f.add(node.task, node.payload, { ...node.options, dependsOn: children });
  };
  addNode(root);
  return f;
}
