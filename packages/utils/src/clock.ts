/** Cancels a timer started by {@link Clock.setTimeout}; calling it twice is harmless. */
export type CancelTimer = () => void;

/**
 * The source of time. Code that waits or stamps times takes a `Clock` so tests can drive time
 * with {@link ManualClock} instead of sleeping.
 */
export interface Clock {
  /** Current time in Unix milliseconds. */
  now(): number;
  /** Runs `callback` once after `ms` milliseconds; returns a function that cancels it. */
  setTimeout(callback: () => void, ms: number): CancelTimer;
}

/** The real clock: `Date.now()` and the host's timers. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, Math.max(0, ms));
    handle.unref?.();
    return () => clearTimeout(handle);
  },
};

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock for tests: time stands still until {@link ManualClock.advance} moves it, which fires
 * the timers that fall due in order of due time (ties in the order they were set).
 *
 * @example
 * ```ts
 * const clock = new ManualClock(0);
 * const slept = sleep(1_000, { clock });
 * await clock.advance(1_000); // `slept` resolves
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  /** @param start initial time in Unix milliseconds */
  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): CancelTimer {
    const timer: ManualTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /**
   * Moves time forward by `ms`, firing each timer that falls due at its own time and letting
   * promise callbacks run after each, so timers set by those callbacks also fire if due.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const next = this.#timers.filter((t) => t.due <= target).toSorted((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.due);
      next.callback();
    }
    this.#now = target;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  // A macrotask boundary runs every queued promise job, however deep the chain.
  await new Promise<void>((resolve) => setImmediate(resolve));
}
