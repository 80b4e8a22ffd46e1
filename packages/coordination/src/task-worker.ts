import { deterministicUuid, isClosedError } from '@buckley/utils';
import type { JsonObject } from '@buckley/events';
import type { TaskCoordinator, TaskLease } from './task-coordinator.js';
import { InvalidTaskError, isTaskLeaseLostError } from './task-errors.js';

/**
 * What a task handler gets besides the lease: what it needs to make its side effects
 * idempotent. Completion is exactly once, but a handler runs at least once: when a worker dies
 * (or loses its lease) mid-handler, the next lease runs the handler again, and whatever the
 * first run did outside the coordinator (an append, a call, a file) has happened already.
 */
export interface TaskWorkContext {
  /** Aborted when the lease is lost (an extension failed) or the worker stops. */
  readonly signal: AbortSignal;
  /** This run's attempt, 1 for the first claim; above 1, an earlier run may have had effects. */
  readonly attempt: number;
  /** Stable for the task on every attempt and worker (`task:<taskId>`): an idempotency key for external calls. */
  readonly key: string;
  /**
   * The version of the task's own stream this attempt holds (the lease's `claimed` event); the
   * coordinator's next transition appends with it as the expected version.
   */
  readonly expectedVersion: number;
  /**
   * An event id that is the same for `(task, name)` on every attempt, so an event the handler
   * appends with it is written once however often the handler runs (the store's append is
   * idempotent by id).
   */
  eventId(name: string): string;
}

/**
 * Does one task. Resolve with the result to complete it; throw to fail the attempt. An error
 * with `retryable: false` parks the task at once. Runs at least once per task: see
 * {@link TaskWorkContext}.
 */
export type TaskHandler = (lease: TaskLease, context: TaskWorkContext) => Promise<JsonObject | void> | JsonObject | void;

/** Options of {@link runTaskWorker}. */
export interface TaskWorkerOptions {
  readonly workerId: string;
  readonly capabilities?: readonly string[];
  readonly handler: TaskHandler;
  /** Tasks worked on at once; default 1. */
  readonly concurrency?: number;
  /**
   * Leases claimed ahead of free handlers, so a handler that finishes starts its next task at
   * once while the completion is recorded; default 0. A prefetched lease is held (and
   * extended) like a running one: if the worker dies, its task is claimed again when the
   * lease runs out; if the worker stops, it is failed as retryable (`WORKER_STOPPED`).
   */
  readonly prefetch?: number;
  /** Lease length in milliseconds; default the coordinator's. */
  readonly leaseMs?: number;
  /** How often a held lease is extended, in milliseconds; default a third of `leaseMs` (or 10,000). */
  readonly extendEveryMs?: number;
  /** Stops the worker: no new claims; running handlers see their signal aborted. */
  readonly signal?: AbortSignal;
  /**
   * Errors that do not stop the worker: lost leases, store hiccups, handler failures it could not
   * record. A `ClosedError` from the coordinator (it, or the store under it, was closed) cannot go
   * away by retrying: the worker reports the first one here and stops, as if closed.
   */
  readonly onError?: (error: unknown, lease?: TaskLease) => void;
}

/** A running worker. */
export interface TaskWorker extends AsyncDisposable {
  /** Tasks this worker completed. */
  readonly completed: number;
  /** Attempts this worker failed (handler threw). */
  readonly failed: number;
  /** Stops claiming, aborts running handlers and resolves when every loop has ended. Idempotent. */
  close(): Promise<void>;
  /**
   * Resolves when the worker has stopped: after `close()` or `signal`, or by itself when its
   * coordinator was closed (a `ClosedError`, reported once to `onError`).
   */
  readonly done: Promise<void>;
}

/** A lease the worker holds, from its claim until its completion or failure is recorded. */
interface HeldLease {
  current: TaskLease;
  readonly lost: AbortController;
  settled: boolean;
  timer: ReturnType<typeof setInterval> | undefined;
}

/** Rounds a finished task's completion is retried in before it is left to its lease expiry. */
const COMPLETION_TRIES = 3;
/** Pause after a round or wait that failed, so a broken store is not hammered. */
const ERROR_PAUSE_MS = 100;

