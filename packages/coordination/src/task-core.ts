import { type Clock, ClosedError, systemClock, throwIfAborted, uuidv7, backoffDelay, deterministicUuid } from '@buckley/utils';
import { isWrongExpectedVersionError } from '@buckley/events';
import type { EventStore, JsonObject, NewEvent, StoredEvent, StreamAppend } from '@buckley/events';
import {
  type ClaimTaskOptions,
  type CompleteAndClaimInput,
  type CompleteAndClaimResult,
  type FailTaskOptions,
  type ListTasksOptions,
  type SubmitTaskInput,
  type Task,
  type TaskCompletionOutcome,
  type TaskCoordinator,
  type TaskError,
  type TaskLease,
  type TaskParkReason,
  type TaskRetryPolicy,
  type TaskStatus,
  type WaitForWorkOptions,
  taskStreamId,
} from './task-coordinator.js';
import { InvalidTaskError, TaskLeaseLostError, TaskNotFoundError, TaskStateError } from './task-errors.js';
import { jsonProblem } from '@buckley/events/adapter';

/**
 * A task as a {@link TaskTable} stores it: the public view plus the current lease's fencing
 * token and the attempt count at the last (re)submission.
 */
export interface TaskRecord extends Omit<Task, 'attemptsInRound'> {
  readonly leaseToken: string | undefined;
  /** `attempt` when the task was last submitted or replayed. */
  readonly attemptBase: number;
  /** Unix milliseconds of the first submission. */
  readonly submittedAt: number;
}

/** What {@link TaskTable.reserve} looks for. */
export interface ReserveQuery {
  /** The worker's capabilities: a record matches when all of its capabilities are in here. */
  readonly capabilities: readonly string[];
  /** Unix milliseconds: pending records due at or before it, claimed ones whose lease ran out at or before it. */
  readonly now: number;
}

/** The lease a {@link TaskTable.reserve} writes. */
export interface ReserveClaim {
  readonly workerId: string;
  readonly token: string;
  /** Unix milliseconds. */
  readonly leaseExpiresAt: number;
}

/** What a new task's row is made of; {@link pendingTaskRecord} fills in the rest. */
export type PendingTaskFields = Pick<TaskRecord, 'id' | 'type' | 'capabilities' | 'payload' | 'maxAttempts' | 'availableAt' | 'submittedAt'>;

/**
 * The row of a task just submitted: pending, never attempted, at version 0 (no event appended
 * yet), with no lease, result or error. `submit` inserts this; adapters and their tests build
 * rows with it rather than spelling out every field.
 */
export function pendingTaskRecord(fields: PendingTaskFields): TaskRecord {
  return {
    ...fields,
    status: 'pending',
    attempt: 0,
    attemptBase: 0,
    version: 0,
    workerId: undefined,
    leaseToken: undefined,
    leaseExpiresAt: undefined,
    result: undefined,
    lastError: undefined,
    parkReason: undefined,
  };
}

/** The record a reservation leaves: claimed for `claim`, one attempt more, version unchanged (the stream has not moved yet). */
export function reservedRecord(record: TaskRecord, claim: ReserveClaim): TaskRecord {
  return {
    ...record,
    status: 'claimed',
    attempt: record.attempt + 1,
    workerId: claim.workerId,
    leaseToken: claim.token,
    leaseExpiresAt: claim.leaseExpiresAt,
  };
}

/** One conditional replacement of {@link TaskTable.advanceMany}. */
export interface TaskAdvance {
  readonly id: string;
  readonly fromVersion: number;
  readonly record: TaskRecord;
}

/**
 * The dispatch index behind the core coordinator: one row per task, used to find claimable
 * tasks without contention and to hold lease expiries. It is a projection of the task
 * streams, never the truth: the core only moves a row forward to match its stream, and fences
 * every transition with the stream's expected version. Implementations: an in-memory map,
 * and a Postgres table claimed with `FOR UPDATE SKIP LOCKED` (`@buckley/postgres`).
 */
