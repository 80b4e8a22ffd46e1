import type { JsonObject } from '@buckley/events';

/**
 * The `TaskCoordinator` port: durable work dispatch with leases. A task is submitted with the
 * capabilities a worker must have; a worker claims it under a lease, extends the lease while
 * it works, then completes or fails it. A lease that runs out returns the task to the queue;
 * failures retry with backoff up to `maxAttempts`, then the task is parked until replayed.
 *
 * Every transition is an event on stream `task:<id>` of the event store, and the event store
 * is the truth: transitions are fenced by the stream's expected version, so across any number
 * of processes a task completes at most once, and a worker whose lease was lost gets
 * {@link TaskLeaseLostError} instead of a second completion.
 *
 * Adapters: `createInMemoryTaskCoordinator` here, `createPostgresTaskCoordinator` in
 * `@buckley/postgres`. Both pass `describeTaskCoordinatorConformance` from `@buckley/testing`.
 */

/** Where a task is in its life. */
export type TaskStatus = 'pending' | 'claimed' | 'completed' | 'parked';

/** The event types of the coordinator, in the order a task can see them. */
export const TASK_EVENT_TYPES = [
  'coordinator.task.submitted',
  'coordinator.task.claimed',
  'coordinator.task.completed',
  'coordinator.task.failed',
  'coordinator.task.parked',
] as const;

/** One of {@link TASK_EVENT_TYPES}. */
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** Why a task was parked. */
export type TaskParkReason = 'max_attempts' | 'non_retryable' | 'lease_expired';

/** The stream a task's events go to: `task:<id>`. */
export function taskStreamId(taskId: string): string {
  return `task:${taskId}`;
}

/** A failure as recorded on a task. */
export interface TaskError {
  readonly message: string;
  /** A stable code when the failure had one. */
  readonly code?: string;
}

/** What to submit. */
export interface SubmitTaskInput {
  /**
   * The task id; submitting an id that exists returns the existing task and writes nothing
   * (idempotent submit). Defaults to a new UUIDv7. At most 200 characters, no whitespace.
   */
  readonly id?: string;
  /** A free-form kind, e.g. `'index.repository'`; default `'task'`. */
  readonly type?: string;
  /** Capabilities a worker must all have to claim the task; default none. */
  readonly capabilities?: readonly string[];
  /** The work description, stored and handed to the worker as is. */
  readonly payload?: JsonObject;
  /** Claims allowed (per submission or replay) before the task is parked; default from the coordinator. */
  readonly maxAttempts?: number;
  /** Earliest time a worker may claim it, in Unix milliseconds; default now. */
  readonly availableAt?: number;
  readonly signal?: AbortSignal;
}

/** A task as the coordinator knows it. */
export interface Task {
  readonly id: string;
  readonly type: string;
  readonly status: TaskStatus;
  readonly capabilities: readonly string[];
  readonly payload: JsonObject;
  /** Claims so far over the task's whole life (replays do not reset it). */
  readonly attempt: number;
  /** Claims since the last submission or replay; parked once it reaches {@link maxAttempts}. */
  readonly attemptsInRound: number;
  readonly maxAttempts: number;
  /** The version of the task stream this view reflects. */
  readonly version: number;
  /** When a pending task may next be claimed, in Unix milliseconds. */
  readonly availableAt: number;
  /** The worker holding (or, once completed, that held) the lease. */
  readonly workerId: string | undefined;
  /** When the current lease runs out, in Unix milliseconds; set while claimed. */
  readonly leaseExpiresAt: number | undefined;
  /** The completion result, once completed. */
  readonly result: JsonObject | undefined;
  readonly lastError: TaskError | undefined;
  readonly parkReason: TaskParkReason | undefined;
}

/** A claim on a task: what a worker needs to work on it and to complete or fail it. */
export interface TaskLease {
  readonly taskId: string;
  readonly type: string;
  readonly payload: JsonObject;
  readonly capabilities: readonly string[];
  /** The attempt this lease belongs to (1 for the first claim). */
  readonly attempt: number;
  /** The opaque fencing token of this lease. */
  readonly token: string;
  readonly workerId: string;
  /** When the lease runs out unless extended, in Unix milliseconds. */
  readonly expiresAt: number;
  /** The version of the `claimed` event; the next transition must follow it directly. */
  readonly version: number;
}

/** Options of {@link TaskCoordinator.claim}. */
export interface ClaimTaskOptions {
  /** Identifies the worker in events and leases. */
  readonly workerId: string;
  /** What the worker can do; it only gets tasks whose capabilities are all in this list. */
  readonly capabilities?: readonly string[];
  /** Lease length in milliseconds; default from the coordinator. */
  readonly leaseMs?: number;
  readonly signal?: AbortSignal;
}

/** A finished lease to complete in {@link TaskCoordinator.completeAndClaim}. */
export interface TaskCompletion {
  readonly lease: TaskLease;
  /** The completion result; default `{}`. */
  readonly result?: JsonObject;
}

/** The outcome of one {@link TaskCompletion}, in the order they were given. */
export type TaskCompletionOutcome =
  | { readonly ok: true; readonly task: Task }
  /** The completion was not recorded: usually a `TaskLeaseLostError`, or an invalid result. */
  | { readonly ok: false; readonly error: unknown };

