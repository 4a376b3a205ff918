// The logger shape every part of Sluice writes to (pino's); createLogger in worker/logger.ts
// makes the default one.

/** A pino-shaped logger: an object of fields, then a message. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: object): Logger;
  /** As in pino: lets the worker skip building per-job debug fields nobody will see. */
  isLevelEnabled?(level: string): boolean;
}