export interface TaskTable {
  /** Inserts `record` unless a record with its id exists; returns the stored one. */
  insert(record: TaskRecord, signal?: AbortSignal): Promise<TaskRecord>;
  /** Removes a record that never got its first event (`version` 0). */
  discard(id: string, signal?: AbortSignal): Promise<void>;
  get(id: string, signal?: AbortSignal): Promise<TaskRecord | undefined>;
  list(options: { readonly statuses: readonly TaskStatus[] | undefined; readonly limit: number }, signal?: AbortSignal): Promise<TaskRecord[]>;
  /**
   * Atomically picks the oldest claimable record matching `query` that no concurrent caller
   * holds (skipping, never waiting for, records others are deciding on; pending work before
   * expired leases) and reserves it for `claim` as {@link reservedRecord} describes. Resolves
   * `undefined` when none is claimable.
   */
  reserve(query: ReserveQuery, claim: ReserveClaim, signal?: AbortSignal): Promise<{ before: TaskRecord; after: TaskRecord } | undefined>;
  /**
   * {@link reserve} for up to `claims.length` records in one atomic write: each reserved record
   * gets a different one of `claims` (its token tells which). Resolves the reservations oldest
   * first (pending work before expired leases); fewer than `claims.length` when fewer are claimable.
   */
  reserveMany(query: ReserveQuery, claims: readonly ReserveClaim[], signal?: AbortSignal): Promise<Array<{ before: TaskRecord; after: TaskRecord }>>;
  /**
   * {@link advance} for several records in one write: each is replaced if its version is still
   * its `fromVersion`. Resolves the ids that were replaced.
   */
  advanceMany(items: readonly TaskAdvance[], signal?: AbortSignal): Promise<Set<string>>;
  /**
   * Replaces the record with `record` if its version is still `fromVersion` (one conditional
   * write, no lock); resolves whether it did.
   */
  advance(id: string, fromVersion: number, record: TaskRecord, signal?: AbortSignal): Promise<boolean>;
  /**
   * Replaces the record under a row lock with `change(record)`; `undefined` leaves it as it
   * is. Resolves the record after the call, `undefined` when there is none, and whether it changed.
   */
  update(
    id: string,
    change: (record: TaskRecord) => TaskRecord | undefined,
    signal?: AbortSignal,
  ): Promise<{ record: TaskRecord; changed: boolean } | undefined>;
  close(): Promise<void>;
}

/**
 * Wakes idle workers when work may have become available. A hint, never the truth: workers
 * still claim through the table and poll as a fallback, so a lost wake-up only delays work.
 */
export interface TaskWakeup {
  /** Tells every listener, in this and (for a bus) other processes, to look for work. */
  notify(): void;
  /** Calls `listener` on every wake-up until the returned function is called. */
  listen(listener: () => void): Promise<() => Promise<void>>;
}

/** An in-process {@link TaskWakeup}: listeners are called synchronously on notify. */
export function createLocalTaskWakeup(): TaskWakeup {
  const listeners = new Set<() => void>();
  return {
    notify() {
      for (const listener of listeners) listener();
    },
    async listen(listener) {
      const own = () => listener();
      listeners.add(own);
      return async () => {
        listeners.delete(own);
      };
    },
  };
}

/** Options of {@link createTaskCoordinatorCore}. */
export interface TaskCoordinatorCoreOptions {
  /** Where transitions are recorded; the truth. Not closed by the coordinator. */
  readonly store: EventStore;
  readonly table: TaskTable;
  /** Closes `table` on close; default true. */
  readonly ownsTable?: boolean;
  /** Cross-process wake-ups (e.g. over a bus); local waiters are always woken directly. */
  readonly wakeup?: TaskWakeup;
  readonly clock?: Clock;
  /** Default lease length in milliseconds; default 30,000. */
  readonly leaseMs?: number;
  readonly retry?: TaskRetryPolicy;
  /** Longest idle wait of {@link TaskCoordinator.waitForWork} in milliseconds; default 1,000. */
  readonly pollIntervalMs?: number;
  /** Source of jitter in [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

const MAX_ID_LENGTH = 200;
const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_LIST_LIMIT = 1000;
/** Bounds how often one claim call re-reads after losing a race before giving up for this call. */
const MAX_CLAIM_ROUNDS = 8;
/** Most lease records a coordinator keeps for the batched completions of {@link TaskCoordinator.completeAndClaim}. */
const MAX_HELD_LEASES = 10_000;

/** The public view of a record. */
function toTask(record: TaskRecord): Task {
  return {
    id: record.id,
    type: record.type,
    status: record.status,
    capabilities: record.capabilities,
    payload: record.payload,
    attempt: record.attempt,
    attemptsInRound: record.attempt - record.attemptBase,
    maxAttempts: record.maxAttempts,
    version: record.version,
    availableAt: record.availableAt,
    workerId: record.workerId,
    leaseExpiresAt: record.status === 'claimed' ? record.leaseExpiresAt : undefined,
    result: record.result,
    lastError: record.lastError,
    parkReason: record.parkReason,
  };
}

const ms = (iso: string | number | undefined | null): number | undefined =>
  iso === undefined || iso === null ? undefined : typeof iso === 'number' ? iso : Date.parse(iso);

/**
 * Folds task events onto a record. Events at or below `record.version` are ignored, so a fold
 * only moves a record forward. A `claimed` event for the record's own lease keeps a later
 * expiry the table already holds (extensions live in the table only).
 */
function applyTaskEvents(record: TaskRecord, events: readonly StoredEvent[]): TaskRecord {
  let r = record;
  for (const event of events) {
    if (event.version <= r.version) continue;
    const d = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'coordinator.task.submitted':
        r = {
          ...r,
          type: typeof d.type === 'string' ? d.type : r.type,
          capabilities: Array.isArray(d.capabilities) ? (d.capabilities as string[]) : r.capabilities,
          payload: (d.payload as JsonObject | undefined) ?? r.payload,
          maxAttempts: typeof d.maxAttempts === 'number' ? d.maxAttempts : r.maxAttempts,
          attemptBase: typeof d.attemptBase === 'number' ? d.attemptBase : r.attemptBase,
          attempt: Math.max(r.attempt, typeof d.attemptBase === 'number' ? d.attemptBase : 0),
          status: 'pending',
          availableAt: ms(d.availableAt as string | undefined) ?? ms(event.occurredAt)!,
          leaseToken: undefined,
          leaseExpiresAt: undefined,
          parkReason: undefined,
        };
        break;
      case 'coordinator.task.claimed': {
        const token = d.leaseToken as string;
        const expires = ms(d.leaseExpiresAt as string)!;
        r = {
          ...r,
          status: 'claimed',
          attempt: d.attempt as number,
          workerId: d.workerId as string,
          leaseToken: token,
          leaseExpiresAt: r.leaseToken === token && r.leaseExpiresAt !== undefined ? Math.max(r.leaseExpiresAt, expires) : expires,
        };
        break;
      }
      case 'coordinator.task.completed':
        r = { ...r, status: 'completed', result: (d.result as JsonObject | undefined) ?? {}, leaseToken: d.leaseToken as string };
        break;
      case 'coordinator.task.failed': {
        const retryAt = ms(d.retryAt as string | null | undefined);
        r = { ...r, lastError: d.error as unknown as TaskError };
        if (retryAt !== undefined) r = { ...r, status: 'pending', availableAt: retryAt, leaseToken: undefined, leaseExpiresAt: undefined };
        break;
      }
      case 'coordinator.task.parked':
        r = { ...r, status: 'parked', parkReason: d.reason as TaskParkReason, leaseToken: undefined, leaseExpiresAt: undefined };
        break;
      default:
        break;
    }
    r = { ...r, version: event.version };
  }
  return r;
}

