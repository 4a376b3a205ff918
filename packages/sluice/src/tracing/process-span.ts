// The consumer side: one `process {queue}` span per attempt, a child of the context stored with
// the job and linked to it (see README.md for why both), with the handler running in its context.
import { activeTracer, ATTR, spanContextOf } from './otel-api.js';

/** The parts of a claimed job the span reads. */
export interface ProcessedJob {
  id: string;
  queue: string;
  task: string;
  attempt: number;
  trace_context: unknown;
}

/** How an attempt ended, as the worker sees it (a subset of its outcome). */
export interface AttemptEnd {
  kind: string;
  error?: { name: string; message: string };
}

/** One attempt's span; opaque, so no type of the optional API leaks into the worker's. */
export interface ProcessSpan {
  /** Runs `fn` (the handler) with the span as the active one, so its own spans nest. */
  run<T>(fn: () => T): T;
  end(outcome: AttemptEnd): void;
}

/** Starts the span of one attempt; undefined (and nothing allocated) without a tracer provider. */
export function startProcessSpan(job: ProcessedJob): ProcessSpan | undefined {
  const on = activeTracer();
  if (on === undefined) return undefined;
  const { api, tracer } = on;
  const stored = spanContextOf(api, job.trace_context);
  // The worker's own context stays out: a job's trace is its enqueuer's, or a new one.
  const parent =
    stored === undefined ? api.ROOT_CONTEXT : api.trace.setSpanContext(api.ROOT_CONTEXT, stored);
  const span = tracer.startSpan(
    `process ${job.queue}`,
    {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        [ATTR.system]: 'sluice',
        [ATTR.destination]: job.queue,
        [ATTR.operationType]: 'process',
        [ATTR.operationName]: 'process',
        [ATTR.messageId]: job.id,
        [ATTR.task]: job.task,
        [ATTR.attempt]: job.attempt,
      },
      links: stored === undefined ? [] : [{ context: stored }],
    },
    parent,
  );
  const active = api.trace.setSpan(parent, span);
  return {
    run: (fn) => api.context.with(active, fn),
    end(outcome) {
      span.setAttribute(ATTR.outcome, outcome.kind);
      if (outcome.error) {
        span.setAttribute(ATTR.errorType, outcome.error.name);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error.message });
      }
      span.end();
    },
  };
}
