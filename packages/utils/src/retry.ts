import { sleep, throwIfAborted } from './abort.js';
import { type Clock, systemClock } from './clock.js';
import { BuckleyError, type BuckleyErrorOptions, InvalidArgumentError, isRetryableError } from './errors.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Retries after the first attempt; `0` tries once. Default 3. */
  readonly maxRetries?: number;
  /** Delay before the first retry, in milliseconds. Default 100. */
  readonly baseDelayMs?: number;
  /** Upper bound of any delay (after jitter), in milliseconds. Default 10,000. */
  readonly maxDelayMs?: number;
  /** Growth factor of the delay per retry; >= 1. Default 2. */
  readonly multiplier?: number;
  /**
   * Relative jitter in [0, 1): each delay is multiplied by a uniform factor in
   * `[1 - jitter, 1 + jitter)`, so retrying clients do not move in lock step. Default 0.25.
   */
  readonly jitter?: number;
  /**
   * Whether an error may be retried. Default: only errors marked retryable
   * (`isRetryableError` from `@buckley/utils`: timeouts, no responders, dropped connections).
   */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Aborting stops at once, also during a backoff wait, rejecting with `AbortedError`. */
  readonly signal?: AbortSignal;
  /** Time source of the backoff waits; tests pass a `ManualClock`. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for the jitter; default `Math.random`. */
  readonly random?: () => number;
  /** Called before each backoff wait. */
  readonly onRetry?: (info: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

/** Every attempt failed with a retryable error; the last one is the `cause`. */
export class RetryExhaustedError extends BuckleyError {
  /** How many attempts were made. */
  readonly attempts: number;
  constructor(attempts: number, lastError: unknown, options?: BuckleyErrorOptions) {
    const last = lastError instanceof Error ? lastError.message : String(lastError);
    super('RETRY_EXHAUSTED', `gave up after ${attempts} attempt(s): ${last}`, { cause: lastError, ...options });
    this.attempts = attempts;
  }
}

/**
 * The backoff before retry number `retryNumber` (1-based), in milliseconds, for a given random
 * draw `u` in [0, 1).
 */
export function backoffDelay(retryNumber: number, options: RetryOptions = {}, u = 0.5): number {
  const { baseDelayMs = 100, maxDelayMs = 10_000, multiplier = 2, jitter = 0.25 } = options;
  const raw = Math.min(maxDelayMs, baseDelayMs * multiplier ** (retryNumber - 1));
  return Math.min(maxDelayMs, Math.max(0, raw * (1 - jitter + 2 * jitter * u)));
}

function check(options: RetryOptions): void {
  const { maxRetries = 3, baseDelayMs = 100, maxDelayMs = 10_000, multiplier = 2, jitter = 0.25 } = options;
  const fail = (name: string, value: unknown, expected: string) => {
    throw new InvalidArgumentError(`retry option ${name} ${JSON.stringify(value)} must be ${expected}`);
  };
  if (!Number.isInteger(maxRetries) || maxRetries < 0) fail('maxRetries', maxRetries, 'an integer >= 0');
  if (!Number.isFinite(baseDelayMs) || baseDelayMs < 0) fail('baseDelayMs', baseDelayMs, 'a finite number >= 0');
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < baseDelayMs) fail('maxDelayMs', maxDelayMs, 'a finite number >= baseDelayMs');
  if (!Number.isFinite(multiplier) || multiplier < 1) fail('multiplier', multiplier, 'a finite number >= 1');
  if (!(jitter >= 0 && jitter < 1)) fail('jitter', jitter, 'in [0, 1)');
}

/**
 * Runs `fn` until it succeeds, retrying errors that `shouldRetry` accepts with exponential
 * backoff and jitter. A non-retryable error is rethrown as it is at once; when the retries
 * run out, {@link RetryExhaustedError} wraps the last error.
 *
 * @example
 * ```ts
 * const reply = await retry((attempt, signal) => bus.request('svc.ping', '', { signal }), { maxRetries: 5 });
 * ```
 */
export async function retry<T>(fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  check(options);
  const { maxRetries = 3, shouldRetry = isRetryableError, signal, clock = systemClock, random = Math.random, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn(attempt, signal);
    } catch (error) {
      throwIfAborted(signal);
      if (!shouldRetry(error, attempt)) throw error;
      if (attempt > maxRetries) throw new RetryExhaustedError(attempt, error);
      const delayMs = backoffDelay(attempt, options, random());
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, { signal, clock });
    }
  }
}