/** The wait before the retry that follows failed attempt `failedAttempt` (1-based): the one backoff formula of @buckley/utils. */
function backoffMs(policy: Required<TaskRetryPolicy>, failedAttempt: number, random: () => number): number {
  return Math.round(
    backoffDelay(Math.max(1, failedAttempt), { baseDelayMs: policy.baseDelayMs, maxDelayMs: policy.maxDelayMs, jitter: policy.jitter }, random()),
  );
}

function checkPositiveInt(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new InvalidTaskError(`${name} must be an integer >= 1, got ${JSON.stringify(value)}`);
  }
}

function checkId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH || /\s/.test(value)) {
    throw new InvalidTaskError(`${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters without whitespace, got ${JSON.stringify(value)}`);
  }
}

function normalizeCapabilities(name: string, value: readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidTaskError(`${name} must be an array of strings, got ${JSON.stringify(value)}`);
  for (const c of value) {
    if (typeof c !== 'string' || c.length === 0) throw new InvalidTaskError(`${name} must hold non-empty strings, got ${JSON.stringify(c)}`);
  }
  return [...new Set(value)].toSorted();
}

function errorOf(error: TaskError | Error): TaskError {
  const code = (error as { code?: unknown }).code;
  const message = typeof error.message === 'string' ? error.message : String(error);
  return typeof code === 'string' ? { message, code } : { message };
}

const iso = (t: number) => new Date(t).toISOString();

/** A reserved record and the events that claim it. */
interface ClaimPlan {
  readonly before: TaskRecord;
  readonly after: TaskRecord;
  readonly events: NewEvent[];
  /** False when the expired lease used the last attempt: the events park the task. */
  readonly claiming: boolean;
  readonly token: string;
  readonly workerId: string;
  readonly attempt: number;
  readonly expiresAt: number;
}

/**
 * The one implementation of the coordinator's rules, shared by every adapter; adapters only
 * supply the {@link TaskTable}. Every transition appends to the task's stream with the
 * expected version of the state it was decided on, so two processes racing on one task
 * cannot both win, whatever the table says.
 */
export function createTaskCoordinatorCore(options: TaskCoordinatorCoreOptions): TaskCoordinator {
  return new CoreTaskCoordinator(options);
}

class CoreTaskCoordinator implements TaskCoordinator {
  readonly #store: EventStore;
  readonly #table: TaskTable;
  readonly #ownsTable: boolean;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #retry: Required<TaskRetryPolicy>;
  readonly #pollMs: number;
  readonly #random: () => number;
  readonly #remote: TaskWakeup | undefined;
  readonly #waiters = new Set<() => void>();
  /**
   * The record as this coordinator last wrote it for each lease it handed out and still
   * holds, by token: what a batched completion writes from without reading the row first.
   */
  readonly #held = new Map<string, TaskRecord>();
  #unlisten: Promise<() => Promise<void>> | undefined;
  #closed = false;

