// Isolated handlers (Task.handleInThread): the handler runs in a worker thread, so a CPU-bound
// handler cannot starve the worker's event loop; heartbeats, lease renewals, cancellation and
// timeouts go on in the main thread. Threads are reused job after job; a thread whose job was
// aborted and does not return within ABORT_GRACE_MS is terminated, which also stops a busy loop
// that never looks at its signal.
import { Worker } from 'node:worker_threads';
import {
  fromWireError,
  fromWireValue,
  toWireError,
  type FromThread,
  type ThreadContext,
  type ToThread,
} from './thread-protocol.js';

const ENTRY = new URL('./thread-entry.js', import.meta.url);
/** How long an aborted handler has to return before its thread is terminated. */
const ABORT_GRACE_MS = 1000;
/** An idle thread is ended after this long without a job. */
const IDLE_MS = 30_000;

interface IdleThread {
  thread: Worker;
  timer: NodeJS.Timeout;
}

const idle = new Map<string, IdleThread[]>();

function takeThread(moduleUrl: string): Worker {
  const spare = idle.get(moduleUrl)?.pop();
  if (spare) {
    clearTimeout(spare.timer);
    spare.thread.ref();
    return spare.thread;
  }
  return new Worker(ENTRY);
}

function returnThread(moduleUrl: string, thread: Worker): void {
  const list = idle.get(moduleUrl) ?? [];
  idle.set(moduleUrl, list);
  // Unref'd: a spare thread never keeps the process alive.
  thread.unref();
  const entry: IdleThread = {
    thread,
    timer: setTimeout(() => {
      list.splice(list.indexOf(entry), 1);
      void thread.terminate();
    }, IDLE_MS).unref(),
  };
  list.push(entry);
}

/** Runs `exportName` of the module at `moduleUrl` in a worker thread, with a ctx that calls back. */
export function runInThread(
  moduleUrl: string,
  exportName: string,
  payload: unknown,
  ctx: ThreadContext,
): Promise<unknown> {
  const thread = takeThread(moduleUrl);
  return new Promise<unknown>((resolve, reject) => {
    let killTimer: NodeJS.Timeout | undefined;
    let isDone = false;
    const post = (m: ToThread) => thread.postMessage(m);
    const end = (reuse: boolean) => {
      isDone = true;
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      thread.off('message', onMessage);
      thread.off('error', onError);
      thread.off('exit', onExit);
      if (reuse) returnThread(moduleUrl, thread);
      else void thread.terminate();
    };
    const onAbort = () => {
      post({ type: 'abort', reason: toWireError(ctx.signal.reason) });
      // Rejected at the grace's end if still running: the attempt has already ended anyway.
      killTimer = setTimeout(() => {
        if (isDone) return;
        end(false);
        reject(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('aborted'));
      }, ABORT_GRACE_MS);
    };
    const onMessage = (m: FromThread) => {
      if (m.type === 'done') {
        // A thread whose job was aborted may still hold timers of that job: start afresh.
        end(!ctx.signal.aborted);
        if (m.ok) resolve(fromWireValue(m.value));
        else reject(fromWireError(m.error));
      } else if (m.type === 'log') {
        ctx.logger[m.level](m.obj, m.msg);
      } else {
        const work = m.method === 'heartbeat' ? ctx.heartbeat() : ctx.progress(m.value);
        work.then(
          () => post({ type: 'ack', seq: m.seq }),
          (err: unknown) => post({ type: 'ack', seq: m.seq, error: toWireError(err) }),
        );
      }
    };
    const onError = (err: Error) => {
      end(false);
      reject(err);
    };
    const onExit = (code: number) => {
      if (isDone) return;
      end(false);
      reject(new Error(`the handler's thread exited with code ${code}`));
    };
    thread.on('message', onMessage);
    thread.on('error', onError);
    thread.on('exit', onExit);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      post({
        type: 'run',
        moduleUrl,
        exportName,
        payload,
        ctx: { attempt: ctx.attempt, maxAttempts: ctx.maxAttempts, job: { ...ctx.job } },
      });
    } catch (err) {
      // A payload structured clone cannot copy; the thread never saw it, so it is reusable.
      end(true);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
