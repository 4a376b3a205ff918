// SIGTERM and SIGINT are caught from the binary's first line on. A stop signal during start-up
// (a rolling restart) must end `sluice work` cleanly with exit 0, instead of killing it with 143
// before the worker's own handling exists. This file imports nothing, so it loads at once.

/** What a command does with stop signals once it can stop gracefully. */
export type StopHandler = (signal: NodeJS.Signals, count: number) => void;

/** The reason `stopSignal` is aborted with. */
export class StopRequestedError extends Error {
  override name = 'StopRequestedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}

const controller = new AbortController();
const received: NodeJS.Signals[] = [];
let handler: StopHandler | undefined;

/** Aborted by the first SIGTERM or SIGINT: start-up steps pass it on or check it. */
export const stopSignal: AbortSignal = controller.signal;

function onSignal(signal: NodeJS.Signals): void {
  received.push(signal);
  if (!controller.signal.aborted) controller.abort(new StopRequestedError(signal));
  handler?.(signal, received.length);
}

// `npx sluice work` (npm exec) dies on SIGTERM without passing it on, and leaves the worker
// running as an orphan. A parent that goes away sends no signal, so its leaving counts as one:
// the process is re-parented, and its parent pid changes.
let parentWatch: NodeJS.Timeout | undefined;

function watchParent(): void {
  const parent = process.ppid;
  parentWatch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(parentWatch);
    onSignal('SIGTERM');
  }, 500);
  parentWatch.unref();
}

/** Catches SIGTERM and SIGINT (and the parent's exit) from now on: the binary's first step. */
export function installStopSignals(): void {
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  watchParent();
}

/** Hands stop signals to `fn` from now on; one received before is handed over at once. */
export function onStopSignal(fn: StopHandler): void {
  handler = fn;
  const last = received.at(-1);
  if (last) fn(last, received.length);
}

/** Whether a command has taken over stop signals with {@link onStopSignal}. */
export function isStopHandled(): boolean {
  return handler !== undefined;
}

/**
 * For commands without a graceful stop: gives signals back to Node's default (the process dies
 * by the signal, as before), applying one that already arrived.
 */
export function releaseStopSignals(): void {
  clearInterval(parentWatch);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  const first = received[0];
  if (first && process.listenerCount(first) === 0) process.kill(process.pid, first);
}
