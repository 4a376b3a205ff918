// Per-job run options (timeoutMs, retry) as `enqueue` and flows take them, and as they are stored
// in the job's run_options column, which the worker reads at claim.
import { retryPolicySchema } from './retry-policy.js';

/** A per-job retry policy: the object forms only, since the job row stores it as JSON. */
export const storedRetrySchema = retryPolicySchema.refine((r) => typeof r !== 'function', {
  message: 'a per-job retry policy must be an object',
});

/** The run_options JSON for a job, or null when it has none (most jobs). */
export function runOptionsJson(o: { timeoutMs?: number; retry?: unknown }): string | null {
  if (o.timeoutMs === undefined && o.retry === undefined) return null;
  return JSON.stringify({ timeoutMs: o.timeoutMs, retry: o.retry });
}
