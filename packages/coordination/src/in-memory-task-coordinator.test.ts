import { describeTaskCoordinatorConformance } from '@buckley/testing';
import { ManualClock, isClosedError } from '@buckley/utils';
import { describe, expect, it } from 'vitest';
import { createBusTaskWakeup } from './bus-task-wakeup.js';
import { createInMemoryBus } from '@buckley/bus';
import { createInMemoryEventStore } from '@buckley/events';
import { createInMemoryTaskCoordinator } from './in-memory-task-coordinator.js';
import { taskStreamId } from './task-coordinator.js';
import { InMemoryTaskTable } from './in-memory-task-coordinator.js';
import { runTaskWorker } from './task-worker.js';
import { createTaskCoordinatorCore, pendingTaskRecord } from './adapter.js';

describeTaskCoordinatorConformance({
  name: 'in-memory',
  create: ({ store, clock, leaseMs, retry }) => createInMemoryTaskCoordinator({ store, clock, leaseMs, retry }),
});

describe('core coordinator over a stale table', () => {
  it('catches a table row up with its stream before deciding, so a transition written by a crashed process is not repeated', async () => {
    const store = createInMemoryEventStore();
    const clock = new ManualClock(1_000_000);
    const table = new InMemoryTaskTable();
    const a = createTaskCoordinatorCore({ store, table, clock, leaseMs: 1_000, ownsTable: false });
    await a.submit({ id: 's1' });
    const lease = (await a.claim({ workerId: 'w1' }))!;
    // Simulate a process that appended `completed` and died before updating the table.
    await store.append(taskStreamId('s1'), [
      { type: 'coordinator.task.completed', data: { taskId: 's1', attempt: 1, workerId: 'w1', leaseToken: lease.token, result: {} } },
    ]);
    await clock.advance(5_000);
    expect(await a.claim({ workerId: 'w2' })).toBeUndefined();
    expect((await a.get('s1'))!.status).toBe('completed');
    const types = (await store.read(taskStreamId('s1'))).map((e) => e.type);
    expect(types).toEqual(['coordinator.task.submitted', 'coordinator.task.claimed', 'coordinator.task.completed']);
    await a.close();
  });

  it('writes the missing submitted event for a row whose submit crashed before its append', async () => {
    const store = createInMemoryEventStore();
    const table = new InMemoryTaskTable();
    const clock = new ManualClock(0);
    const a = createTaskCoordinatorCore({ store, table, clock, ownsTable: false });
    await table.insert(pendingTaskRecord({ id: 'orphan', type: 'task', capabilities: [], payload: { n: 1 }, maxAttempts: 5, availableAt: 0, submittedAt: 0 }));
    const lease = (await a.claim({ workerId: 'w' }))!;
    expect(lease).toMatchObject({ taskId: 'orphan', attempt: 1, version: 2, payload: { n: 1 } });
    expect((await store.read(taskStreamId('orphan'))).map((e) => e.type)).toEqual(['coordinator.task.submitted', 'coordinator.task.claimed']);
    await a.close();
  });
});

describe('createBusTaskWakeup', () => {
  it('wakes a waiting worker of another coordinator when work is submitted, and carries no task data', async () => {
    const bus = createInMemoryBus();
    const seen: string[] = [];
    await bus.subscribe('buckley.coordinator.tasks.available', (m) => {
      seen.push(m.text());
    });
    const store = createInMemoryEventStore();
    const a = createInMemoryTaskCoordinator({ store, wakeup: createBusTaskWakeup(bus) });
    const b = createInMemoryTaskCoordinator({ store, wakeup: createBusTaskWakeup(bus), pollIntervalMs: 60_000 });
    const started = Date.now();
    const woke = b.waitForWork({ timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 10));
    await a.submit({ id: 'w1', payload: { secret: 'x' } });
    await woke;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(seen).toEqual(['']);
    await a.close();
    await b.close();
    await bus.close();
  });
});

