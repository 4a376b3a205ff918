// Runs the built `sluice` binary as a real child process, the way users and scripts run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of the built binary (`pnpm build` makes it). */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** What a finished run printed and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of a run: the database URL (null: none, so the embedded default) and directory. */
export interface RunOptions {
  databaseUrl: string | null;
  cwd?: string;
  /** Options for node itself, before the binary (e.g. `--require` of a test preload). */
  nodeArgs?: string[];
}

function env(databaseUrl: string | null): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.DATABASE_URL;
  if (databaseUrl !== null) e.DATABASE_URL = databaseUrl;
  return e;
}

/** Starts `sluice <args>` and returns the child (for long-running commands such as --watch). */
export function spawnCli(args: string[], options: RunOptions): ChildProcess {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`pnpm build\` first`);
  return spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
    cwd: options.cwd,
    env: env(options.databaseUrl),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `sluice <args>` to completion. */
export function runCli(args: string[], options: RunOptions): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
