// OpenTelemetry tracing with the 2.x SDK (3.x needs Node 22): the first test runs before any
// tracer provider is registered, the others after.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  createWorker,
  defineTask,
  enqueue,
  enqueueMany,
  flow,
  type TraceCarrier,
  type Worker,
} from 'sluice';
import { replayDeadLetter } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];
const exporter = new InMemorySpanExporter();
const appTracer = () => trace.getTracer('app');

async function work(tasks: Parameters<typeof createWorker>[0]['tasks']) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 100, tasks });
  workers.push(w);
  await w.start();
  return w;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 1000 })));
  await db.current.pool.query('TRUNCATE sluice.job, sluice.job_history, sluice.dead_letter');
  exporter.reset();
});

async function q<T>(text: string, values: unknown[] = []) {
  return (await db.current.pool.query(text, values)).rows as T[];
}

/** The stored trace context of a job, wherever it is now. */
async function storedContext(id: string) {
  const [row] = await q<{ trace_context: TraceCarrier | null }>(
    `SELECT trace_context FROM sluice.job WHERE id = $1
     UNION ALL SELECT trace_context FROM sluice.job_history WHERE id = $1
     UNION ALL SELECT trace_context FROM sluice.dead_letter WHERE id = $1`,
    [id],
  );
  return row?.trace_context;
}

const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

/** Runs `fn` inside an active application span; returns its result and the span's ids. */
async function inAppSpan<T>(fn: () => Promise<T>) {
  return appTracer().startActiveSpan('request', async (span) => {
    try {
      return { result: await fn(), traceId: span.spanContext().traceId };
    } finally {
      span.end();
    }
  });
}