  constructor(options: TaskCoordinatorCoreOptions) {
    this.#store = options.store;
    this.#table = options.table;
    this.#ownsTable = options.ownsTable ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    checkPositiveInt('leaseMs', this.#leaseMs);
    const retry = options.retry ?? {};
    this.#retry = {
      maxAttempts: retry.maxAttempts ?? 5,
      baseDelayMs: retry.baseDelayMs ?? 1_000,
      maxDelayMs: retry.maxDelayMs ?? 60_000,
      jitter: retry.jitter ?? 0.2,
    };
    checkPositiveInt('retry.maxAttempts', this.#retry.maxAttempts);
    if (!(this.#retry.jitter >= 0 && this.#retry.jitter < 1)) {
      throw new InvalidTaskError(`retry.jitter must be in [0, 1), got ${JSON.stringify(this.#retry.jitter)}`);
    }
    this.#pollMs = options.pollIntervalMs ?? 1_000;
    this.#random = options.random ?? Math.random;
    this.#remote = options.wakeup;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('task coordinator');
  }

  #eventId(taskId: string, kind: string, attempt: number): string {
    return deterministicUuid('buckley.coordinator.task', this.#store.partition, taskId, kind, attempt);
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#remote?.notify();
  }

  async submit(input: SubmitTaskInput): Promise<Task> {
    this.#assertOpen();
    throwIfAborted(input.signal);
    const id = input.id ?? uuidv7();
    checkId('id', id);
    const type = input.type ?? 'task';
    if (typeof type !== 'string' || type.length === 0) throw new InvalidTaskError(`type must be a non-empty string, got ${JSON.stringify(type)}`);
    const capabilities = normalizeCapabilities('capabilities', input.capabilities);
    const payload = input.payload ?? {};
    const problem = jsonProblem(payload, 'payload', true);
    if (problem !== undefined) throw new InvalidTaskError(problem);
    checkPositiveInt('maxAttempts', input.maxAttempts);
    const now = this.#clock.now();
    if (input.availableAt !== undefined && !Number.isFinite(input.availableAt)) {
      throw new InvalidTaskError(`availableAt must be finite Unix milliseconds, got ${JSON.stringify(input.availableAt)}`);
    }
    const record = pendingTaskRecord({
      id,
      type,
      capabilities,
      payload,
      maxAttempts: input.maxAttempts ?? this.#retry.maxAttempts,
      availableAt: input.availableAt ?? now,
      submittedAt: now,
    });
    // The row first, the event second: a crash in between leaves a version-0 row that the
    // next claim completes with the missing `submitted` event, so no accepted task is lost.
    const stored = await this.#table.insert(record, input.signal);
    if (stored.version > 0) return toTask(stored);
    let appended: StoredEvent[];
    try {
      appended = await this.#store.append(taskStreamId(id), [this.#submittedEvent(stored)], { expectedVersion: 0, signal: input.signal });
    } catch (error) {
      if (isWrongExpectedVersionError(error)) return toTask(await this.#resync(id, input.signal));
      if ((error as { code?: unknown }).code === 'INVALID_EVENT') await this.#table.discard(id);
      throw error;
    }
    const synced = await this.#sync(id, stored.version, appended, input.signal, stored);
    this.#wake();
    return toTask(synced);
  }

  #submittedEvent(record: TaskRecord, replay = false): NewEvent {
    const data: Record<string, JsonObject[string]> = {
      taskId: record.id,
      type: record.type,
      capabilities: [...record.capabilities],
      payload: record.payload,
      maxAttempts: record.maxAttempts,
      attemptBase: record.attemptBase,
      availableAt: iso(record.availableAt),
    };
    if (replay) data.replay = true;
    return {
      id: this.#eventId(record.id, 'submitted', record.attemptBase),
      type: 'coordinator.task.submitted',
      data,
      metadata: { taskId: record.id },
    };
  }

  async claim(options: ClaimTaskOptions): Promise<TaskLease | undefined> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    checkId('workerId', options.workerId);
    const capabilities = normalizeCapabilities('capabilities', options.capabilities);
    const leaseMs = options.leaseMs ?? this.#leaseMs;
    checkPositiveInt('leaseMs', leaseMs);
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const now = this.#clock.now();
      const token = uuidv7();
      const reserved = await this.#table.reserve({ capabilities, now }, { workerId: options.workerId, token, leaseExpiresAt: now + leaseMs }, options.signal);
      if (!reserved) return undefined;
      const plan = this.#claimPlan(reserved.before, reserved.after, options.workerId, now, leaseMs);
      let appended: StoredEvent[];
      try {
        appended = await this.#store.append(taskStreamId(plan.before.id), plan.events, { expectedVersion: plan.before.version, signal: options.signal });
      } catch (error) {
        if (!isWrongExpectedVersionError(error)) throw error;
        // Another process moved the task on after our row was written: catch the row up and look again.
        await this.#resync(plan.before.id, options.signal);
        continue;
      }
      const synced = await this.#sync(plan.before.id, plan.before.version, appended, options.signal, plan.after);
      const lease = this.#leaseFrom(plan, appended, synced);
      if (lease) return lease;
    }
    return undefined;
  }

  /** The events that claim a reserved record (recording an expired lease's attempt first), and whether it is claimed or parked. */
  #claimPlan(before: TaskRecord, after: TaskRecord, workerId: string, now: number, leaseMs: number): ClaimPlan {
    const token = after.leaseToken!;
    const events: NewEvent[] = [];
    if (before.version === 0) events.push(this.#submittedEvent(before));
    const meta = { taskId: before.id, agentId: workerId };
    let claiming = true;
    if (before.status === 'claimed') {
      // The previous holder's lease ran out: record that attempt as failed, then retry or park.
      const expired: TaskError = { message: `lease of worker ${JSON.stringify(before.workerId)} expired`, code: 'LEASE_EXPIRED' };
      const used = before.attempt - before.attemptBase;
      claiming = used < before.maxAttempts;
      events.push({
        id: this.#eventId(before.id, 'lease-expired', before.attempt),
        type: 'coordinator.task.failed',
        data: {
          taskId: before.id,
          attempt: before.attempt,
          workerId: before.workerId ?? null,
          error: { ...expired },
          reason: 'lease_expired',
          retryAt: claiming ? iso(now) : null,
        },
        metadata: { ...meta, agentId: before.workerId ?? workerId, attempt: before.attempt, outcome: 'timeout' },
      });
      if (!claiming) {
        events.push({
          id: this.#eventId(before.id, 'parked', before.attempt),
          type: 'coordinator.task.parked',
          data: { taskId: before.id, attempt: before.attempt, reason: 'lease_expired', error: { ...expired } },
          metadata: { ...meta, attempt: before.attempt, outcome: 'failure' },
        });
      }
    }
    const attempt = before.attempt + 1;
    if (claiming) {
      events.push({
        id: this.#eventId(before.id, 'claimed', attempt),
        type: 'coordinator.task.claimed',
        data: { taskId: before.id, attempt, workerId, leaseToken: token, leaseExpiresAt: iso(now + leaseMs) },
        metadata: { ...meta, attempt },
      });
    }
    return { before, after, events, claiming, token, workerId, attempt, expiresAt: now + leaseMs };
  }

  /** The lease a claim's append gave, or `undefined` when it parked the task or the stream holds another claim. */
  #leaseFrom(plan: ClaimPlan, appended: readonly StoredEvent[], synced: TaskRecord): TaskLease | undefined {
    const claimed = appended.at(-1);
    if (!plan.claiming || claimed?.type !== 'coordinator.task.claimed' || (claimed.data as { leaseToken?: unknown }).leaseToken !== plan.token)
      return undefined;
    this.#hold(plan.token, synced);
    return {
      taskId: plan.before.id,
      type: synced.type,
      payload: synced.payload,
      capabilities: synced.capabilities,
      attempt: plan.attempt,
      token: plan.token,
      workerId: plan.workerId,
      expiresAt: plan.expiresAt,
      version: claimed.version,
    };
  }

  #hold(token: string, record: TaskRecord): void {
    this.#held.set(token, record);
    if (this.#held.size > MAX_HELD_LEASES) this.#held.delete(this.#held.keys().next().value!);
  }

  #completedEvent(lease: TaskLease, result: JsonObject): NewEvent {
    return {
      id: this.#eventId(lease.taskId, 'completed', lease.attempt),
      type: 'coordinator.task.completed',
      data: { taskId: lease.taskId, attempt: lease.attempt, workerId: lease.workerId, leaseToken: lease.token, result },
      metadata: { taskId: lease.taskId, agentId: lease.workerId, attempt: lease.attempt, outcome: 'success' },
    };
  }

  async completeAndClaim(input: CompleteAndClaimInput): Promise<CompleteAndClaimResult> {
    this.#assertOpen();
    throwIfAborted(input.signal);
    const { signal } = input;
    const completions = input.complete ?? [];
    const claim = input.claim;
    const max = claim?.max ?? 0;
    let capabilities: string[] = [];
    const leaseMs = claim?.leaseMs ?? this.#leaseMs;
    if (claim) {
      checkId('workerId', claim.workerId);
      capabilities = normalizeCapabilities('capabilities', claim.capabilities);
      checkPositiveInt('leaseMs', leaseMs);
      if (!Number.isInteger(max) || max < 0) throw new InvalidTaskError(`claim.max must be an integer >= 0, got ${JSON.stringify(max)}`);
    }
    const now = this.#clock.now();
    const outcomes: Array<TaskCompletionOutcome | undefined> = completions.map(() => undefined);
    // A completion goes in the batch when this coordinator holds its lease's record and the
    // lease is unexpired; anything else is settled one by one, where the row decides.
    const batched: Array<{ index: number; lease: TaskLease; record: TaskRecord; event: NewEvent }> = [];
    const single: number[] = [];
    const streams = new Set<string>();
    completions.forEach(({ lease, result = {} }, index) => {
      const problem = jsonProblem(result, 'result', true);
      if (problem !== undefined) {
        outcomes[index] = { ok: false, error: new InvalidTaskError(problem) };
        return;
      }
      const record = this.#held.get(lease.token);
      const usable = record && record.status === 'claimed' && record.version === lease.version && (record.leaseExpiresAt ?? 0) > now;
      if (!usable || streams.has(lease.taskId)) {
        single.push(index);
        return;
      }
      streams.add(lease.taskId);
      batched.push({ index, lease, record, event: this.#completedEvent(lease, result) });
    });
    const claims: ReserveClaim[] = Array.from({ length: max }, () => ({ workerId: claim!.workerId, token: uuidv7(), leaseExpiresAt: now + leaseMs }));
    const reserved = claims.length > 0 ? await this.#table.reserveMany({ capabilities, now }, claims, signal) : [];
    const plans: ClaimPlan[] = [];
    for (const { before, after } of reserved) {
      // A reservation of a task whose completion is in this batch cannot be appended beside it.
      if (streams.has(before.id)) continue;
      plans.push(this.#claimPlan(before, after, claim!.workerId, now, leaseMs));
    }
    const appends: StreamAppend[] = [
      ...batched.map((b) => ({ streamId: taskStreamId(b.lease.taskId), events: [b.event], expectedVersion: b.lease.version })),
      ...plans.map((p) => ({ streamId: taskStreamId(p.before.id), events: p.events, expectedVersion: p.before.version })),
    ];
    let appended: StoredEvent[][] | undefined;
    if (appends.length > 0) {
      try {
        appended = await this.#store.appendToStreams(appends, { signal });
      } catch (error) {
        if (!isWrongExpectedVersionError(error)) throw error;
        // One stream moved on (a lost lease, a stale row): the batch is all or nothing, so each
        // transition goes again on its own, where the loser alone fails.
        appended = undefined;
      }
    }
    const leases: TaskLease[] = [];
    if (appended === undefined) {
      single.push(...batched.map((b) => b.index));
      for (const plan of plans) {
        const lease = await this.#claimAlone(plan, signal);
        if (lease) leases.push(lease);
      }
    } else {
      const advances: Array<TaskAdvance & { events: StoredEvent[]; known: TaskRecord }> = [];
      batched.forEach((b, i) => {
        const events = appended[i]!;
        const first = events[0];
        if ((first?.data as { leaseToken?: unknown } | undefined)?.leaseToken !== b.lease.token || first!.version !== b.lease.version + 1) {
          single.push(b.index);
          return;
        }
        advances.push({ id: b.lease.taskId, fromVersion: b.lease.version, record: applyTaskEvents(b.record, events), events, known: b.record });
      });
      plans.forEach((p, j) => {
        const events = appended[batched.length + j]!;
        advances.push({ id: p.before.id, fromVersion: p.before.version, record: applyTaskEvents(p.after, events), events, known: p.after });
      });
      const advanced = advances.length > 0 ? await this.#table.advanceMany(advances, signal) : new Set<string>();
      const synced = new Map<string, TaskRecord>();
      for (const a of advances) {
        synced.set(
          a.id,
          advanced.has(a.id) && a.record.version >= (a.events.at(-1)?.version ?? a.fromVersion)
            ? a.record
            : await this.#sync(a.id, a.fromVersion, a.events, signal),
        );
      }
      for (const b of batched) {
        const record = synced.get(b.lease.taskId);
        if (!record) continue;
        this.#held.delete(b.lease.token);
        outcomes[b.index] = { ok: true, task: toTask(record) };
      }
      plans.forEach((p, j) => {
        const lease = this.#leaseFrom(p, appended[batched.length + j]!, synced.get(p.before.id)!);
        if (lease) leases.push(lease);
      });
    }
    for (const index of single) {
      const { lease, result } = completions[index]!;
      try {
        outcomes[index] = { ok: true, task: await this.complete(lease, result ?? {}, { signal }) };
      } catch (error) {
        outcomes[index] = { ok: false, error };
      }
    }
    return { completed: outcomes.map((o) => o!), leases };
  }

  /** A reserved claim appended on its own; `undefined` when the stream moved on (the row is caught up) or the task parked. */
  async #claimAlone(plan: ClaimPlan, signal: AbortSignal | undefined): Promise<TaskLease | undefined> {
    let appended: StoredEvent[];
    try {
      appended = await this.#store.append(taskStreamId(plan.before.id), plan.events, { expectedVersion: plan.before.version, signal });
    } catch (error) {
      if (!isWrongExpectedVersionError(error)) throw error;
      await this.#resync(plan.before.id, signal);
      return undefined;
    }
    const synced = await this.#sync(plan.before.id, plan.before.version, appended, signal, plan.after);
    return this.#leaseFrom(plan, appended, synced);
  }

  async extend(lease: TaskLease, options: { readonly leaseMs?: number; readonly signal?: AbortSignal } = {}): Promise<TaskLease> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    const leaseMs = options.leaseMs ?? this.#leaseMs;
    checkPositiveInt('leaseMs', leaseMs);
    const now = this.#clock.now();
    const result = await this.#table.update(
      lease.taskId,
      (r) => (r.status === 'claimed' && r.leaseToken === lease.token && (r.leaseExpiresAt ?? 0) > now ? { ...r, leaseExpiresAt: now + leaseMs } : undefined),
      options.signal,
    );
    if (!result) throw new TaskNotFoundError(lease.taskId);
    if (!result.changed) {
      this.#held.delete(lease.token);
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, this.#lossReason(result.record, lease, now));
    }
    if (this.#held.has(lease.token)) this.#held.set(lease.token, result.record);
    return { ...lease, expiresAt: now + leaseMs };
  }

  #lossReason(record: TaskRecord, lease: TaskLease, now: number): TaskLeaseLostError['reason'] {
    if (record.leaseToken !== lease.token) return record.attempt > lease.attempt ? 'superseded' : record.status === 'claimed' ? 'expired' : 'finished';
    if (record.status !== 'claimed') return 'finished';
    return (record.leaseExpiresAt ?? 0) <= now ? 'expired' : 'superseded';
  }

  /** Checks the lease against the table; returns the record, or a finished record for an idempotent repeat. */
  async #checkLease(lease: TaskLease, signal: AbortSignal | undefined): Promise<{ record: TaskRecord; repeat: boolean }> {
    const record = await this.#table.get(lease.taskId, signal);
    if (!record) throw new TaskNotFoundError(lease.taskId);
    const now = this.#clock.now();
    if (record.status !== 'claimed' && record.attempt === lease.attempt && record.leaseToken === lease.token) return { record, repeat: true };
    if (record.status !== 'claimed' || record.leaseToken !== lease.token || (record.leaseExpiresAt ?? 0) <= now) {
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, this.#lossReason(record, lease, now));
    }
    return { record, repeat: false };
  }

  /** Appends a lease holder's transition; maps a lost race to {@link TaskLeaseLostError}. */
  async #appendForLease(lease: TaskLease, known: TaskRecord, events: NewEvent[], signal: AbortSignal | undefined): Promise<TaskRecord> {
    this.#held.delete(lease.token);
    let appended: StoredEvent[];
    try {
      appended = await this.#store.append(taskStreamId(lease.taskId), events, { expectedVersion: lease.version, signal });
    } catch (error) {
      if (!isWrongExpectedVersionError(error)) throw error;
      const record = await this.#resync(lease.taskId, signal);
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, this.#lossReason(record, lease, this.#clock.now()), { cause: error });
    }
    // Every id already stored means a repeat of an earlier call: only fine if it was ours.
    const first = appended[0]!;
    if ((first.data as { leaseToken?: unknown }).leaseToken !== lease.token || first.version !== lease.version + 1) {
      const record = await this.#resync(lease.taskId, signal);
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, this.#lossReason(record, lease, this.#clock.now()));
    }
    return this.#sync(lease.taskId, lease.version, appended, signal, known);
  }

  async complete(lease: TaskLease, result: JsonObject = {}, options: { readonly signal?: AbortSignal } = {}): Promise<Task> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    const problem = jsonProblem(result, 'result', true);
    if (problem !== undefined) throw new InvalidTaskError(problem);
    const { record, repeat } = await this.#checkLease(lease, options.signal);
    if (repeat) {
      if (record.status === 'completed') return toTask(record);
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, 'finished');
    }
    const synced = await this.#appendForLease(lease, record, [this.#completedEvent(lease, result)], options.signal);
    return toTask(synced);
  }

  async fail(lease: TaskLease, error: TaskError | Error, options: FailTaskOptions = {}): Promise<Task> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    const reported = errorOf(error);
    const { record, repeat } = await this.#checkLease(lease, options.signal);
    if (repeat) {
      if (record.status !== 'completed') return toTask(record);
      throw new TaskLeaseLostError(lease.taskId, lease.attempt, 'finished');
    }
    const retryable = options.retryable ?? true;
    const used = lease.attempt - record.attemptBase;
    const retry = retryable && used < record.maxAttempts;
    const now = this.#clock.now();
    const meta = { taskId: lease.taskId, agentId: lease.workerId, attempt: lease.attempt, outcome: 'failure' as const };
    const events: NewEvent[] = [
      {
        id: this.#eventId(lease.taskId, 'failed', lease.attempt),
        type: 'coordinator.task.failed',
        data: {
          taskId: lease.taskId,
          attempt: lease.attempt,
          workerId: lease.workerId,
          leaseToken: lease.token,
          error: { ...reported },
          reason: retryable ? 'error' : 'non_retryable',
          retryAt: retry ? iso(now + backoffMs(this.#retry, used, this.#random)) : null,
        },
        metadata: meta,
      },
    ];
    if (!retry) {
      events.push({
        id: this.#eventId(lease.taskId, 'parked', lease.attempt),
        type: 'coordinator.task.parked',
        data: { taskId: lease.taskId, attempt: lease.attempt, reason: retryable ? 'max_attempts' : 'non_retryable', error: { ...reported } },
        metadata: meta,
      });
    }
    const synced = await this.#appendForLease(lease, record, events, options.signal);
    if (retry) this.#wake();
    return toTask(synced);
  }

  async replay(taskId: string, options: { readonly signal?: AbortSignal } = {}): Promise<Task> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    checkId('taskId', taskId);
    for (;;) {
      const record = await this.#resync(taskId, options.signal);
      if (record.status !== 'parked') throw new TaskStateError(taskId, record.status, '"parked"');
      const next: TaskRecord = { ...record, attemptBase: record.attempt, availableAt: this.#clock.now() };
      try {
        const appended = await this.#store.append(taskStreamId(taskId), [this.#submittedEvent(next, true)], {
          expectedVersion: record.version,
          signal: options.signal,
        });
        const synced = await this.#sync(taskId, record.version, appended, options.signal, record);
        this.#wake();
        return toTask(synced);
      } catch (error) {
        if (!isWrongExpectedVersionError(error)) throw error;
      }
    }
  }

  async get(taskId: string, options: { readonly signal?: AbortSignal } = {}): Promise<Task | undefined> {
    this.#assertOpen();
    const record = await this.#table.get(taskId, options.signal);
    return record && toTask(record);
  }

  async list(options: ListTasksOptions = {}): Promise<Task[]> {
    this.#assertOpen();
    const statuses = options.status === undefined ? undefined : typeof options.status === 'string' ? [options.status] : [...options.status];
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    checkPositiveInt('limit', limit);
    return (await this.#table.list({ statuses, limit }, options.signal)).map(toTask);
  }

  async waitForWork(options: WaitForWorkOptions = {}): Promise<void> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    if (this.#remote && !this.#unlisten) {
      this.#unlisten = this.#remote.listen(() => {
        for (const waiter of this.#waiters) waiter();
      });
    }
    if (this.#unlisten) await this.#unlisten;
    const timeoutMs = options.timeoutMs ?? this.#pollMs;
    await new Promise<void>((resolve) => {
      const done = () => {
        cancel();
        this.#waiters.delete(done);
        options.signal?.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.#clock.setTimeout(done, timeoutMs);
      this.#waiters.add(done);
      options.signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Moves the row forward with events just appended after `fromVersion`: one conditional write
   * from `known` (the row as this call last saw it) when the row is still there, otherwise a
   * catch-up from the stream. Overwriting a concurrent reservation is harmless: that
   * reserver's append will fail on the stream's version and catch up itself.
   */
  async #sync(id: string, fromVersion: number, appended: readonly StoredEvent[], signal: AbortSignal | undefined, known?: TaskRecord): Promise<TaskRecord> {
    const head = appended.at(-1)?.version ?? fromVersion;
    if (known && known.version === fromVersion) {
      const next = applyTaskEvents(known, appended);
      if (next.version >= head && (await this.#table.advance(id, fromVersion, next, signal))) return next;
    }
    const result = await this.#table.update(id, (r) => (r.version === fromVersion ? applyTaskEvents(r, appended) : undefined), signal);
    if (!result) throw new TaskNotFoundError(id);
    if (result.record.version >= head) return result.record;
    return this.#resync(id, signal);
  }

  /** Catches the row up with its stream (the truth), however far behind it is. */
  async #resync(id: string, signal: AbortSignal | undefined): Promise<TaskRecord> {
    for (;;) {
      const current = await this.#table.get(id, signal);
      if (!current) throw new TaskNotFoundError(id);
      const events = await this.#store.read(taskStreamId(id), { fromVersion: current.version + 1, signal });
      if (events.length === 0) return current;
      const result = await this.#table.update(id, (r) => (r.version === current.version ? applyTaskEvents(r, events) : undefined), signal);
      if (!result) throw new TaskNotFoundError(id);
      if (result.changed) return result.record;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#held.clear();
    for (const waiter of this.#waiters) waiter();
    if (this.#unlisten) await (await this.#unlisten)();
    if (this.#ownsTable) await this.#table.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
