// What a handler can ask for besides success or failure: return (or throw) one of these.

/** Re-schedules the job after `delayMs` without using an attempt. */
export class Snooze {
  constructor(readonly delayMs: number) {}
}

/** Ends the job as cancelled in history, with a reason. */
export class Cancel {
  constructor(readonly reason: string) {}
}

/**
 * Re-run this job later without using an attempt.
 * @example return snooze(60_000); // the upstream API said "try again in a minute"
 */
export function snooze(delayMs: number): Snooze {
  return new Snooze(Math.max(0, Math.round(delayMs)));
}

/**
 * Stop this job for good, recorded as cancelled (not failed).
 * @example if (order.isDeleted) return cancel('order deleted');
 */
export function cancel(reason = 'cancelled by handler'): Cancel {
  return new Cancel(reason);
}
