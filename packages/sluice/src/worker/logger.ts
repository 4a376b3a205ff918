// The default logger: JSON lines on stderr, pino-compatible in shape. The CLI passes the level
// from SLUICE_LOG_LEVEL; the library reads no environment.
import type { Logger } from '../core/logger.js';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
type Level = keyof typeof LEVELS;

/** The fields of an Error worth logging: JSON.stringify of an Error alone gives `{}`. */
export function serializeError(err: Error, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const { code } = err as { code?: unknown };
  if (code !== undefined) out.code = code;
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined && depth < 5) {
    out.cause = err.cause instanceof Error ? serializeError(err.cause, depth + 1) : err.cause;
  }
  return out;
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? serializeError(value) : value;
}

/**
 * A small pino-shaped logger writing JSON lines to stderr.
 * @example const logger = createLogger('warn', { service: 'mailer' });
 */
export function createLogger(level: Level = 'info', bindings: object = {}): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const write = (lvl: Exclude<Level, 'silent'>) => (obj: object, msg?: string) => {
    if (LEVELS[lvl] < min) return;
    const line = { level: lvl, time: new Date().toISOString(), ...bindings, ...obj, msg };
    process.stderr.write(JSON.stringify(line, errorReplacer) + '\n');
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more: object) => createLogger(level, { ...bindings, ...more }),
    isLevelEnabled: (lvl: string) => (LEVELS[lvl as Level] ?? LEVELS.info) >= min,
  };
}

/** A worker's logger: the given one (or a default) bound to the worker's id. */
export function workerLogger(given: Logger | undefined, workerId: string): Logger {
  return (given ?? createLogger()).child?.({ workerId }) ?? given ?? createLogger();
}
