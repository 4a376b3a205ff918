// The tasks module of `sluice work`: imported, and its exported tasks with handlers collected.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Task } from 'sluice';
import { CliError } from './cli-error.js';
import { locateSyntaxError } from './syntax-error-location.js';

/** A task with its handler attached. */
export type RunnableTask = Task & { readonly handler: NonNullable<Task['handler']> };

function isRunnableTask(value: unknown): value is RunnableTask {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as { name?: unknown; handler?: unknown };
  return typeof t.name === 'string' && typeof t.handler === 'function';
}

const TYPESCRIPT = /\.(c|m)?tsx?$/;

// The reason of a failed import, with what to do about the usual ones.
function whyNotLoaded(path: string, err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TYPESCRIPT.test(path)) {
    return (
      'Node cannot import TypeScript as it is: compile it (tsc) and pass the .js file, or run ' +
      "with a TypeScript loader: NODE_OPTIONS='--import tsx' sluice work … (with tsx installed), " +
      'or on Node >= 22.6 NODE_OPTIONS=--experimental-strip-types sluice work …'
    );
  }
  if (err instanceof SyntaxError) {
    const place = locateSyntaxError(path, err);
    if (place) return `syntax error at ${place.where}: ${place.message}`;
  }
  return err.message.split('\n')[0] ?? err.message;
}

/**
 * Imports the tasks module at `file` (relative to the working directory) and returns every
 * exported task that has a handler: named exports, and a default export that is a task or an
 * array of tasks.
 * @example const tasks = await loadTasks('./tasks.js');
 */
export async function loadTasks(file: string): Promise<RunnableTask[]> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`tasks module not found: ${path}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`cannot load tasks module ${path}: ${whyNotLoaded(path, err)}`, {
      cause: err,
    });
  }
  const candidates = Object.entries(mod).flatMap(([key, value]) =>
    key === 'default' && Array.isArray(value) ? (value as unknown[]) : [value],
  );
  const byName = new Map<string, RunnableTask>();
  for (const value of candidates) {
    if (!isRunnableTask(value)) continue;
    const seen = byName.get(value.name);
    // `export default [sendEmail]` next to `export const sendEmail` is the same task, not a clash.
    if (seen && seen !== value) {
      throw new CliError(`tasks module ${path} exports two different tasks named "${value.name}"`);
    }
    byName.set(value.name, value);
  }
  if (byName.size === 0) {
    throw new CliError(
      `tasks module ${path} exports no task with a handler (export defineTask(…).handle(fn))`,
    );
  }
  return [...byName.values()];
}
