// The optional @opentelemetry/api peer, loaded once on first use. Without it, or without a
// registered tracer provider, every entry point here answers "off" after two property reads, so
// enqueue and the worker allocate nothing for tracing.
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import type { TraceCarrier } from '../core/types.js';

export type OtelApi = typeof Api;

let api: OtelApi | null | undefined;
let tracer: Api.Tracer | undefined;

/** The API module, or null when it is not installed. */
export function otelApi(): OtelApi | null {
  if (api !== undefined) return api;
  try {
    // require, not import(): synchronous, so the first enqueue is traced too. The API keeps its
    // registrations on globalThis, so this copy sees a provider registered through the app's.
    api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch {
    api = null;
  }
  return api;
}

/** Sluice's tracer while a tracer provider is registered, else undefined (tracing is off). */
export function activeTracer(): { api: OtelApi; tracer: Api.Tracer } | undefined {
  const a = otelApi();
  if (a === null) return undefined;
  // The global provider is a proxy until an SDK registers; its delegate is then no longer the
  // API's no-op provider. Duck-typed: the registered proxy may come from another copy of the API.
  const provider = a.trace.getTracerProvider() as Api.TracerProvider & {
    getDelegate?: () => Api.TracerProvider;
  };
  const delegate = provider.getDelegate?.() ?? provider;
  if (delegate.constructor.name === 'NoopTracerProvider') return undefined;
  tracer ??= a.trace.getTracer('sluice');
  return { api: a, tracer };
}

/** The W3C Trace Context of `span`, written by hand so it never depends on a configured propagator. */
export function carrierOf(span: Api.Span): TraceCarrier | null {
  const sc = span.spanContext();
  if (!otelApi()?.isSpanContextValid(sc)) return null;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  const carrier: TraceCarrier = { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}` };
  const state = sc.traceState?.serialize();
  if (state) carrier.tracestate = state;
  return carrier;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The span context a stored carrier names, or undefined for a missing or malformed one. */
export function spanContextOf(api: OtelApi, carrier: unknown): Api.SpanContext | undefined {
  if (typeof carrier !== 'object' || carrier === null) return undefined;
  const { traceparent, tracestate } = carrier as Partial<Record<keyof TraceCarrier, unknown>>;
  if (typeof traceparent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  // Version ff is forbidden; version 00 has exactly four fields.
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
  const sc: Api.SpanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: parseInt(m[4]!, 16),
    isRemote: true,
  };
  if (typeof tracestate === 'string' && tracestate !== '') {
    sc.traceState = api.createTraceState(tracestate);
  }
  return api.isSpanContextValid(sc) ? sc : undefined;
}

/** Attribute names of the OpenTelemetry messaging conventions (copied: they are still incubating). */
export const ATTR = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  errorType: 'error.type',
  // Sluice's own, under messaging.{system}.* as the conventions suggest for system attributes.
  task: 'messaging.sluice.task',
  attempt: 'messaging.sluice.attempt',
  outcome: 'messaging.sluice.outcome',
} as const;
