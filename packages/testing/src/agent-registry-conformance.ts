import { checkSkips } from './errors.js';
import { AgentAlreadyRegisteredError, AgentExpiredError, AgentNotFoundError, type AgentRegistry, InvalidAgentError } from '@buckley/coordination';
import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { ClosedError, ManualClock } from '@buckley/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { rejected } from './errors.js';
import { waitUntil } from './wait.js';

/** What {@link AgentRegistryFixture.create} is given. */
export interface AgentRegistryCreateOptions {
  readonly store: EventStore;
  readonly clock: ManualClock;
  readonly ttlMs: number;
  /** 0 = no automatic sweep. */
  readonly sweepIntervalMs: number;
}

/** One test's backing storage (a fresh bucket, a fresh map). */
export interface AgentRegistryFixture {
  /**
   * A registry over this fixture's storage. Each call models another process: for NATS a
   * new connection to the same bucket. The suite closes the registries; `cleanup` closes the
   * rest.
   */
  create(options: AgentRegistryCreateOptions): Promise<AgentRegistry>;
  cleanup(): Promise<void>;
}

/** What an adapter test gives {@link describeAgentRegistryConformance}. */
export interface AgentRegistryConformanceOptions {
  readonly name: string;
  /** Fresh, empty storage for one test. */
  readonly setup: () => Promise<AgentRegistryFixture>;
  readonly skip?: Readonly<Record<string, string>>;
}

const TTL = 10_000;

/**
 * The behaviour every agent registry adapter must have: registration with events, duplicate
 * and invalid input, filtered deterministic discovery, heartbeats, TTL expiry with
 * `agent.heartbeat_missed` + `agent.unregistered` exactly once across concurrent sweepers,
 * rollback on a failed append, and survival across a restart.
 */