/** Input of {@link TaskCoordinator.completeAndClaim}. */
export interface CompleteAndClaimInput {
  /** Leases whose work is done, completed as {@link TaskCoordinator.complete} would. */
  readonly complete?: readonly TaskCompletion[];
  /** Claims up to `max` further tasks (`0` or absent: none) as {@link TaskCoordinator.claim} would. */
  readonly claim?: ClaimTaskOptions & { readonly max: number };
  readonly signal?: AbortSignal;
}

/** Result of {@link TaskCoordinator.completeAndClaim}. */
export interface CompleteAndClaimResult {
  /** One outcome per completion, in input order. */
  readonly completed: readonly TaskCompletionOutcome[];
  /** The new leases, oldest task first; fewer than `max` when no more were claimable. */
  readonly leases: readonly TaskLease[];
}

/** Options of {@link TaskCoordinator.fail}. */
export interface FailTaskOptions {
  /** `false` parks the task at once instead of retrying; default `true`. */
  readonly retryable?: boolean;
  readonly signal?: AbortSignal;
}

/** Options of {@link TaskCoordinator.list}. */
export interface ListTasksOptions {
  readonly status?: TaskStatus | readonly TaskStatus[];
  /** Most tasks to return, oldest submission first; default 1000. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

/** Options of {@link TaskCoordinator.waitForWork}. */
export interface WaitForWorkOptions {
  /** Longest wait in milliseconds; default the coordinator's `pollIntervalMs`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Retry policy: attempt `k` (1-based) that failed is retried after `min(baseMs * 2^(k-1), maxMs)` spread by +-`jitter`, never above `maxMs` (the backoff of @buckley/utils). */
export interface TaskRetryPolicy {
  /** Claims per submission or replay before parking; default 5. */
  readonly maxAttempts?: number;
  /** Default 1,000 ms. */
  readonly baseDelayMs?: number;
  /** Default 60,000 ms. */
  readonly maxDelayMs?: number;
  /** Relative jitter in [0, 1); default 0.2. */
  readonly jitter?: number;
}

/**
 * Work dispatch with leases over the event store.
 *
 * @example
 * ```ts
 * const task = await coordinator.submit({ capabilities: ['git'], payload: { repo: 'a' } });
 * const lease = await coordinator.claim({ workerId: 'w1', capabilities: ['git', 'shell'] });
 * if (lease) await coordinator.complete(lease, { ok: true });
 * ```
 */
export interface TaskCoordinator extends AsyncDisposable {
  /** Submits a task and appends `coordinator.task.submitted`. Idempotent on `id`. */
  submit(input: SubmitTaskInput): Promise<Task>;
  /**
   * Claims the next claimable task (pending and due, or claimed with an expired lease) whose
   * capabilities the worker has, oldest first, and appends `coordinator.task.claimed`.
   * Resolves `undefined` when there is none.
   */
  claim(options: ClaimTaskOptions): Promise<TaskLease | undefined>;
  /**
   * Completes finished leases and claims up to `claim.max` more tasks in one round: the
   * reservations are one table write, the `completed` and `claimed` events one atomic
   * multi-stream append, fenced per task stream by its expected version exactly as the single
   * calls are, so completion stays exactly once and a lost lease still gets
   * `TaskLeaseLostError` (as its outcome, not thrown). A completion whose lease has passed its
   * expiry, or whose stream moved on, is settled one by one as {@link complete} would.
   * Throws only what a single claim would (a closed coordinator, an unreachable store); the
   * reservations of a round that threw expire with their leases.
   */
  completeAndClaim(input: CompleteAndClaimInput): Promise<CompleteAndClaimResult>;
  /**
   * Pushes the lease's expiry to now + `leaseMs`.
   *
   * @throws {TaskLeaseLostError} when the lease expired or the task moved on
   */
  extend(lease: TaskLease, options?: { readonly leaseMs?: number; readonly signal?: AbortSignal }): Promise<TaskLease>;
  /**
   * Completes the task and appends `coordinator.task.completed`. Repeating a successful call
   * with the same lease returns the same task and writes nothing.
   *
   * @throws {TaskLeaseLostError} when the lease was lost (expired, or another worker claimed the task)
   */
  complete(lease: TaskLease, result?: JsonObject, options?: { readonly signal?: AbortSignal }): Promise<Task>;
  /**
   * Fails the attempt and appends `coordinator.task.failed`; the task becomes pending again
   * after the backoff, or is parked (`coordinator.task.parked`) when it is out of attempts or
   * the failure is not retryable.
   *
   * @throws {TaskLeaseLostError} when the lease was lost
   */
  fail(lease: TaskLease, error: TaskError | Error, options?: FailTaskOptions): Promise<Task>;
  /**
   * Makes a parked task pending again with a fresh attempt budget and appends a new
   * `coordinator.task.submitted` with `replay: true`.
   *
   * @throws {TaskNotFoundError} / {TaskStateError} when the task is unknown or not parked
   */
  replay(taskId: string, options?: { readonly signal?: AbortSignal }): Promise<Task>;
  /** The task, or `undefined` when unknown. */
  get(taskId: string, options?: { readonly signal?: AbortSignal }): Promise<Task | undefined>;
  list(options?: ListTasksOptions): Promise<Task[]>;
  /**
   * Resolves when new work may be available (a wake-up from a submit or retry, possibly in
   * another process), or after `timeoutMs`. Wake-ups are hints: always claim to find out.
   */
  waitForWork(options?: WaitForWorkOptions): Promise<void>;
  /** Releases what the coordinator opened (never a client or store the caller passed). Idempotent. */
  close(): Promise<void>;
}
