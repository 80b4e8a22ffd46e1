import { type Clock, systemClock } from './clock.js';
import { AbortedError, BuckleyError, InvalidArgumentError, TimeoutError } from './errors.js';

/** Options shared by the waiting helpers. */
export interface WaitOptions {
  /** Aborting rejects the wait with {@link AbortedError} (or the signal's Buckley reason). */
  readonly signal?: AbortSignal | undefined;
  /** Time source; defaults to {@link systemClock}. */
  readonly clock?: Clock | undefined;
}

/**
 * The error to reject with for an aborted signal: its reason when that is already a
 * {@link BuckleyError} (a {@link TimeoutError} stays a timeout), otherwise an
 * {@link AbortedError} carrying the reason as `cause`.
 */
export function abortError(signal: AbortSignal): BuckleyError {
  const reason: unknown = signal.reason;
  if (reason instanceof BuckleyError) return reason;
  return new AbortedError('the operation was aborted', { cause: reason });
}

/** Throws {@link abortError} when `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function checkMs(name: string, ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(`${name} must be a finite number of milliseconds >= 0, got ${JSON.stringify(ms)}`);
  }
}

/**
 * Resolves after `ms` milliseconds, or rejects as soon as `signal` aborts; the timer is cleared
 * either way, so an aborted sleep leaves nothing scheduled.
 */
export function sleep(ms: number, options: WaitOptions = {}): Promise<void> {
  checkMs('ms', ms);
  const { signal, clock = systemClock } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(abortError(signal!));
    };
    const cancel = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options of {@link withDeadline}. */
export interface DeadlineOptions extends WaitOptions {
  /** How long `task` may run, in milliseconds. */
  readonly timeoutMs: number;
}

/**
 * Runs `task` with a signal that aborts when `timeoutMs` passes or the caller's `signal` aborts,
 * and settles as soon as either happens even if `task` ignores its signal. A passed deadline
 * rejects with {@link TimeoutError}; a caller abort with {@link AbortedError}.
 *
 * @example
 * ```ts
 * const body = await withDeadline((signal) => fetch(url, { signal }), { timeoutMs: 5_000 });
 * ```
 */
export function withDeadline<T>(task: (signal: AbortSignal) => Promise<T>, options: DeadlineOptions): Promise<T> {
  const { timeoutMs, signal, clock = systemClock } = options;
  checkMs('timeoutMs', timeoutMs);
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      cancel();
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      const error = abortError(signal!);
      controller.abort(error);
      finish(() => reject(error));
    };
    const cancel = clock.setTimeout(() => {
      const error = new TimeoutError(timeoutMs);
      controller.abort(error);
      finish(() => reject(error));
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    let running: Promise<T>;
    try {
      running = task(controller.signal);
    } catch (error) {
      finish(() => reject(error));
      return;
    }
    running.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/**
 * A signal that aborts when any of `signals` aborts, with that signal's reason. `undefined`
 * entries are ignored, so optional caller signals can be passed straight through.
 */
export function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0]!;
  return AbortSignal.any(present);
}