function traceparentOf(span: ReadableSpan) {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-01`;
}

const noop = defineTask({ name: 'noop', schema: z.object({}) }).handle(() => 'ok');

it('without a registered tracer provider: no trace context is stored and nothing is traced', async () => {
  const { id } = await enqueue(noop, {}, { db: db.current.pool });
  const many = await enqueueMany([{ task: noop, payload: {} }], { db: db.current.pool });
  await work([noop]);
  await eventually(async () => {
    const rows = await q<{ trace_context: unknown }>(
      `SELECT trace_context FROM sluice.job_history WHERE id = ANY($1::bigint[])`,
      [[id, many[0]!.id]],
    );
    expect(rows).toEqual([{ trace_context: null }, { trace_context: null }]);
  });
  expect(exporter.getFinishedSpans()).toEqual([]);
});

describe('with an SDK registered', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncHooksContextManager().enable());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  });

  it('enqueue stores its send span; the process span is its child, linked, with the handler inside', async () => {
    let innerParent: string | undefined;
    const task = defineTask({ name: 'traced', schema: z.object({ n: z.number() }) }).handle(() => {
      // A span the handler starts nests under the process span.
      appTracer().startActiveSpan('inner', (s) => s.end());
      innerParent = trace.getActiveSpan()?.spanContext().spanId;
    });
    const { result, traceId } = await inAppSpan(() =>
      enqueue(task, { n: 1 }, { db: db.current.pool }),
    );
    const [send] = spans('send default');
    expect(send).toBeDefined();
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(send!.spanContext().traceId).toBe(traceId);
    expect(send!.attributes).toEqual({
      'messaging.system': 'sluice',
      'messaging.destination.name': 'default',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.message.id': result.id,
      'messaging.sluice.task': 'traced',
    });
    expect(await storedContext(result.id)).toEqual({ traceparent: traceparentOf(send!) });

    await work([task]);
    await eventually(() => expect(spans('process default')).toHaveLength(1));
    const [processed] = spans('process default');
    expect(processed!.kind).toBe(SpanKind.CONSUMER);
    expect(processed!.spanContext().traceId).toBe(traceId);
    expect(processed!.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
    expect(processed!.links.map((l) => l.context.spanId)).toEqual([send!.spanContext().spanId]);
    expect(processed!.attributes).toEqual({
      'messaging.system': 'sluice',
      'messaging.destination.name': 'default',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.message.id': result.id,
      'messaging.sluice.task': 'traced',
      'messaging.sluice.attempt': 1,
      'messaging.sluice.outcome': 'complete',
    });
    expect(processed!.status.code).toBe(SpanStatusCode.UNSET);
    const [inner] = spans('inner');
    expect(inner!.parentSpanContext?.spanId).toBe(processed!.spanContext().spanId);
    expect(innerParent).toBe(processed!.spanContext().spanId);
    // History keeps the context too.
    expect(await storedContext(result.id)).toEqual({ traceparent: traceparentOf(send!) });
  });

  it('failed attempts set error.type and status; retries, the dead letter and a replay keep the context', async () => {
    let shouldFail = true;
    const task = defineTask({
      name: 'flaky',
      schema: z.object({}),
      maxAttempts: 2,
      retry: { kind: 'fixed', delayMs: 0 },
    }).handle(() => {
      if (shouldFail) throw new TypeError('not yet');
    });
    const { result } = await inAppSpan(() => enqueue(task, {}, { db: db.current.pool }));
    const stored = await storedContext(result.id);
    expect(stored?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await work([task]);
    await eventually(async () => {
      const rows = await q(`SELECT id FROM sluice.dead_letter WHERE id = $1`, [result.id]);
      expect(rows).toHaveLength(1);
    });
    expect(await storedContext(result.id)).toEqual(stored);
    const failed = spans('process default');
    expect(failed.map((s) => s.attributes['messaging.sluice.attempt'])).toEqual([1, 2]);
    for (const s of failed) {
      expect(s.attributes['error.type']).toBe('TypeError');
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: 'not yet' });
      expect(traceparentOf({ spanContext: () => s.parentSpanContext! } as ReadableSpan)).toBe(
        stored!.traceparent,
      );
    }

    shouldFail = false;
    expect(await replayDeadLetter({ db: db.current.pool, id: result.id })).toBe(result.id);
    expect(await storedContext(result.id)).toEqual(stored);
    await eventually(() => expect(spans('process default')).toHaveLength(3));
    const replayed = spans('process default')[2]!;
    expect(replayed.status.code).toBe(SpanStatusCode.UNSET);
    expect(replayed.attributes['messaging.sluice.attempt']).toBe(1);
    expect(replayed.spanContext().traceId).toBe(stored!.traceparent.split('-')[1]);
  });

  it('enqueueMany and a flow make one send span with the count; every job stores it', async () => {
    const { result } = await inAppSpan(() =>
      enqueueMany(
        [1, 2, 3].map(() => ({ task: noop, payload: {} })),
        { db: db.current.pool },
      ),
    );
    const [send, ...rest] = spans('send default');
    expect(rest).toEqual([]);
    expect(send!.attributes['messaging.batch.message_count']).toBe(3);
    expect(send!.attributes['messaging.message.id']).toBeUndefined();
    for (const job of result) {
      expect(await storedContext(job.id)).toEqual({ traceparent: traceparentOf(send!) });
    }

    // Keys kept after finishing go through sluice.enqueue_job, which stores it as well.
    exporter.reset();
    const scoped = await inAppSpan(() =>
      enqueue(noop, {}, { db: db.current.pool, uniqueKey: 'k', uniqueScope: 'retained' }),
    );
    const [scopedSend] = spans('send default');
    expect(await storedContext(scoped.result.id)).toEqual({
      traceparent: traceparentOf(scopedSend!),
    });

    exporter.reset();
    const f = flow();
    const a = f.add(noop, {});
    f.add(noop, {}, { dependsOn: [a] });
    const out = await inAppSpan(() => f.enqueue({ db: db.current.pool }));
    const [flowSend] = spans('send default');
    expect(flowSend!.attributes['messaging.batch.message_count']).toBe(2);
    for (const id of out.result.ids) {
      expect(await storedContext(id)).toEqual({ traceparent: traceparentOf(flowSend!) });
    }
  });

  it('the SQL row moves keep it: cancel, expiry, cancelled flows, dependency failure and revival', async () => {
    const ctxOf = async (ids: string[]) => Promise.all(ids.map((id) => storedContext(id)));
    const cancelled = await inAppSpan(() => enqueue(noop, {}, { db: db.current.pool }));
    const expired = await inAppSpan(() =>
      enqueue(noop, {}, { db: db.current.pool, expiresAt: new Date(Date.now() - 1000) }),
    );
    const f1 = flow();
    f1.add(noop, {}, { delayMs: 60_000 });
    const flowCancelled = await inAppSpan(() => f1.enqueue({ db: db.current.pool }));
    const before = await ctxOf([
      cancelled.result.id,
      expired.result.id,
      flowCancelled.result.ids[0]!,
    ]);
    expect(before.every((c) => c?.traceparent)).toBe(true);
    await q(`SELECT sluice.cancel_job($1)`, [cancelled.result.id]);
    await q(`SELECT sluice.expire_jobs()`);
    await q(`SELECT sluice.cancel_flow($1)`, [flowCancelled.result.flowId]);
    const moved = await q<{ id: string; state: string }>(
      `SELECT id::text, state FROM sluice.job_history ORDER BY id`,
    );
    expect(moved.map((r) => r.state)).toEqual(['cancelled', 'expired', 'cancelled']);
    expect(await ctxOf(moved.map((r) => r.id))).toEqual(before);

    // A member dead-lettered because its dependency died (release_wave), and back to blocked
    // when that dependency is replayed (revive_dependents).
    const doomed = defineTask({ name: 'doomed', schema: z.object({}), maxAttempts: 1 }).handle(
      () => {
        throw new Error('no');
      },
    );
    const f2 = flow();
    const first = f2.add(doomed, {});
    f2.add(noop, {}, { dependsOn: [first] });
    const { result } = await inAppSpan(() => f2.enqueue({ db: db.current.pool }));
    const [a, b] = result.ids as [string, string];
    const stored = await storedContext(b);
    const w = await work([doomed]);
    await eventually(async () => {
      const rows = await q(`SELECT id FROM sluice.dead_letter WHERE id = ANY($1::bigint[])`, [
        [a, b],
      ]);
      expect(rows).toHaveLength(2);
    });
    await w.stop();
    expect(await ctxOf([a, b])).toEqual([stored, stored]);
    await q(`SELECT sluice.replay_dead_letter($1)`, [a]);
    const [back] = await q<{ state: string; trace_context: unknown }>(
      `SELECT state, trace_context FROM sluice.job WHERE id = $1`,
      [b],
    );
    expect(back).toEqual({ state: 'blocked', trace_context: stored });
  });

  it('sluice.enqueue() in SQL takes a trace context; the worker continues that trace', async () => {
    const traceId = 'ab'.repeat(16);
    const parent = 'cd'.repeat(8);
    const carrier = { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=x' };
    const [row] = await q<{ id: string }>(
      `SELECT sluice.enqueue('noop', '{}', trace_context => $1::jsonb)::text AS id`,
      [JSON.stringify(carrier)],
    );
    expect(await storedContext(row!.id)).toEqual(carrier);
    // The old signature still works and stores nothing.
    const [plain] = await q<{ id: string }>(`SELECT sluice.enqueue('noop', '{}')::text AS id`);
    expect(await storedContext(plain!.id)).toBeNull();
    await expect(
      q(`SELECT sluice.enqueue('noop', '{}', trace_context => '"00-abc"'::jsonb)`),
    ).rejects.toMatchObject({ code: '22023' });

    await work([noop]);
    await eventually(() => expect(spans('process default')).toHaveLength(2));
    const traced = spans('process default').find(
      (s) => s.attributes['messaging.message.id'] === row!.id,
    )!;
    expect(traced.spanContext().traceId).toBe(traceId);
    expect(traced.parentSpanContext?.spanId).toBe(parent);
    expect(traced.parentSpanContext?.traceState?.get('vendor')).toBe('x');
    const untraced = spans('process default').find((s) => s !== traced)!;
    expect(untraced.links).toEqual([]);
    expect(untraced.parentSpanContext).toBeUndefined();
  });
});