export function describeAgentRegistryConformance(options: AgentRegistryConformanceOptions): void {
  const skip = options.skip ?? {};
  let fixture: AgentRegistryFixture | undefined;
  let registries: AgentRegistry[] = [];
  const titles: string[] = [];
  const test = (title: string, fn: () => Promise<void>) => {
    titles.push(title);
    if (skip[title] !== undefined) return;
    // oxlint-disable-next-line vitest/valid-title, vitest/expect-expect -- titles and assertions come from the suite's cases
    it(title, fn);
  };
  const env = async (overrides: Partial<AgentRegistryCreateOptions> = {}) => {
    fixture ??= await options.setup();
    const clock = overrides.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
    const store = overrides.store ?? createInMemoryEventStore({ now: () => clock.now() });
    const open = async (more: Partial<AgentRegistryCreateOptions> = {}) => {
      const registry = await fixture!.create({ store, clock, ttlMs: TTL, sweepIntervalMs: 0, ...overrides, ...more });
      registries.push(registry);
      return registry;
    };
    const types = async (id: string) => (await store.read(`agent:${id}`)).map((e) => e.type);
    return { clock, store, open, types, registry: await open() };
  };

  describe(`AgentRegistry conformance: ${options.name}`, () => {
    // Runs after every case below has registered its title.
    checkSkips(titles, skip);
    afterEach(async () => {
      await Promise.all(registries.map((r) => r.close()));
      registries = [];
      await fixture?.cleanup();
      fixture = undefined;
    });

    test('register returns the record and appends agent.registered to agent:<id>', async () => {
      const { registry, store, clock } = await env();
      const record = await registry.register({
        id: 'agent:a.1',
        type: 'coder',
        capabilities: ['ts', 'go', 'ts'],
        tags: { zone: 'eu' },
        endpoint: 'buckley.agent.a.inbox',
      });
      expect(record).toMatchObject({
        id: 'agent:a.1',
        type: 'coder',
        capabilities: ['go', 'ts'],
        tags: { zone: 'eu' },
        endpoint: 'buckley.agent.a.inbox',
        registeredAt: new Date(clock.now()).toISOString(),
        expiresAt: new Date(clock.now() + TTL).toISOString(),
      });
      expect(await registry.get('agent:a.1')).toEqual(record);
      const events = await store.read('agent:agent:a.1');
      expect(events.map((e) => e.type)).toEqual(['agent.registered']);
      expect(events[0]!.data).toEqual({
        agentId: 'agent:a.1',
        type: 'coder',
        capabilities: ['go', 'ts'],
        tags: { zone: 'eu' },
        endpoint: 'buckley.agent.a.inbox',
        registrationId: record.registrationId,
        ttlMs: TTL,
      });
      expect(events[0]!.metadata.agentId).toBe('agent:a.1');
    });

    test('a second registration of a live id fails and appends nothing', async () => {
      const { registry, types } = await env();
      await registry.register({ id: 'a', type: 'coder' });
      const error = await rejected(registry.register({ id: 'a', type: 'reviewer' }));
      expect(error).toBeInstanceOf(AgentAlreadyRegisteredError);
      expect((await registry.get('a'))?.type).toBe('coder');
      expect(await types('a')).toEqual(['agent.registered']);
    });

    test('malformed registrations fail with InvalidAgentError and store nothing', async () => {
      const { registry, store } = await env();
      for (const bad of [
        { id: '', type: 'x' },
        { id: 'has space', type: 'x' },
        { id: 'a', type: '' },
        { id: 'a', type: 'x', capabilities: [''] },
        { id: 'a', type: 'x', tags: { k: 1 as unknown as string } },
      ]) {
        expect(await rejected(registry.register(bad))).toBeInstanceOf(InvalidAgentError);
      }
      expect(await registry.find()).toEqual([]);
      expect(await store.readAll()).toEqual([]);
    });

    test('find filters by type, all capabilities and tags, ordered by id', async () => {
      const { registry } = await env();
      await registry.register({ id: 'c', type: 'coder', capabilities: ['ts', 'go'], tags: { zone: 'eu', tier: 'gold' } });
      await registry.register({ id: 'a', type: 'coder', capabilities: ['ts'], tags: { zone: 'us' } });
      await registry.register({ id: 'b', type: 'reviewer', capabilities: ['ts', 'go'], tags: { zone: 'eu' } });
      await registry.register({ id: 'B', type: 'coder', capabilities: [] });
      const ids = async (q: Parameters<AgentRegistry['find']>[0]) => (await registry.find(q)).map((r) => r.id);
      expect(await ids({})).toEqual(['B', 'a', 'b', 'c']);
      expect(await ids({ type: 'coder' })).toEqual(['B', 'a', 'c']);
      expect(await ids({ capabilities: ['ts'] })).toEqual(['a', 'b', 'c']);
      expect(await ids({ capabilities: ['ts', 'go'] })).toEqual(['b', 'c']);
      expect(await ids({ type: 'coder', capabilities: ['go'] })).toEqual(['c']);
      expect(await ids({ tags: { zone: 'eu' } })).toEqual(['b', 'c']);
      expect(await ids({ tags: { zone: 'eu', tier: 'gold' } })).toEqual(['c']);
      expect(await ids({ capabilities: ['rust'] })).toEqual([]);
      expect(await ids({ type: 'nobody' })).toEqual([]);
    });

    test('heartbeats keep an agent alive past its first TTL', async () => {
      const { registry, clock } = await env();
      await registry.register({ id: 'a', type: 'coder' });
      await clock.advance(TTL - 1);
      const beat = await registry.heartbeat('a');
      expect(beat.expiresAt).toBe(new Date(clock.now() + TTL).toISOString());
      await clock.advance(TTL - 1);
      expect(await registry.sweep()).toEqual([]);
      expect((await registry.get('a'))?.id).toBe('a');
      expect(await rejected(registry.heartbeat('nobody'))).toBeInstanceOf(AgentNotFoundError);
    });

    test('past its TTL an agent disappears and the sweep appends heartbeat_missed then unregistered', async () => {
      const { registry, clock, store, types } = await env();
      const record = await registry.register({ id: 'a', type: 'coder' });
      await registry.register({ id: 'b', type: 'coder' });
      await clock.advance(TTL / 2);
      await registry.heartbeat('b');
      await clock.advance(TTL / 2);
      expect(await registry.get('a')).toBeUndefined();
      expect((await registry.find()).map((r) => r.id)).toEqual(['b']);
      expect(await rejected(registry.heartbeat('a'))).toBeInstanceOf(AgentExpiredError);
      expect(await registry.sweep()).toEqual(['a']);
      expect(await registry.sweep()).toEqual([]);
      expect(await types('a')).toEqual(['agent.registered', 'agent.heartbeat_missed', 'agent.unregistered']);
      const [, missed, gone] = await store.read('agent:a');
      expect(missed!.data).toMatchObject({ agentId: 'a', registrationId: record.registrationId, expiredAt: record.expiresAt, ttlMs: TTL });
      expect(gone!.data).toEqual({ agentId: 'a', registrationId: record.registrationId, reason: 'heartbeat_missed' });
      expect(await rejected(registry.heartbeat('a'))).toBeInstanceOf(AgentNotFoundError);
      expect(await types('b')).toEqual(['agent.registered']);
    });

    test('the automatic sweep removes expired agents on its own', async () => {
      const { open, clock, types } = await env();
      const swept = await open({ sweepIntervalMs: 1_000 });
      await swept.register({ id: 'a', type: 'coder' });
      await clock.advance(TTL + 1_000);
      await waitUntil(async () => (await types('a')).length === 3, { message: 'automatic sweep' });
      expect(await types('a')).toEqual(['agent.registered', 'agent.heartbeat_missed', 'agent.unregistered']);
    });

    test('unregister removes the agent with its reason; an unknown id fails and appends nothing', async () => {
      const { registry, types, store } = await env();
      await registry.register({ id: 'a', type: 'coder' });
      await registry.unregister('a', { reason: 'shutdown' });
      expect(await registry.get('a')).toBeUndefined();
      expect(await types('a')).toEqual(['agent.registered', 'agent.unregistered']);
      expect((await store.read('agent:a'))[1]!.data.reason).toBe('shutdown');
      expect(await rejected(registry.unregister('a'))).toBeInstanceOf(AgentNotFoundError);
      expect(await rejected(registry.unregister('ghost'))).toBeInstanceOf(AgentNotFoundError);
      expect(await types('a')).toHaveLength(2);
      expect(await types('ghost')).toEqual([]);
    });

    test('an expired id can register again after its removal events', async () => {
      const { registry, clock, types } = await env();
      const first = await registry.register({ id: 'a', type: 'coder' });
      await clock.advance(TTL);
      const second = await registry.register({ id: 'a', type: 'coder' });
      expect(second.registrationId).not.toBe(first.registrationId);
      expect(await types('a')).toEqual(['agent.registered', 'agent.heartbeat_missed', 'agent.unregistered', 'agent.registered']);
    });

    test('a failed append rolls the registration back', async () => {
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const inner = createInMemoryEventStore();
      let failNext = true;
      const store = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'append') {
            return async (...args: Parameters<EventStore['append']>) => {
              if (failNext) {
                failNext = false;
                throw new Error('store down');
              }
              return target.append(...args);
            };
          }
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const { registry } = await env({ store, clock });
      expect(((await rejected(registry.register({ id: 'a', type: 'coder' }))) as Error).message).toBe('store down');
      expect(await registry.get('a')).toBeUndefined();
      expect(await registry.find()).toEqual([]);
      expect(await inner.read('agent:a')).toEqual([]);
      await registry.register({ id: 'a', type: 'coder' });
      expect((await inner.read('agent:a')).map((e) => e.type)).toEqual(['agent.registered']);
    });

    test('concurrent sweepers in several processes append the removal events exactly once', async () => {
      const { registry, open, clock, types } = await env();
      const others = [await open(), await open()];
      for (const id of ['a', 'b', 'c']) await registry.register({ id, type: 'coder' });
      await clock.advance(TTL);
      const results = await Promise.all([registry, ...others].map((r) => r.sweep()));
      expect(results.flat().toSorted()).toEqual(['a', 'b', 'c']);
      for (const id of ['a', 'b', 'c']) {
        expect(await types(id)).toEqual(['agent.registered', 'agent.heartbeat_missed', 'agent.unregistered']);
      }
    });

    test('a restarted process sees the agents that are still alive', async () => {
      const { registry, open, clock } = await env();
      await registry.register({ id: 'a', type: 'coder', capabilities: ['ts'] });
      await registry.register({ id: 'b', type: 'coder' });
      await registry.close();
      await clock.advance(TTL / 2);
      const restarted = await open();
      expect((await restarted.find({ capabilities: ['ts'] })).map((r) => r.id)).toEqual(['a']);
      await restarted.heartbeat('a');
      await clock.advance(TTL / 2);
      expect((await restarted.find()).map((r) => r.id)).toEqual(['a']);
    });

    test('a closed registry rejects calls', async () => {
      const { registry } = await env();
      await registry.close();
      await registry.close();
      expect(await rejected(registry.register({ id: 'a', type: 'x' }))).toBeInstanceOf(ClosedError);
      expect(await rejected(registry.find())).toBeInstanceOf(ClosedError);
    });
  });
}
