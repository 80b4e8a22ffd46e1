import { type Clock, systemClock } from './clock.js';
import { BuckleyError, type BuckleyErrorOptions, InvalidArgumentError } from './errors.js';

/** A circuit breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Reported on every state change. */
export interface CircuitStateChange {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Why, e.g. `5 consecutive failures`. */
  readonly reason: string;
  readonly lastError: unknown;
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before letting a probe through, in milliseconds. Default 60,000. */
  readonly resetTimeoutMs?: number;
  /** Consecutive half-open successes that close it again. Default 2. */
  readonly successThreshold?: number;
  /** Calls allowed in flight while half-open; the rest are rejected. Default 1 (one probe at a time). */
  readonly halfOpenMaxCalls?: number;
  /** How many recent errors to keep for {@link CircuitOpenError.recentErrors}. Default 5. */
  readonly maxRecentErrors?: number;
  /** Which errors count as failures; default every error. Others pass through without counting. */
  readonly isFailure?: (error: unknown) => boolean;
  readonly clock?: Clock;
  /** Called after each state change; a throwing callback is ignored. */
  readonly onStateChange?: (change: CircuitStateChange) => void;
}

/** The circuit is open (or its half-open probe slots are taken): the call was not made. */
export class CircuitOpenError extends BuckleyError {
  /** Milliseconds until a probe will be allowed (0 when half-open and busy). */
  readonly retryAfterMs: number;
  readonly consecutiveFailures: number;
  readonly lastError: unknown;
  /** The most recent failures, oldest first. */
  readonly recentErrors: readonly unknown[];
  constructor(retryAfterMs: number, consecutiveFailures: number, lastError: unknown, recentErrors: readonly unknown[], options?: BuckleyErrorOptions) {
    const last = lastError instanceof Error ? lastError.message : String(lastError);
    super(
      'CIRCUIT_OPEN',
      `circuit open after ${consecutiveFailures} consecutive failure(s) (last: ${last}); retry after ${Math.ceil(retryAfterMs)} ms`,
      options,
    );
    this.retryAfterMs = retryAfterMs;
    this.consecutiveFailures = consecutiveFailures;
    this.lastError = lastError;
    this.recentErrors = recentErrors;
  }
}

/** Counters of a {@link CircuitBreaker}. */
export interface CircuitMetrics {
  /** Every `execute` call, rejected ones included. */
  readonly calls: number;
  readonly successes: number;
  readonly failures: number;
  readonly rejected: number;
  readonly state: CircuitState;
}

/**
 * Stops calling a failing dependency: after `failureThreshold` consecutive failures the
 * circuit opens and calls fail fast with {@link CircuitOpenError}; after `resetTimeoutMs` it
 * turns half-open and lets `halfOpenMaxCalls` probes through; `successThreshold` probe
 * successes close it, one probe failure re-opens it.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureThreshold: 3, onStateChange: (c) => log.warn(c) });
 * const reply = await breaker.execute(() => bus.request('model.call', body));
 * ```
 */
