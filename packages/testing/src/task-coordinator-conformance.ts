// The suite registers its cases from a table, so titles are variables and assertions live in the cases.
/* oxlint-disable vitest/expect-expect, vitest/valid-title */
import { checkSkips, rejected } from './errors.js';
import {
  InvalidTaskError,
  type TaskCoordinator,
  type TaskLease,
  TaskLeaseLostError,
  TaskNotFoundError,
  type TaskRetryPolicy,
  TaskStateError,
  runTaskWorker,
  taskStreamId,
} from '@buckley/coordination';
import { type EventStore, type StoredEvent, createInMemoryEventStore } from '@buckley/events';
import { ClosedError, ManualClock, type Clock, isClosedError, uuidv7 } from '@buckley/utils';
import { describe, expect, it } from 'vitest';

/** What the suite hands to `create` for one test. */
export interface TaskCoordinatorConformanceContext {
  /** The event store the coordinator must record to (made by `createStore`). */
  readonly store: EventStore;
  /** A manual clock: the suite moves time with it to expire leases and pass backoffs. */
  readonly clock: Clock;
  readonly leaseMs: number;
  readonly retry: TaskRetryPolicy;
  /** A fresh id for adapters that must isolate tests sharing one database. */
  readonly testId: string;
}

/** Options of {@link describeTaskCoordinatorConformance}. */
export interface TaskCoordinatorConformanceOptions {
  /** Names the adapter in the test report. */
  readonly name: string;
  /** Makes a coordinator over `context.store` with the context's clock, lease and retry policy. */
  readonly create: (context: TaskCoordinatorConformanceContext) => Promise<TaskCoordinator> | TaskCoordinator;
  /** Makes the event store of one test; default an in-memory store. Closed after the test. */
  readonly createStore?: (testId: string) => Promise<EventStore> | EventStore;
  /** Tests this adapter does not run, by test name, each with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
}

interface Ctx {
  readonly coordinator: TaskCoordinator;
  readonly store: EventStore;
  readonly clock: ManualClock;
}

type Case = (ctx: Ctx) => Promise<void>;

const LEASE_MS = 10_000;
const RETRY: TaskRetryPolicy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 4_000, jitter: 0 };

const types = (events: readonly StoredEvent[]) => events.map((e) => e.type.replace('coordinator.task.', ''));

const cases: Record<string, Case> = {
  'submit records coordinator.task.submitted on task:<id> and the task is pending': async ({ coordinator, store }) => {
    const task = await coordinator.submit({ id: 'a-1', type: 'index', capabilities: ['git', 'git', 'fs'], payload: { repo: 'r' } });
    expect(task).toMatchObject({ id: 'a-1', type: 'index', status: 'pending', capabilities: ['fs', 'git'], payload: { repo: 'r' }, attempt: 0, version: 1 });
    const events = await store.read(taskStreamId('a-1'));
    expect(types(events)).toEqual(['submitted']);
    expect(events[0]!.data).toMatchObject({ taskId: 'a-1', type: 'index', capabilities: ['fs', 'git'], payload: { repo: 'r' }, maxAttempts: 3 });
    expect(events[0]!.metadata).toMatchObject({ taskId: 'a-1' });
    expect(await coordinator.get('a-1')).toEqual(task);
    expect((await coordinator.list({ status: 'pending' })).map((t) => t.id)).toEqual(['a-1']);
    expect(await coordinator.get('missing')).toBeUndefined();
  },

  'submit is idempotent on the task id': async ({ coordinator, store }) => {
    const first = await coordinator.submit({ id: 'same', payload: { n: 1 } });
    const second = await coordinator.submit({ id: 'same', payload: { n: 2 } });
    expect(second).toEqual(first);
    expect(await store.read(taskStreamId('same'))).toHaveLength(1);
    const generated = await coordinator.submit({});
    expect(generated.id).toMatch(/^[0-9a-f-]{36}$/);
  },

  'malformed submissions reject with InvalidTaskError and write nothing': async ({ coordinator, store }) => {
    const bad = [
      { id: 'has space' },
      { id: '' },
      { payload: { f: () => 1 } as never },
      { payload: [] as never },
      { maxAttempts: 0 },
      { capabilities: [''] },
      { id: 'x'.repeat(201) },
    ];
    for (const input of bad) expect(await rejected(coordinator.submit(input))).toBeInstanceOf(InvalidTaskError);
    expect(await store.readAll()).toEqual([]);
    expect(await coordinator.list()).toEqual([]);
  },

  'a worker only claims tasks whose capabilities it has all of': async ({ coordinator }) => {
    await coordinator.submit({ id: 'needs-ab', capabilities: ['a', 'b'] });
    expect(await coordinator.claim({ workerId: 'w-a', capabilities: ['a'] })).toBeUndefined();
    expect(await coordinator.claim({ workerId: 'w-none' })).toBeUndefined();
    const lease = await coordinator.claim({ workerId: 'w-abc', capabilities: ['c', 'b', 'a'] });
    expect(lease).toMatchObject({ taskId: 'needs-ab', attempt: 1, workerId: 'w-abc', version: 2 });
  },

  'claims go oldest first and a claimed task is not handed out twice while its lease holds': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 't1' });
    await clock.advance(1);
    await coordinator.submit({ id: 't2' });
    const l1 = await coordinator.claim({ workerId: 'w1' });
    const l2 = await coordinator.claim({ workerId: 'w2' });
    expect([l1?.taskId, l2?.taskId]).toEqual(['t1', 't2']);
    expect(await coordinator.claim({ workerId: 'w3' })).toBeUndefined();
    expect(l1!.expiresAt).toBe(clock.now() + LEASE_MS);
    const claimed = (await store.read(taskStreamId('t1')))[1]!;
    expect(claimed.type).toBe('coordinator.task.claimed');
    expect(claimed.data).toMatchObject({ taskId: 't1', attempt: 1, workerId: 'w1' });
    expect(claimed.metadata).toMatchObject({ taskId: 't1', agentId: 'w1', attempt: 1 });
    expect(await coordinator.get('t1')).toMatchObject({ status: 'claimed', workerId: 'w1', leaseExpiresAt: l1!.expiresAt });
  },

  'complete records the result once; repeating it with the same lease writes nothing': async ({ coordinator, store }) => {
    await coordinator.submit({ id: 'c1', payload: { x: 1 } });
    const lease = (await coordinator.claim({ workerId: 'w1' }))!;
    const done = await coordinator.complete(lease, { answer: 42 });
    expect(done).toMatchObject({ status: 'completed', result: { answer: 42 }, attempt: 1, workerId: 'w1' });
    const again = await coordinator.complete(lease, { answer: 42 });
    expect(again).toEqual(done);
    const events = await store.read(taskStreamId('c1'));
    expect(types(events)).toEqual(['submitted', 'claimed', 'completed']);
    expect(events[2]!.metadata).toMatchObject({ outcome: 'success', attempt: 1, agentId: 'w1' });
    expect(await coordinator.claim({ workerId: 'w2' })).toBeUndefined();
    expect(await rejected(coordinator.fail(lease, new Error('late')))).toBeInstanceOf(TaskLeaseLostError);
    expect(await store.read(taskStreamId('c1'))).toHaveLength(3);
  },

  'an expired lease returns the task and the old holder can no longer complete it': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'e1' });
    const first = (await coordinator.claim({ workerId: 'dead' }))!;
    await clock.advance(LEASE_MS);
    const second = (await coordinator.claim({ workerId: 'alive' }))!;
    expect(second).toMatchObject({ taskId: 'e1', attempt: 2, workerId: 'alive' });
    const error = await rejected(coordinator.complete(first, { by: 'dead' }));
    expect(error).toBeInstanceOf(TaskLeaseLostError);
    expect(error).toMatchObject({ code: 'TASK_LEASE_LOST', taskId: 'e1', attempt: 1 });
    expect(types(await store.read(taskStreamId('e1')))).toEqual(['submitted', 'claimed', 'failed', 'claimed']);
    const expired = (await store.read(taskStreamId('e1')))[2]!;
    expect(expired.data).toMatchObject({ attempt: 1, workerId: 'dead', reason: 'lease_expired' });
    await coordinator.complete(second, { by: 'alive' });
    const events = await store.read(taskStreamId('e1'));
    expect(events.filter((e) => e.type === 'coordinator.task.completed').map((e) => e.data.workerId)).toEqual(['alive']);
  },

  'an expired lease cannot be completed even before another worker claims it': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'e2' });
    const lease = (await coordinator.claim({ workerId: 'slow' }))!;
    await clock.advance(LEASE_MS + 1);
    const error = await rejected(coordinator.complete(lease));
    expect(error).toMatchObject({ code: 'TASK_LEASE_LOST', reason: 'expired' });
    expect(await store.read(taskStreamId('e2'))).toHaveLength(2);
  },

  'extending a lease keeps the task from other workers past the original expiry': async ({ coordinator, clock }) => {
    await coordinator.submit({ id: 'x1' });
    let lease = (await coordinator.claim({ workerId: 'w1' }))!;
    await clock.advance(LEASE_MS - 1_000);
    lease = await coordinator.extend(lease, { leaseMs: LEASE_MS });
    expect(lease.expiresAt).toBe(clock.now() + LEASE_MS);
    await clock.advance(5_000);
    expect(await coordinator.claim({ workerId: 'w2' })).toBeUndefined();
    expect((await coordinator.complete(lease)).status).toBe('completed');
  },

  'extending an expired lease rejects with TaskLeaseLostError': async ({ coordinator, clock }) => {
    await coordinator.submit({ id: 'x2' });
    const lease = (await coordinator.claim({ workerId: 'w1' }))!;
    await clock.advance(LEASE_MS);
    expect(await rejected(coordinator.extend(lease))).toMatchObject({ code: 'TASK_LEASE_LOST', reason: 'expired' });
  },

  'a failed attempt is retried after the backoff': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'f1' });
    const lease = (await coordinator.claim({ workerId: 'w1' }))!;
    const failed = await coordinator.fail(lease, Object.assign(new Error('boom'), { code: 'E_BOOM' }));
    expect(failed).toMatchObject({ status: 'pending', availableAt: clock.now() + 1_000, lastError: { message: 'boom', code: 'E_BOOM' } });
    expect(await coordinator.claim({ workerId: 'w2' })).toBeUndefined();
    await clock.advance(999);
    expect(await coordinator.claim({ workerId: 'w2' })).toBeUndefined();
    await clock.advance(1);
    const retry = (await coordinator.claim({ workerId: 'w2' }))!;
    expect(retry.attempt).toBe(2);
    await coordinator.fail(retry, { message: 'again' });
    expect((await coordinator.get('f1'))!.availableAt).toBe(clock.now() + 2_000);
    const events = await store.read(taskStreamId('f1'));
    expect(types(events)).toEqual(['submitted', 'claimed', 'failed', 'claimed', 'failed']);
    expect(events[2]!.metadata).toMatchObject({ outcome: 'failure', attempt: 1 });
  },

  'a task out of attempts is parked and replay makes it claimable again': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'p1' });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await clock.advance(10_000);
      const lease = (await coordinator.claim({ workerId: 'w' }))!;
      expect(lease.attempt).toBe(attempt);
      await coordinator.fail(lease, new Error(`fail ${attempt}`));
    }
    await clock.advance(60_000);
    expect(await coordinator.claim({ workerId: 'w' })).toBeUndefined();
    expect(await coordinator.get('p1')).toMatchObject({ status: 'parked', parkReason: 'max_attempts', attemptsInRound: 3 });
    expect(types(await store.read(taskStreamId('p1'))).slice(-2)).toEqual(['failed', 'parked']);
    expect((await coordinator.list({ status: 'parked' })).map((t) => t.id)).toEqual(['p1']);
    const replayed = await coordinator.replay('p1');
    expect(replayed).toMatchObject({ status: 'pending', attempt: 3, attemptsInRound: 0 });
    const last = (await store.read(taskStreamId('p1'))).at(-1)!;
    expect(last).toMatchObject({ type: 'coordinator.task.submitted', data: { replay: true } });
    const lease = (await coordinator.claim({ workerId: 'w' }))!;
    expect(lease.attempt).toBe(4);
    expect((await coordinator.complete(lease)).status).toBe('completed');
  },

  'a non-retryable failure parks the task at once': async ({ coordinator, store }) => {
    await coordinator.submit({ id: 'n1' });
    const lease = (await coordinator.claim({ workerId: 'w' }))!;
    const parked = await coordinator.fail(lease, new Error('bad input'), { retryable: false });
    expect(parked).toMatchObject({ status: 'parked', parkReason: 'non_retryable' });
    expect(types(await store.read(taskStreamId('n1')))).toEqual(['submitted', 'claimed', 'failed', 'parked']);
  },

  'a lease that keeps expiring parks the task with reason lease_expired': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'l1' });
    for (let i = 0; i < 3; i++) {
      expect(await coordinator.claim({ workerId: `w${i}` })).toMatchObject({ taskId: 'l1', workerId: `w${i}`, attempt: i + 1 });
      await clock.advance(LEASE_MS);
    }
    expect(await coordinator.claim({ workerId: 'w9' })).toBeUndefined();
    expect(await coordinator.get('l1')).toMatchObject({ status: 'parked', parkReason: 'lease_expired' });
    expect(types(await store.read(taskStreamId('l1'))).slice(-2)).toEqual(['failed', 'parked']);
  },

  'replay of an unknown or unparked task rejects with a typed error and writes nothing': async ({ coordinator, store }) => {
    expect(await rejected(coordinator.replay('nope'))).toBeInstanceOf(TaskNotFoundError);
    await coordinator.submit({ id: 'r1' });
    expect(await rejected(coordinator.replay('r1'))).toBeInstanceOf(TaskStateError);
    expect(await store.read(taskStreamId('r1'))).toHaveLength(1);
  },

  'concurrent workers complete every task exactly once': async ({ coordinator, store }) => {
    const ids = Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    for (const id of ids) await coordinator.submit({ id, payload: { id } });
    const seen: string[] = [];
    const handler = async (lease: TaskLease) => {
      seen.push(lease.taskId);
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { ok: lease.taskId };
    };
    // One worker claims just for its free handlers, the other prefetches; between them each task runs once.
    const worker = runTaskWorker(coordinator, { workerId: 'pool', concurrency: 3, leaseMs: LEASE_MS, handler });
    const prefetching = runTaskWorker(coordinator, { workerId: 'ahead', concurrency: 3, prefetch: 4, leaseMs: LEASE_MS, handler });
    const deadline = Date.now() + 20_000;
    while ((await coordinator.list({ status: 'completed' })).length < ids.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await worker.close();
    await prefetching.close();
    expect(worker.completed + prefetching.completed).toBe(ids.length);
    expect(seen.toSorted()).toEqual(ids);
    // A gap-safe global read may lag behind transactions still open elsewhere on the server: poll.
    let completed = await store.readAll({ filter: { types: ['coordinator.task.completed'] }, limit: 1000 });
    for (const until = Date.now() + 10_000; completed.length < ids.length && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      completed = await store.readAll({ filter: { types: ['coordinator.task.completed'] }, limit: 1000 });
    }
    expect(completed.map((e) => e.streamId).toSorted()).toEqual(ids.map(taskStreamId));
  },

  'completeAndClaim claims several tasks oldest first in one round and completes them in the next': async ({ coordinator, store }) => {
    for (const id of ['b1', 'b2', 'b3', 'b4', 'b5']) await coordinator.submit({ id, payload: { id } });
    const first = await coordinator.completeAndClaim({ claim: { workerId: 'w1', max: 3 } });
    expect(first.completed).toEqual([]);
    expect(first.leases.map((l) => [l.taskId, l.attempt, l.workerId, l.version])).toEqual([
      ['b1', 1, 'w1', 2],
      ['b2', 1, 'w1', 2],
      ['b3', 1, 'w1', 2],
    ]);
    expect(new Set(first.leases.map((l) => l.token)).size).toBe(3);
    expect(first.leases[0]!.payload).toEqual({ id: 'b1' });
    // Held leases are not handed out again.
    expect((await coordinator.claim({ workerId: 'w2' }))?.taskId).toBe('b4');
    const second = await coordinator.completeAndClaim({
      complete: [{ lease: first.leases[0]!, result: { n: 1 } }, { lease: first.leases[1]! }],
      claim: { workerId: 'w1', max: 3 },
    });
    expect(second.completed.map((o) => o.ok && [o.task.id, o.task.status, o.task.result])).toEqual([
      ['b1', 'completed', { n: 1 }],
      ['b2', 'completed', {}],
    ]);
    expect(second.leases.map((l) => l.taskId)).toEqual(['b5']);
    expect(types(await store.read(taskStreamId('b1')))).toEqual(['submitted', 'claimed', 'completed']);
    expect((await store.read(taskStreamId('b1')))[2]!.data).toMatchObject({ workerId: 'w1', attempt: 1, result: { n: 1 } });
    expect(await coordinator.get('b3')).toMatchObject({ status: 'claimed', workerId: 'w1' });
    // Repeating a recorded completion writes nothing and returns the completed task.
    expect(await coordinator.complete(first.leases[0]!, { n: 1 })).toMatchObject({ id: 'b1', status: 'completed' });
    expect(await store.read(taskStreamId('b1'))).toHaveLength(3);
    const empty = await coordinator.completeAndClaim({ claim: { workerId: 'w1', max: 2 } });
    expect(empty).toEqual({ completed: [], leases: [] });
  },

  'completeAndClaim reports a lost lease as its outcome and still records the other completions': async ({ coordinator, store, clock }) => {
    await coordinator.submit({ id: 'q1' });
    await coordinator.submit({ id: 'q2' });
    const { leases } = await coordinator.completeAndClaim({ claim: { workerId: 'w1', max: 2 } });
    const [q1, q2] = leases as [TaskLease, TaskLease];
    await clock.advance(LEASE_MS - 1_000);
    const kept = await coordinator.extend(q2);
    await clock.advance(2_000);
    const taken = (await coordinator.claim({ workerId: 'w2' }))!;
    expect(taken).toMatchObject({ taskId: 'q1', attempt: 2 });
    const round = await coordinator.completeAndClaim({
      complete: [
        { lease: q1, result: { by: 'w1' } },
        { lease: kept, result: { by: 'w1' } },
      ],
    });
    expect(round.completed[0]).toMatchObject({ ok: false });
    const lost = (round.completed[0] as { error: unknown }).error;
    expect(lost).toBeInstanceOf(TaskLeaseLostError);
    expect(lost).toMatchObject({ code: 'TASK_LEASE_LOST', taskId: 'q1', attempt: 1 });
    expect(round.completed[1]).toMatchObject({ ok: true, task: { id: 'q2', status: 'completed', result: { by: 'w1' } } });
    expect(types(await store.read(taskStreamId('q1')))).toEqual(['submitted', 'claimed', 'failed', 'claimed']);
    await coordinator.complete(taken, { by: 'w2' });
    const done = (await store.read(taskStreamId('q1'))).filter((e) => e.type === 'coordinator.task.completed');
    expect(done.map((e) => e.data.workerId)).toEqual(['w2']);
  },

  'completeAndClaim with an invalid result or claim rejects it and writes nothing for it': async ({ coordinator, store }) => {
    await coordinator.submit({ id: 'v1' });
    const { leases } = await coordinator.completeAndClaim({ claim: { workerId: 'w1', max: 1 } });
    const round = await coordinator.completeAndClaim({ complete: [{ lease: leases[0]!, result: { bad: undefined } as never }] });
    expect(round.completed[0]).toMatchObject({ ok: false });
    expect((round.completed[0] as { error: unknown }).error).toBeInstanceOf(InvalidTaskError);
    expect(await store.read(taskStreamId('v1'))).toHaveLength(2);
    expect(await rejected(coordinator.completeAndClaim({ claim: { workerId: 'w1', max: -1 } }))).toBeInstanceOf(InvalidTaskError);
    expect(await rejected(coordinator.completeAndClaim({ claim: { workerId: 'has space', max: 1 } }))).toBeInstanceOf(InvalidTaskError);
    expect((await coordinator.completeAndClaim({ complete: [{ lease: leases[0]! }] })).completed[0]).toMatchObject({ ok: true });
  },

  'a worker that stops fails the leases it prefetched but never started, and they can be claimed again': async ({ coordinator, store, clock }) => {
    for (const id of ['s1', 's2', 's3']) await coordinator.submit({ id });
    const started: string[] = [];
    const worker = runTaskWorker(coordinator, {
      workerId: 'w1',
      concurrency: 1,
      prefetch: 2,
      handler: async (lease, { signal }) => {
        started.push(lease.taskId);
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        throw new Error('stopped');
      },
    });
    for (const until = Date.now() + 10_000; ((await coordinator.list({ status: 'claimed' })).length < 3 || started.length === 0) && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await coordinator.list({ status: 'claimed' })).map((t) => t.id)).toEqual(['s1', 's2', 's3']);
    expect(started).toEqual(['s1']);
    await worker.close();
    expect(started).toEqual(['s1']);
    for (const id of ['s2', 's3']) {
      const events = await store.read(taskStreamId(id));
      expect(types(events)).toEqual(['submitted', 'claimed', 'failed']);
      expect(events[2]!.data).toMatchObject({ error: { code: 'WORKER_STOPPED' }, reason: 'error' });
      expect(await coordinator.get(id)).toMatchObject({ status: 'pending' });
    }
    await clock.advance(RETRY.maxDelayMs!);
    const again = await coordinator.completeAndClaim({ claim: { workerId: 'w2', max: 3 } });
    expect(again.leases.map((l) => [l.taskId, l.attempt]).toSorted()).toEqual([
      ['s1', 2],
      ['s2', 2],
      ['s3', 2],
    ]);
  },

  'waitForWork wakes up when a task is submitted': async ({ coordinator }) => {
    const woke = coordinator.waitForWork({ timeoutMs: 60_000 });
    await coordinator.submit({ id: 'wake' });
    const result = await Promise.race([woke.then(() => 'woke'), new Promise((resolve) => setTimeout(() => resolve('timeout'), 5_000))]);
    expect(result).toBe('woke');
  },

  'calls after close reject with ClosedError (code CLOSED); close is idempotent': async ({ coordinator }) => {
    await coordinator.close();
    await coordinator.close();
    for (const error of [await rejected(coordinator.submit({})), await rejected(coordinator.claim({ workerId: 'w' }))]) {
      expect(error).toBeInstanceOf(ClosedError);
      expect(isClosedError(error)).toBe(true);
      expect((error as ClosedError).resource).toBe('task coordinator');
    }
  },
};

/** Names of the suite's tests, for `skip`. */
export const taskCoordinatorConformanceTests: readonly string[] = Object.keys(cases);

/**
 * Registers the `TaskCoordinator` contract tests for one adapter: submit, capability
 * matching, leases and their expiry, extension, retry with backoff, parking and replay, the
 * events of every transition, and exactly-once completion under concurrent workers.
 */
export function describeTaskCoordinatorConformance(options: TaskCoordinatorConformanceOptions): void {
  const { name, create, createStore = () => createInMemoryEventStore(), skip = {} } = options;
  describe(`TaskCoordinator conformance: ${name}`, () => {
    checkSkips(taskCoordinatorConformanceTests, skip);
    for (const [title, run] of Object.entries(cases)) {
      if (title in skip) continue;
      it(
        title,
        async () => {
          const testId = `t${uuidv7().replaceAll('-', '').slice(-20)}`;
          const store = await createStore(testId);
          const clock = new ManualClock(Date.UTC(2026, 0, 1));
          const coordinator = await create({ store, clock, leaseMs: LEASE_MS, retry: RETRY, testId });
          try {
            await run({ coordinator, store, clock });
          } finally {
            await coordinator.close();
            await store.close();
          }
        },
        30_000,
      );
    }
  });
}
