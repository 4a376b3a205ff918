// Runs isolated handlers inside a worker thread (see thread-handler.ts), one job at a time. The
// handler gets the usual ctx; heartbeat(), progress() and the logger are calls to the worker's
// main thread, whose event loop stays free to heartbeat however long the handler computes.
import { parentPort } from 'node:worker_threads';
import {
  fromWireError,
  toWireError,
  toWireValue,
  type FromThread,
  type RunMessage,
  type ThreadContext,
  type ToThread,
} from './thread-protocol.js';

type Handler = (payload: unknown, ctx: ThreadContext) => unknown;

const port = parentPort;
if (!port) throw new Error('thread-entry.js runs only as a worker thread');

let controller = new AbortController();
let seq = 0;
const calls = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

function send(message: FromThread): void {
  port!.postMessage(message);
}

function call(method: 'heartbeat' | 'progress', value?: unknown): Promise<void> {
  const n = ++seq;
  return new Promise<void>((resolve, reject) => {
    calls.set(n, { resolve, reject });
    send({ type: 'call', seq: n, method, value });
  });
}

function log(level: 'debug' | 'info' | 'warn' | 'error', obj: object, msg?: string): void {
  try {
    send({ type: 'log', level, obj, msg });
  } catch {
    send({ type: 'log', level, obj: { note: 'log fields could not be cloned' }, msg });
  }
}

const logger: ThreadContext['logger'] = {
  debug: (obj, msg) => log('debug', obj, msg),
  info: (obj, msg) => log('info', obj, msg),
  warn: (obj, msg) => log('warn', obj, msg),
  error: (obj, msg) => log('error', obj, msg),
};

async function loadHandler(moduleUrl: string, exportName: string): Promise<Handler> {
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    throw new Error(`${moduleUrl} has no function export "${exportName}" to run in a thread`);
  }
  return fn as Handler;
}

async function run(m: RunMessage): Promise<void> {
  controller = new AbortController();
  const ctx: ThreadContext = {
    signal: controller.signal,
    attempt: m.ctx.attempt,
    maxAttempts: m.ctx.maxAttempts,
    job: m.ctx.job,
    heartbeat: () => call('heartbeat'),
    progress: (value: unknown) => call('progress', value),
    logger,
  };
  try {
    const handler = await loadHandler(m.moduleUrl, m.exportName);
    const value = await handler(m.payload, ctx);
    send({ type: 'done', ok: true, value: toWireValue(value) });
  } catch (err) {
    const wire = toWireValue(err);
    if (wire.kind !== 'value') send({ type: 'done', ok: true, value: wire });
    else send({ type: 'done', ok: false, error: toWireError(err) });
  }
}

port.on('message', (m: ToThread) => {
  if (m.type === 'run') void run(m);
  else if (m.type === 'abort') controller.abort(fromWireError(m.reason));
  else {
    const pending = calls.get(m.seq);
    calls.delete(m.seq);
    if (m.error) pending?.reject(fromWireError(m.error));
    else pending?.resolve();
  }
});
