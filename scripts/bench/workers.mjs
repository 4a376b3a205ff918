// Parent side of the worker processes: fork, start together, watch progress, collect ledgers.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./worker-child.mjs', import.meta.url));

function waitFor(child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker process: no '${type}' within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (msg) => {
      if (msg.type === type) {
        cleanup();
        resolve(msg);
      } else if (msg.type === 'error') {
        cleanup();
        reject(new Error(`worker process failed: ${msg.message}`));
      }
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`worker process exited (${code}) before '${type}'`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * Forks `procs` worker processes of one system/variant and waits until each is ready (modules
 * loaded, connected where the system allows it without claiming jobs).
 */
export async function forkWorkers({ system, variant, url, procs, recordTimes, mode = 'jobs' }) {
  const children = [];
  const progress = [];
  for (let i = 0; i < procs; i++) {
    const child = fork(CHILD, [system, variant, url, recordTimes ? '1' : '0', mode], {
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    progress.push(0);
    child.on('message', (msg) => {
      if (msg.type === 'progress') progress[i] = msg.count;
    });
    children.push(child);
  }
  const killAll = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  };
  try {
    await Promise.all(children.map((c) => waitFor(c, 'ready', 30_000)));
  } catch (err) {
    killAll();
    throw err;
  }
  return {
    /** Tells every process to start working; resolves when all report started. */
    async start() {
      const started = children.map((c) => waitFor(c, 'started', 30_000));
      for (const c of children) c.send({ type: 'start' });
      await Promise.all(started);
    },
    /** Handler runs reported so far (lags by up to 20 ms). */
    processed: () => progress.reduce((a, b) => a + b, 0),
    /** Stops every process gracefully and returns the merged ledger. */
    async stop() {
      const ledgers = children.map((c) => waitFor(c, 'ledger', 30_000));
      for (const c of children) c.send({ type: 'stop' });
      try {
        const all = await Promise.all(ledgers);
        return {
          seqs: all.flatMap((l) => l.seqs),
          starts: all.flatMap((l) => l.starts),
          // Handler end times, aligned with seqs (flows mode; null where a run never ended).
          ends: all.flatMap((l) => Array.from(l.seqs, (_, i) => l.ends?.[i] ?? null)),
        };
      } finally {
        killAll();
      }
    },
    kill: killAll,
  };
}
