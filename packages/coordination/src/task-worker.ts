import type { JsonObject } from '@buckley/events';
import type { TaskCoordinator, TaskLease } from './task-coordinator.js';
import { deterministicEventId } from './task-core.js';
import { isTaskLeaseLostError } from './task-errors.js';

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
  /** Lease length in milliseconds; default the coordinator's. */
  readonly leaseMs?: number;
  /** How often a running task's lease is extended, in milliseconds; default a third of `leaseMs` (or 10,000). */
  readonly extendEveryMs?: number;
  /** Stops the worker: no new claims; running handlers see their signal aborted. */
  readonly signal?: AbortSignal;
  /** Errors that do not stop the worker: lost leases, store hiccups, handler failures it could not record. */
  readonly onError?: (error: unknown, lease?: TaskLease) => void;
}

/** A running worker. */
export interface TaskWorker extends AsyncDisposable {
  /** Tasks this worker completed. */
  readonly completed: number;
  /** Attempts this worker failed (handler threw). */
  readonly failed: number;
  /** Stops claiming, aborts running handlers and resolves when every loop has ended. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
}

/**
 * Claims and runs tasks in a loop until stopped: claim, run `handler` while extending the
 * lease, then complete or fail. When there is nothing to claim it waits for a wake-up (or the
 * coordinator's poll interval).
 *
 * @example
 * ```ts
 * const worker = runTaskWorker(coordinator, { workerId: 'w1', handler: async (lease) => ({ done: lease.taskId }) });
 * await worker.stop();
 * ```
 */
export function runTaskWorker(coordinator: TaskCoordinator, options: TaskWorkerOptions): TaskWorker {
  const stopper = new AbortController();
  const stopSignal = options.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal;
  const onError = options.onError ?? (() => {});
  const counts = { completed: 0, failed: 0 };

  const runOne = async (lease: TaskLease): Promise<void> => {
    const lost = new AbortController();
    const signal = AbortSignal.any([lost.signal, stopSignal]);
    const every = options.extendEveryMs ?? Math.max(1, Math.floor((options.leaseMs ?? 30_000) / 3));
    let current = lease;
    let finished = false;
    const timer = setInterval(() => {
      coordinator.extend(current, { leaseMs: options.leaseMs }).then(
        (next) => {
          current = next;
        },
        (error: unknown) => {
          // An extension racing with our own completion is expected to find the lease gone.
          if (finished) return;
          onError(error, current);
          if (isTaskLeaseLostError(error)) lost.abort(error);
        },
      );
    }, every);
    try {
      let result: JsonObject | void;
      try {
        result = await options.handler(lease, {
          signal,
          attempt: lease.attempt,
          key: `task:${lease.taskId}`,
          expectedVersion: lease.version,
          eventId: (name) => deterministicEventId('task-handler', lease.taskId, name),
        });
      } catch (error) {
        if (lost.signal.aborted) return;
        counts.failed++;
        const retryable = (error as { retryable?: unknown }).retryable !== false;
        await coordinator.fail(current, error instanceof Error ? error : { message: String(error) }, { retryable });
        return;
      }
      if (lost.signal.aborted) return;
      await coordinator.complete(current, result ?? {});
      counts.completed++;
    } catch (error) {
      onError(error, current);
    } finally {
      finished = true;
      clearInterval(timer);
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopSignal.aborted) {
      let lease: TaskLease | undefined;
      try {
        lease = await coordinator.claim({ workerId: options.workerId, capabilities: options.capabilities, leaseMs: options.leaseMs });
      } catch (error) {
        if (stopSignal.aborted) return;
        onError(error);
      }
      if (lease) {
        await runOne(lease);
        continue;
      }
      try {
        await coordinator.waitForWork({ signal: stopSignal });
      } catch (error) {
        if (stopSignal.aborted) return;
        onError(error);
      }
    }
  };

  const concurrency = options.concurrency ?? 1;
  const done = Promise.all(Array.from({ length: concurrency }, () => loop())).then(() => undefined);
  return {
    get completed() {
      return counts.completed;
    },
    get failed() {
      return counts.failed;
    },
    done,
    async stop() {
      stopper.abort();
      await done;
    },
    async [Symbol.asyncDispose]() {
      stopper.abort();
      await done;
    },
  };
}
