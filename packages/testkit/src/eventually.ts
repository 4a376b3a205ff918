/**
 * Retries `check` until it stops throwing (or returns a non-false value), or fails with its last
 * error after `timeoutMs`. Use instead of sleeps.
 * @example await eventually(async () => expect(await count()).toBe(3));
 */
export async function eventually<T>(
  check: () => Promise<T> | T,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 25 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const out = await check();
      if (out !== false) return out;
      if (Date.now() > deadline) throw new Error('eventually: condition still false');
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
