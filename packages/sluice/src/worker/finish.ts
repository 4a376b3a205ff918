// What happens to a job once its attempt ended: the outcome the completer writes (or the
// cancellation recorded), the log line and the job:failed event. Apart from the worker's
// bookkeeping (slots, buffer), which stays in worker.ts.
import type { Logger } from '../core/logger.js';
import type { Completer, Token } from './completer.js';
import { errorJson, type RunOutcome } from './executor.js';
import { logFields, type RunningJob } from './running-job.js';
import type { JobEvent } from './events.js';

export interface FinishHost {
  logger: Logger;
  isDebugLogged: boolean;
  completer: Completer;
  emit(event: 'job:failed' | 'job:completed', payload: JobEvent): void;
  /** Writes the end of a job that has no result (cancelled, expired), then its event. */
  recordEnd(
    token: Token,
    end: { state: 'cancelled' | 'expired'; reason: string },
    startedAt?: number,
  ): void;
}

/** Routes a settled job's outcome; `entry` is no longer running when this is called. */
export function finishJob(host: FinishHost, entry: RunningJob, result: RunOutcome): void {
  const { job, startedAt } = entry;
  // Once the worker interrupted a job (cancel or shutdown), that decides its fate, whatever
  // the handler returned while reacting to its signal.
  const outcome: RunOutcome =
    entry.abortedBy && result.kind !== 'committed'
      ? { kind: 'aborted', token: result.token }
      : result;
  const durationMs = Date.now() - startedAt;
  // Completions are the hot path: their debug fields are built only if someone will see them.
  if (outcome.kind === 'complete') {
    if (host.isDebugLogged) host.logger.debug({ ...logFields(job), durationMs }, 'job completed');
    outcome.startedAt = startedAt;
    host.completer.push(outcome);
    return;
  }
  const fields = { ...logFields(job), durationMs };
  switch (outcome.kind) {
    case 'fail': {
      const { name, message } = outcome.error;
      host.logger.warn({ ...fields, error: `${name}: ${message}` }, 'job failed');
      host.emit('job:failed', { job: outcome.token, durationMs, error: outcome.error });
      outcome.startedAt = startedAt;
      host.completer.push(outcome);
      return;
    }
    case 'release':
      outcome.startedAt = startedAt;
      host.completer.push(outcome);
      return;
    case 'cancel':
      host.recordEnd(outcome.token, { state: 'cancelled', reason: outcome.reason }, startedAt);
      return;
    case 'expire':
      host.logger.info(fields, 'job expired before it started; not run');
      host.recordEnd(outcome.token, { state: 'expired', reason: 'expired before it started' });
      return;
    case 'committed':
      host.emit('job:completed', { job: outcome.token, durationMs });
      return;
    case 'aborted':
      if (entry.abortedBy === 'cancel') {
        host.recordEnd(outcome.token, { state: 'cancelled', reason: 'cancelled' }, startedAt);
        return;
      }
      host.logger.warn(fields, 'job aborted by shutdown; released');
      host.completer.push({
        kind: 'release',
        token: outcome.token,
        refund: false,
        delayMs: 0,
        errorJson: errorJson(new Error('aborted: worker shut down'), job.attempt),
        startedAt,
      });
      return;
  }
}