/**
 * Claims and runs tasks until stopped. One dispatcher per worker talks to the coordinator in
 * rounds ({@link TaskCoordinator.completeAndClaim}): each round records every completion that
 * finished since the last one and claims as many tasks as there are free handlers (plus
 * `prefetch`), so a busy worker spends one round trip sequence per batch instead of per task.
 * Each lease is extended from its claim until it is settled. When a claim comes back short,
 * the worker waits for a wake-up (a submit or retry anywhere, through the coordinator's
 * wake-up) or the coordinator's poll interval before it claims again.
 *
 * @example
 * ```ts
 * const worker = runTaskWorker(coordinator, { workerId: 'w1', handler: async (lease) => ({ done: lease.taskId }) });
 * await worker.close();
 * ```
 */
export function runTaskWorker(coordinator: TaskCoordinator, options: TaskWorkerOptions): TaskWorker {
  const concurrency = options.concurrency ?? 1;
  const prefetch = options.prefetch ?? 0;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidTaskError(`concurrency must be an integer >= 1, got ${JSON.stringify(concurrency)}`);
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new InvalidTaskError(`prefetch must be an integer >= 0, got ${JSON.stringify(prefetch)}`);
  const stopper = new AbortController();
  const stopSignal = options.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal;
  const onError = options.onError ?? (() => {});
  const counts = { completed: 0, failed: 0 };
  // The coordinator's ClosedError once one was seen: the worker stops, and calls nothing more.
  let closedBy: unknown;
  /** True for a ClosedError, which stops the worker (reported the first time only). */
  const stopOnClosed = (error: unknown): boolean => {
    if (!isClosedError(error)) return false;
    if (closedBy === undefined) {
      closedBy = error;
      onError(error);
      stopper.abort();
    }
    return true;
  };
  const every = options.extendEveryMs ?? Math.max(1, Math.floor((options.leaseMs ?? 30_000) / 3));

  const hold = (lease: TaskLease): HeldLease => {
    const held: HeldLease = { current: lease, lost: new AbortController(), settled: false, timer: undefined };
    held.timer = setInterval(() => {
      coordinator.extend(held.current, { leaseMs: options.leaseMs }).then(
        (next) => {
          if (!held.settled) held.current = next;
        },
        (error: unknown) => {
          // An extension racing with the lease's own settlement is expected to find it gone.
          if (held.settled || stopOnClosed(error)) return;
          onError(error, held.current);
          if (isTaskLeaseLostError(error)) held.lost.abort(error);
        },
      );
    }, every);
    return held;
  };
  const settle = (held: HeldLease) => {
    held.settled = true;
    clearInterval(held.timer);
  };

  const ready: HeldLease[] = [];
  const idleSlots: Array<(held: HeldLease | undefined) => void> = [];
  const finished: Array<{ held: HeldLease; result: JsonObject; tries: number }> = [];
  let running = 0;
  let kick: (() => void) | undefined;
  const poke = () => {
    const k = kick;
    kick = undefined;
    k?.();
  };
  const onStop = () => {
    for (const slot of idleSlots.splice(0)) slot(undefined);
    poke();
  };
  stopSignal.addEventListener('abort', onStop, { once: true });
  const pause = () => new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));

  const nextLease = (): Promise<HeldLease | undefined> => {
    if (stopSignal.aborted) return Promise.resolve(undefined);
    const held = ready.shift();
    if (held) {
      poke();
      return Promise.resolve(held);
    }
    return new Promise((resolve) => idleSlots.push(resolve));
  };
  const offer = (held: HeldLease) => {
    const slot = idleSlots.shift();
    if (slot) slot(held);
    else ready.push(held);
  };

  const runOne = async (held: HeldLease): Promise<void> => {
    const lease = held.current;
    if (held.lost.signal.aborted) return settle(held);
    const signal = AbortSignal.any([held.lost.signal, stopSignal]);
    let result: JsonObject | void;
    try {
      result = await options.handler(lease, {
        signal,
        attempt: lease.attempt,
        key: `task:${lease.taskId}`,
        expectedVersion: lease.version,
        eventId: (name) => deterministicUuid('task-handler', lease.taskId, name),
      });
    } catch (error) {
      if (held.lost.signal.aborted) return settle(held);
      counts.failed++;
      const retryable = (error as { retryable?: unknown }).retryable !== false;
      try {
        await coordinator.fail(held.current, error instanceof Error ? error : { message: String(error) }, { retryable });
      } catch (failError) {
        if (!stopOnClosed(failError)) onError(failError, held.current);
      } finally {
        settle(held);
      }
      return;
    }
    if (held.lost.signal.aborted) return settle(held);
    finished.push({ held, result: result ?? {}, tries: 0 });
  };

  const slot = async (): Promise<void> => {
    for (;;) {
      const held = await nextLease();
      if (!held) return;
      running++;
      try {
        await runOne(held);
      } finally {
        running--;
        poke();
      }
    }
  };

  /** Records completions (and claims up to `max`); completions that could not be sent stay queued. */
  const round = async (max: number): Promise<number> => {
    const batch = finished.splice(0);
    let result;
    try {
      result = await coordinator.completeAndClaim({
        complete: batch.map(({ held, result: r }) => ({ lease: held.current, result: r })),
        claim: max > 0 ? { workerId: options.workerId, capabilities: options.capabilities, leaseMs: options.leaseMs, max } : undefined,
      });
    } catch (error) {
      for (const item of batch) {
        if (++item.tries < COMPLETION_TRIES) finished.push(item);
        else settle(item.held);
      }
      throw error;
    }
    result.completed.forEach((outcome, i) => {
      const { held } = batch[i]!;
      settle(held);
      if (outcome.ok) counts.completed++;
      else onError(outcome.error, held.current);
    });
    for (const lease of result.leases) {
      const held = hold(lease);
      if (stopSignal.aborted) ready.push(held);
      else offer(held);
    }
    return result.leases.length;
  };

  /** Waits for a finished task, or (when `listen`) a wake-up or the poll interval; true when it was the latter. */
  const wait = async (listen: boolean): Promise<boolean> => {
    const kicked = new Promise<boolean>((resolve) => {
      kick = () => resolve(false);
    });
    if (!listen) return kicked;
    const cancel = new AbortController();
    const work = coordinator.waitForWork({ signal: AbortSignal.any([stopSignal, cancel.signal]) }).then(
      () => true,
      async (error: unknown) => {
        if (stopOnClosed(error)) return true;
        if (!stopSignal.aborted) onError(error);
        await pause();
        return true;
      },
    );
    const woken = await Promise.race([kicked, work]);
    cancel.abort();
    kick = undefined;
    return woken;
  };

  const dispatch = async (): Promise<void> => {
    let idle = false;
    while (!stopSignal.aborted) {
      const want = Math.max(0, concurrency + prefetch - running - ready.length);
      const claiming = want > 0 && !idle;
      if (finished.length === 0 && !claiming) {
        if (await wait(idle)) idle = false;
        continue;
      }
      try {
        const got = await round(claiming ? want : 0);
        if (claiming) idle = got < want;
      } catch (error) {
        if (stopOnClosed(error) || stopSignal.aborted) return;
        onError(error);
        idle = true;
        await pause();
      }
    }
  };

  const slots = Array.from({ length: concurrency }, () => slot());
  const dispatching = dispatch();
  const done = (async () => {
    await Promise.all(slots);
    await dispatching;
    stopSignal.removeEventListener('abort', onStop);
    while (finished.length > 0 && closedBy === undefined) {
      await round(0).catch((error: unknown) => {
        if (!stopOnClosed(error)) onError(error);
      });
    }
    // A closed coordinator records nothing more: what is left is settled here, and its leases run out.
    for (const { held } of finished.splice(0)) settle(held);
    for (const held of ready.splice(0)) {
      settle(held);
      if (closedBy !== undefined) continue;
      try {
        await coordinator.fail(held.current, { message: 'worker stopped before the task started', code: 'WORKER_STOPPED' });
      } catch (error) {
        if (!stopOnClosed(error)) onError(error, held.current);
      }
    }
  })();
  const close = async (): Promise<void> => {
    stopper.abort();
    await done;
  };
  return {
    get completed() {
      return counts.completed;
    },
    get failed() {
      return counts.failed;
    },
    done,
    close,
    [Symbol.asyncDispose]: close,
  };
}
