/**
 * Polls `check` every `intervalMs` until it returns true; rejects after `timeoutMs` with
 * `message`. For waiting on asynchronous delivery without sleeping a fixed time.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 5_000, intervalMs = 5, message = 'condition' }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`waitUntil: ${message} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A random lower-case suffix for per-file subject prefixes, bucket and stream names. */
export function randomSuffix(length = 10): string {
  let out = '';
  while (out.length < length) out += Math.random().toString(36).slice(2);
  return out.slice(0, length);
}