describe('the event stream is the fence, whatever the tables say', () => {
  it('two coordinators whose dispatch tables both offer every task still complete each task exactly once', async () => {
    const store = createInMemoryEventStore();
    const tableA = new InMemoryTaskTable();
    const tableB = new InMemoryTaskTable();
    const a = createTaskCoordinatorCore({ store, table: tableA, leaseMs: 60_000 });
    const b = createTaskCoordinatorCore({ store, table: tableB, leaseMs: 60_000 });
    const ids = Array.from({ length: 40 }, (_, i) => `dup${i}`);
    for (const id of ids) {
      await a.submit({ id });
      await tableB.insert((await tableA.get(id))!);
    }
    const handled: string[] = [];
    const lost: unknown[] = [];
    const options = (workerId: string) => ({
      workerId,
      concurrency: 3,
      handler: async (lease: { taskId: string }) => {
        handled.push(lease.taskId);
        await new Promise((r) => setTimeout(r, 1));
      },
      onError: (error: unknown) => lost.push(error),
    });
    const workers = [runTaskWorker(a, options('a')), runTaskWorker(b, options('b'))];
    const deadline = Date.now() + 10_000;
    const completed = async () => (await store.readAll({ filter: { types: ['coordinator.task.completed'] } })).length;
    while ((await completed()) < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(workers.map((w) => w.close()));
    const events = await store.readAll({ filter: { types: ['coordinator.task.completed'] } });
    expect(events.map((e) => e.streamId).toSorted()).toEqual(ids.map(taskStreamId).toSorted());
    expect(workers[0]!.completed + workers[1]!.completed).toBe(ids.length);
    for (const id of ids) {
      const claims = (await store.read(taskStreamId(id))).filter((e) => e.type === 'coordinator.task.claimed');
      expect(claims).toHaveLength(1);
    }
    expect(lost).toEqual([]);
    expect(handled.toSorted()).toEqual(ids.toSorted());
    await a.close();
    await b.close();
  });
});

describe('task handler context', () => {
  it('gives the attempt, a stable key, the expected version and deterministic event ids, so a rerun handler writes its events once', async () => {
    const store = createInMemoryEventStore();
    const coordinator = createInMemoryTaskCoordinator({ store, retry: { baseDelayMs: 1, maxDelayMs: 1, jitter: 0 } });
    await coordinator.submit({ id: 'effects' });
    const seen: Array<{ attempt: number; key: string; expectedVersion: number; leaseVersion: number; eventId: string }> = [];
    const worker = runTaskWorker(coordinator, {
      workerId: 'w',
      handler: async (lease, context) => {
        seen.push({
          attempt: context.attempt,
          key: context.key,
          expectedVersion: context.expectedVersion,
          leaseVersion: lease.version,
          eventId: context.eventId('output'),
        });
        // The side effect happens, then the first run dies before completing.
        await store.append('output:effects', [{ id: context.eventId('output'), type: 'test.output', data: { attempt: context.attempt } }]);
        if (context.attempt === 1) throw new Error('died after its side effect');
        return { ok: true };
      },
    });
    const deadline = Date.now() + 10_000;
    while (worker.completed < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await worker.close();
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(new Set(seen.map((s) => s.key))).toEqual(new Set(['task:effects']));
    expect(seen[0]!.eventId).toBe(seen[1]!.eventId);
    for (const s of seen) expect(s.expectedVersion).toBe(s.leaseVersion);
    // Written once although the handler ran twice.
    expect((await store.read('output:effects')).map((e) => e.data)).toEqual([{ attempt: 1 }]);
    await coordinator.close();
  });
});

describe('task worker and a closed coordinator', () => {
  const settles = (promise: Promise<unknown>, ms: number) =>
    Promise.race([promise.then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('still running'), ms))]);

  it('a worker whose coordinator is closed stops by itself: done resolves and the ClosedError is reported once', async () => {
    const store = createInMemoryEventStore();
    const coordinator = createInMemoryTaskCoordinator({ store, pollIntervalMs: 20 });
    const errors: unknown[] = [];
    let handled = 0;
    const worker = runTaskWorker(coordinator, { workerId: 'w', handler: () => void handled++, onError: (e) => errors.push(e) });
    await coordinator.submit({ id: 'one' });
    for (const deadline = Date.now() + 5_000; worker.completed < 1 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
    await coordinator.close();
    expect(await settles(worker.done, 2_000)).toBe('settled');
    expect(errors).toHaveLength(1);
    expect(isClosedError(errors[0])).toBe(true);
    expect(handled).toBe(1);
    await worker.close();
    await worker.close();
  });

  it('a worker started on a closed coordinator ends at once', async () => {
    const coordinator = createInMemoryTaskCoordinator({ store: createInMemoryEventStore() });
    await coordinator.close();
    const errors: unknown[] = [];
    const worker = runTaskWorker(coordinator, { workerId: 'w', handler: () => undefined, onError: (e) => errors.push(e) });
    expect(await settles(worker.done, 2_000)).toBe('settled');
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['CLOSED']);
  });

  it('close() of a worker whose handler is running waits for it, and close() again is a no-op', async () => {
    const coordinator = createInMemoryTaskCoordinator({ store: createInMemoryEventStore() });
    await coordinator.submit({ id: 'slow' });
    let finished = false;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const worker = runTaskWorker(coordinator, {
      workerId: 'w',
      handler: async (_lease, { signal }) => {
        started();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        await new Promise((resolve) => setTimeout(resolve, 30));
        finished = true;
      },
    });
    await running;
    const first = worker.close();
    await worker.close();
    expect(finished).toBe(true);
    await first;
    await coordinator.close();
  });
});