export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #resetTimeoutMs: number;
  readonly #successThreshold: number;
  readonly #halfOpenMaxCalls: number;
  readonly #maxRecentErrors: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #onStateChange: ((change: CircuitStateChange) => void) | undefined;
  #state: CircuitState = 'closed';
  #openedAt = 0;
  #consecutiveFailures = 0;
  #consecutiveSuccesses = 0;
  #inFlightProbes = 0;
  #recent: unknown[] = [];
  #lastError: unknown = undefined;
  #calls = 0;
  #successes = 0;
  #failures = 0;
  #rejected = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const positiveInt = (name: string, value: number) => {
      if (!Number.isInteger(value) || value < 1) {
        throw new InvalidArgumentError(`circuit breaker option ${name} ${JSON.stringify(value)} must be an integer >= 1`);
      }
      return value;
    };
    this.#failureThreshold = positiveInt('failureThreshold', options.failureThreshold ?? 5);
    this.#successThreshold = positiveInt('successThreshold', options.successThreshold ?? 2);
    this.#halfOpenMaxCalls = positiveInt('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 1);
    this.#maxRecentErrors = positiveInt('maxRecentErrors', options.maxRecentErrors ?? 5);
    const reset = options.resetTimeoutMs ?? 60_000;
    if (!Number.isFinite(reset) || reset < 0) {
      throw new InvalidArgumentError(`circuit breaker option resetTimeoutMs ${JSON.stringify(reset)} must be a finite number >= 0`);
    }
    this.#resetTimeoutMs = reset;
    this.#isFailure = options.isFailure ?? (() => true);
    this.#clock = options.clock ?? systemClock;
    this.#onStateChange = options.onStateChange;
  }

  /** The current state; an open circuit whose timeout has passed reads as half-open. */
  get state(): CircuitState {
    this.#tick();
    return this.#state;
  }

  /** The failures kept for diagnosis, oldest first. */
  get recentErrors(): readonly unknown[] {
    return [...this.#recent];
  }

  metrics(): CircuitMetrics {
    return { calls: this.#calls, successes: this.#successes, failures: this.#failures, rejected: this.#rejected, state: this.state };
  }

  /** Closes the circuit and forgets failures; metric totals stay. */
  reset(): void {
    this.#consecutiveFailures = 0;
    this.#consecutiveSuccesses = 0;
    this.#recent = [];
    this.#transition('closed', 'reset');
  }

  /**
   * Runs `fn` if the circuit allows it and records the outcome.
   *
   * @throws {CircuitOpenError} without calling `fn` when open (or half-open with all probe slots taken)
   */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    this.#calls++;
    this.#tick();
    let probe = false;
    if (this.#state === 'open') {
      this.#rejected++;
      throw this.#openError(this.#openedAt + this.#resetTimeoutMs - this.#clock.now());
    }
    if (this.#state === 'half_open') {
      if (this.#inFlightProbes >= this.#halfOpenMaxCalls) {
        this.#rejected++;
        throw this.#openError(0);
      }
      this.#inFlightProbes++;
      probe = true;
    }
    try {
      const value = await fn();
      this.#onSuccess();
      return value;
    } catch (error) {
      if (this.#isFailure(error)) this.#onFailure(error);
      throw error;
    } finally {
      if (probe) this.#inFlightProbes--;
    }
  }

  #tick(): void {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#resetTimeoutMs) {
      this.#consecutiveSuccesses = 0;
      this.#transition('half_open', `reset timeout of ${this.#resetTimeoutMs} ms elapsed`);
    }
  }

  #onSuccess(): void {
    this.#successes++;
    this.#consecutiveFailures = 0;
    if (this.#state === 'half_open') {
      this.#consecutiveSuccesses++;
      if (this.#consecutiveSuccesses >= this.#successThreshold) {
        this.#recent = [];
        this.#transition('closed', `${this.#consecutiveSuccesses} consecutive successes while half-open`);
      }
    } else if (this.#state === 'closed') {
      this.#recent = [];
    }
  }

  #onFailure(error: unknown): void {
    this.#failures++;
    this.#consecutiveFailures++;
    this.#consecutiveSuccesses = 0;
    this.#lastError = error;
    this.#recent.push(error);
    if (this.#recent.length > this.#maxRecentErrors) this.#recent.shift();
    if (this.#state === 'half_open') {
      this.#openedAt = this.#clock.now();
      this.#transition('open', 'a half-open probe failed');
    } else if (this.#state === 'closed' && this.#consecutiveFailures >= this.#failureThreshold) {
      this.#openedAt = this.#clock.now();
      this.#transition('open', `${this.#consecutiveFailures} consecutive failures`);
    }
  }

  #openError(retryAfterMs: number): CircuitOpenError {
    return new CircuitOpenError(Math.max(0, retryAfterMs), this.#consecutiveFailures, this.#lastError, [...this.#recent]);
  }

  #transition(to: CircuitState, reason: string): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    try {
      this.#onStateChange?.({ from, to, reason, lastError: this.#lastError });
    } catch {
      // A faulty observer must not break the breaker.
    }
  }
}
