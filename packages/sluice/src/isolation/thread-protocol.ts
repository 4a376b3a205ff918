// Messages between a worker and the thread running an isolated handler, and how results and
// errors cross: structured clone keeps an Error's message and stack but not its class, so the
// directives (snooze, cancel) and PermanentError are sent as tags and rebuilt on arrival.
import { PermanentError } from '../core/errors.js';
import { Cancel, Snooze } from '../client/job-directive.js';

type LogFn = (obj: object, msg?: string) => void;

/**
 * The part of a handler's ctx that crosses into the thread: the shape of define-task's
 * JobContext, written out here so this folder imports nothing from the layers above it.
 */
export interface ThreadContext {
  signal: AbortSignal;
  attempt: number;
  maxAttempts: number;
  job: object;
  heartbeat(): Promise<void>;
  progress(value: unknown): Promise<void>;
  logger: { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };
}

export interface RunMessage {
  type: 'run';
  moduleUrl: string;
  exportName: string;
  payload: unknown;
  ctx: { attempt: number; maxAttempts: number; job: object };
}

export type ToThread =
  | RunMessage
  | { type: 'abort'; reason: WireError }
  | { type: 'ack'; seq: number; error?: WireError };

export type FromThread =
  | { type: 'done'; ok: true; value: WireValue }
  | { type: 'done'; ok: false; error: WireError }
  | { type: 'call'; seq: number; method: 'heartbeat' | 'progress'; value?: unknown }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string };

export type WireValue =
  | { kind: 'value'; value: unknown }
  | { kind: 'snooze'; delayMs: number }
  | { kind: 'cancel'; reason: string };

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  isPermanent: boolean;
  /** JSON-safe own fields (code, issues, retryAfterMs …), which retry policies may read. */
  fields: Record<string, unknown>;
}

// Duck-typed as well as instanceof: a handler module may load its own copy of sluice.
function named(v: unknown, name: string): boolean {
  return typeof v === 'object' && v !== null && v.constructor?.name === name;
}

export function toWireValue(v: unknown): WireValue {
  if (v instanceof Snooze || named(v, 'Snooze')) {
    return { kind: 'snooze', delayMs: (v as Snooze).delayMs };
  }
  if (v instanceof Cancel || named(v, 'Cancel')) {
    return { kind: 'cancel', reason: (v as Cancel).reason };
  }
  return { kind: 'value', value: v };
}

export function fromWireValue(w: WireValue): unknown {
  if (w.kind === 'snooze') return new Snooze(w.delayMs);
  if (w.kind === 'cancel') return new Cancel(w.reason);
  return w.value;
}

export function toWireError(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(JSON.stringify({ ...e })) as Record<string, unknown>;
  } catch {
    // Unserialisable fields stay behind; name, message and stack are enough to report.
  }
  return {
    name: e.name,
    message: e.message,
    stack: e.stack,
    isPermanent: e instanceof PermanentError || e.name === 'PermanentError',
    fields,
  };
}

export function fromWireError(w: WireError): Error {
  const e = w.isPermanent ? new PermanentError(w.message) : new Error(w.message);
  Object.assign(e, w.fields);
  e.name = w.name;
  if (w.stack !== undefined) e.stack = w.stack;
  return e;
}
