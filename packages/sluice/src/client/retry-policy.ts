// How long a failed job waits before its next attempt.
import { z } from 'zod';

/**
 * A retry policy: exponential (the default), fixed, or your own function of attempt and error.
 * Default: exponential from 1 s doubling per attempt, capped at 1 h, with ±25% jitter —
 * attempt 1 → ~1 s, 2 → ~2 s, 5 → ~16 s, 10 → ~8.5 min, 13+ → ~1 h.
 * @example retry: { kind: 'fixed', delayMs: 5_000 }
 */
export type RetryPolicy =
  | { kind: 'exponential'; baseMs?: number; maxMs?: number; jitter?: number }
  | { kind: 'fixed'; delayMs: number }
  | ((attempt: number, error: unknown) => number);

export const retryPolicySchema = z.union([
  z
    .object({
      kind: z.literal('exponential'),
      baseMs: z.number().int().nonnegative().optional(),
      maxMs: z.number().int().nonnegative().optional(),
      jitter: z.number().min(0).max(1).optional(),
    })
    .strict(),
  z.object({ kind: z.literal('fixed'), delayMs: z.number().int().nonnegative() }).strict(),
  z.custom<(attempt: number, error: unknown) => number>((v) => typeof v === 'function'),
]);

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based).
 * @example backoffDelay({ kind: 'exponential' }, 3, err) // ≈ 4000
 */
export function backoffDelay(
  policy: RetryPolicy | undefined,
  attempt: number,
  error: unknown,
  random: () => number = Math.random,
): number {
  const p = policy ?? { kind: 'exponential' as const };
  if (typeof p === 'function') return Math.max(0, Math.round(p(attempt, error)));
  if (p.kind === 'fixed') return p.delayMs;
  const base = p.baseMs ?? 1000;
  const max = p.maxMs ?? 3_600_000;
  const jitter = p.jitter ?? 0.25;
  const raw = Math.min(max, base * 2 ** Math.min(attempt - 1, 40));
  return Math.max(0, Math.round(raw * (1 - jitter + 2 * jitter * random())));
}
