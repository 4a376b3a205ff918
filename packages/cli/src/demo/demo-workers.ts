// The demo's worker processes: real `sluice work` children, separate from the producer.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CliError } from '../cli-error.js';

/** A `sluice work` child process of the demo. */
export interface DemoWorker {
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Its last log lines, shown if it exits unexpectedly. */
  logTail: string[];
  isExited: boolean;
}

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

/** The tasks module the demo's workers run. */
export const DEMO_TASKS_FILE = fileURLToPath(new URL('./demo-tasks.js', import.meta.url));

/** The `sluice work` arguments of a demo worker (printed by the demo, then run). */
export function demoWorkArgs(schema: string): string[] {
  return [
    'work',
    '--tasks',
    DEMO_TASKS_FILE,
    '--concurrency',
    '50',
    // Retries are due 500 ms after a failure: a short poll picks them up without waiting 1 s.
    '--poll-interval-ms',
    '200',
    '--grace-ms',
    '5000',
    ...(schema === 'sluice' ? [] : ['--schema', schema]),
  ];
}

/** Starts one `sluice work` process on `url`; its log (JSON lines on stderr) is kept, not shown. */
export function startDemoWorker(url: string, schema: string): DemoWorker {
  const child = spawn(process.execPath, [BIN, ...demoWorkArgs(schema)], {
    // The tasks module reads DATABASE_URL to reach the demo tables.
    env: {
      ...process.env,
      DATABASE_URL: url,
      SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (child.pid === undefined) throw new CliError('could not start a `sluice work` process');
  const worker: DemoWorker = {
    pid: child.pid,
    child,
    logTail: [],
    isExited: false,
    exited: new Promise((resolve) => {
      child.once('exit', (code) => {
        worker.isExited = true;
        resolve(code);
      });
    }),
  };
  createInterface({ input: child.stderr }).on('line', (line) => {
    worker.logTail.push(line);
    if (worker.logTail.length > 20) worker.logTail.shift();
  });
  return worker;
}

/** Throws if a worker has exited before the demo stopped it. */
export function assertWorkersAlive(workers: DemoWorker[]): void {
  const dead = workers.find((w) => w.isExited);
  if (dead) {
    const last = dead.logTail.at(-1) ?? '(no output)';
    throw new CliError(`worker ${dead.pid} exited unexpectedly; its last log line: ${last}`);
  }
}

/** Sends SIGTERM to every running worker and returns their exit codes (SIGKILL after 20 s). */
export async function stopDemoWorkers(workers: DemoWorker[]): Promise<(number | null)[]> {
  for (const w of workers) if (!w.isExited) w.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const w of workers) if (!w.isExited) w.child.kill('SIGKILL');
  }, 20_000);
  try {
    return await Promise.all(workers.map((w) => w.exited));
  } finally {
    clearTimeout(timer);
  }
}
