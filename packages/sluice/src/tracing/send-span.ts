// The producer side: one `send {queue}` span per enqueue call, whose context every job of the
// call stores (trace_context), so the worker's spans join the enqueuer's trace.
import { activeTracer, ATTR, carrierOf } from './otel-api.js';

/** What the span needs of each job of the call; traceContextJson is filled in here. */
export interface TracedJob {
  queue: string;
  /** Named on a single job's span; flows leave it out. */
  task?: string;
  traceContextJson?: string | null;
}

/**
 * Runs `insert` inside a PRODUCER span for `jobs` (one span for the whole call, bulk or not) and
 * stores its context on each job first. Without a tracer provider it only calls `insert`.
 * A single job's call (`insert` resolves to one `{ id }`) names its message id; a bulk call
 * (an array) gives its count.
 */
export function withSendSpan<T extends { id: string } | unknown[]>(
  jobs: TracedJob[],
  insert: () => Promise<T>,
): Promise<T> {
  const on = activeTracer();
  if (on === undefined) return insert();
  const { api, tracer } = on;
  const first = jobs[0]!;
  const queue = jobs.every((j) => j.queue === first.queue) ? first.queue : undefined;
  const span = tracer.startSpan(queue === undefined ? 'send' : `send ${queue}`, {
    kind: api.SpanKind.PRODUCER,
    attributes: {
      [ATTR.system]: 'sluice',
      [ATTR.operationType]: 'send',
      [ATTR.operationName]: 'send',
      ...(queue !== undefined && { [ATTR.destination]: queue }),
    },
  });
  const carrier = carrierOf(span);
  const json = carrier === null ? null : JSON.stringify(carrier);
  for (const j of jobs) j.traceContextJson = json;
  // The insert runs in the span's context, so a pg instrumentation's spans nest under it.
  return api.context.with(api.trace.setSpan(api.context.active(), span), insert).then(
    (result) => {
      if (Array.isArray(result)) span.setAttribute(ATTR.batchCount, jobs.length);
      else span.setAttribute(ATTR.messageId, result.id);
      if (jobs.length === 1 && first.task !== undefined) span.setAttribute(ATTR.task, first.task);
      span.end();
      return result;
    },
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      span.setAttribute(ATTR.errorType, e.name);
      span.recordException(e);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: e.message });
      span.end();
      throw err;
    },
  );
}
