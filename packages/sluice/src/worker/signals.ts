// Graceful shutdown on SIGTERM/SIGINT for worker processes.
import type { Worker } from './worker.js';

/**
 * Stops `worker` gracefully on SIGTERM/SIGINT and exits 0; a second signal aborts running jobs
 * at once. Returns a function that removes the handlers. `graceMs` defaults to the worker's.
 * @example await worker.start(); handleSignals(worker);
 */
export function handleSignals(
  worker: Worker,
  options: { graceMs?: number; exit?: boolean } = {},
): () => void {
  let count = 0;
  const onSignal = () => {
    count++;
    if (count === 1) {
      void worker.stop({ graceMs: options.graceMs }).then(
        () => options.exit !== false && process.exit(0),
        () => process.exit(1),
      );
    } else {
      worker.abortAll();
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
