// Typed errors of schedule definitions. They extend InvalidOptionsError (code INVALID_OPTIONS) so
// callers branching on codes need nothing new, and `instanceof` tells them apart.
import { InvalidOptionsError } from '../core/errors.js';

/** The cron expression does not parse, or never fires. */
export class InvalidCronError extends InvalidOptionsError {
  override name = 'InvalidCronError';
  constructor(
    readonly cron: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('cron expression', `${JSON.stringify(cron)}: ${detail}`, options);
  }
}

/** The time zone is not an IANA zone known to this runtime. */
export class InvalidTimezoneError extends InvalidOptionsError {
  override name = 'InvalidTimezoneError';
  constructor(
    readonly timezone: string,
    options?: { cause?: unknown },
  ) {
    super(
      'time zone',
      `${JSON.stringify(timezone)} is not an IANA time zone (e.g. "UTC", "Europe/Paris")`,
      options,
    );
  }
}
