// Child processes for end-to-end tests: spawn, read their JSON-line events, signal them, and make
// sure none outlives its test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { eventually } from './eventually.js';

/** A spawned process and what it printed. */
export interface TestProcess {
  child: ChildProcess;
  pid: number;
  /** JSON objects printed one per line on stdout. */
  events: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Resolves with the first event matching `match`, waiting up to `timeoutMs`. */
  waitFor(
    match: (e: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<TestProcess>();

/**
 * Spawns `node script` with `env` added to the environment; `prefix` runs it through a command
 * that execs its arguments (`['ip', 'netns', 'exec', 'ns1']`), keeping the pid node's.
 */
export function spawnNode(
  script: string,
  env: Record<string, string>,
  options: { prefix?: string[] } = {},
): TestProcess {
  const [command, ...args] = [...(options.prefix ?? []), process.execPath, script];
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'text', line });
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  let isExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      isExited = true;
      resolve({ code, signal });
    }),
  );
  const proc: TestProcess = {
    child,
    pid: child.pid!,
    events,
    stderr,
    exited,
    isRunning: () => !isExited,
    waitFor: (match, timeoutMs = 20_000) =>
      eventually(
        () => {
          const found = events.find(match);
          if (!found)
            throw new Error(`no matching event yet; stderr: ${stderr.slice(-5).join(' | ')}`);
          return found;
        },
        { timeoutMs },
      ),
    kill: (signal = 'SIGTERM') => {
      if (!isExited) child.kill(signal);
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Kills every process still running (SIGCONT first, for stopped ones) and reports how many. */
export async function killAllProcesses(): Promise<number> {
  const left = [...live];
  for (const p of left) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
  await Promise.all(left.map((p) => p.exited));
  return left.length;
}
