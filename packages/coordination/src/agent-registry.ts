import { BuckleyError, type BuckleyErrorOptions, type Clock, ClosedError, isBuckleyError, systemClock, uuidv7, deterministicUuid } from '@buckley/utils';
import type { EventStore, JsonObject, NewEvent } from '@buckley/events';
import { encodeSubjectToken } from '@buckley/bus';

/**
 * The `AgentRegistry` port (discovery): which agents are alive, what they can do and where to
 * reach them. An agent registers, then heartbeats; one that misses its heartbeats past the TTL
 * is removed and `agent.heartbeat_missed` then `agent.unregistered` are appended to its
 * stream `agent:<id>` in the event store. Adapters: the in-memory storage here, a NATS KV
 * bucket in `@buckley/nats`; both run `describeAgentRegistryConformance`.
 */

/** What an agent registers with. */
export interface AgentRegistration {
  /** Unique among live agents; no whitespace or control characters, at most 200 characters. */
  readonly id: string;
  /** What kind of agent it is, e.g. `'coder'`. Matched exactly by {@link AgentQuery.type}. */
  readonly type: string;
  readonly capabilities?: readonly string[];
  /** Free-form labels; a query's tags must all be present with equal values. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Where to reach it (a URL, or a bus subject); `''` when not given. */
  readonly endpoint?: string;
}

/** `agent.registered`: an agent joined with this registration; `data` of the event. */
export interface AgentRegisteredData {
  readonly agentId: string;
  readonly type: string;
  readonly capabilities: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  readonly endpoint: string;
  readonly registrationId: string;
  /** Time to live of a heartbeat, in milliseconds. */
  readonly ttlMs: number;
}

/** `agent.heartbeat_missed`: the registration outlived its TTL; always followed by `agent.unregistered`. */
export interface AgentHeartbeatMissedData {
  readonly agentId: string;
  readonly registrationId: string;
  /** ISO-8601 UTC. */
  readonly lastHeartbeatAt: string;
  /** ISO-8601 UTC. */
  readonly expiredAt: string;
  readonly ttlMs: number;
}

/** `agent.unregistered`: the registration ended; `reason` is `heartbeat_missed`, `unregistered` or the caller's. */
export interface AgentUnregisteredData {
  readonly agentId: string;
  readonly registrationId: string;
  readonly reason: string;
}

/**
 * The `agent.*` event family on stream `agent:<id>`, discriminated by `type`, so a reader
 * narrows `data` without casts.
 *
 * @example
 * ```ts
 * for (const event of (await store.read('agent:coder-1')) as unknown as AgentEvent[]) {
 *   if (event.type === 'agent.unregistered') console.log(event.data.reason);
 * }
 * ```
 */
export type AgentEvent =
  | { readonly type: 'agent.registered'; readonly data: AgentRegisteredData }
  | { readonly type: 'agent.heartbeat_missed'; readonly data: AgentHeartbeatMissedData }
  | { readonly type: 'agent.unregistered'; readonly data: AgentUnregisteredData };

/** A live agent as the registry holds it. */
export interface AgentRecord {
  readonly id: string;
  readonly type: string;
  /** Sorted, without duplicates. */
  readonly capabilities: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  readonly endpoint: string;
  /** Identifies this registration (a re-registration after removal gets a new one). */
  readonly registrationId: string;
  /** ISO-8601 UTC with milliseconds. */
  readonly registeredAt: string;
  readonly lastHeartbeatAt: string;
  /** When the agent expires unless it heartbeats first. */
  readonly expiresAt: string;
}

/** Filters of {@link AgentRegistry.find}; every given field must match. */
export interface AgentQuery {
  readonly type?: string;
  /** The agent must have all of them. */
  readonly capabilities?: readonly string[];
  /** The agent must carry each tag with the same value. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Discovery of live agents. */
export interface AgentRegistry extends AsyncDisposable {
  /** How long an agent stays alive after its last heartbeat, in milliseconds. */
  readonly ttlMs: number;
  /**
   * Registers an agent and appends `agent.registered`. If the append fails the registration
   * is rolled back and the error rethrown.
   *
   * @throws {AgentAlreadyRegisteredError} when a live agent has the id
   * @throws {InvalidAgentError} for a malformed registration
   */
  register(agent: AgentRegistration): Promise<AgentRecord>;
  /**
   * Extends the agent's life by the TTL from now.
   *
   * @throws {AgentNotFoundError} when the agent is not registered (or was already removed)
   * @throws {AgentExpiredError} when its TTL has passed: it must register again
   */
  heartbeat(id: string): Promise<AgentRecord>;
  /**
   * Removes a live agent and appends `agent.unregistered` with `reason`.
   *
   * @throws {AgentNotFoundError} when it is not registered
   */
  unregister(id: string, options?: { readonly reason?: string }): Promise<void>;
  /** The live agent with this id, if any. */
  get(id: string): Promise<AgentRecord | undefined>;
  /** Live agents matching `query`, ordered by id (code-unit order). */
  find(query?: AgentQuery): Promise<AgentRecord[]>;
  /**
   * Removes every agent whose TTL has passed, appending its events, and finishes removals a
   * crashed process left half done. Returns the ids removed. Runs on its own every
   * `sweepIntervalMs` unless that is 0. Safe to run from several processes at once: each
   * agent's events are appended exactly once.
   */
  sweep(): Promise<string[]>;
  /** Stops the sweeper. Does not close the storage, the store or their connections. */
  close(): Promise<void>;
}

/** Stable codes of the registry's errors. */
export const AgentRegistryErrorCode = {
  AlreadyRegistered: 'AGENT_ALREADY_REGISTERED',
  NotFound: 'AGENT_NOT_FOUND',
  Expired: 'AGENT_EXPIRED',
  Invalid: 'INVALID_AGENT',
  Conflict: 'AGENT_REGISTRY_CONFLICT',
} as const;

/** The base of the registry's errors. */
export class AgentRegistryError extends BuckleyError {}

/** A live agent already has this id. */
export class AgentAlreadyRegisteredError extends AgentRegistryError {
  readonly agentId: string;
  constructor(agentId: string, options?: BuckleyErrorOptions) {
    super(AgentRegistryErrorCode.AlreadyRegistered, `agent ${JSON.stringify(agentId)} is already registered`, options);
    this.agentId = agentId;
  }
}

/** No live agent has this id. */
export class AgentNotFoundError extends AgentRegistryError {
  readonly agentId: string;
  constructor(agentId: string, options?: BuckleyErrorOptions) {
    super(AgentRegistryErrorCode.NotFound, `agent ${JSON.stringify(agentId)} is not registered`, options);
    this.agentId = agentId;
  }
}

/** The agent missed its heartbeats past the TTL; it is (being) removed and must register again. */
export class AgentExpiredError extends AgentRegistryError {
  readonly agentId: string;
  readonly expiredAt: string;
  constructor(agentId: string, expiredAt: string, options?: BuckleyErrorOptions) {
    super(AgentRegistryErrorCode.Expired, `agent ${JSON.stringify(agentId)} expired at ${expiredAt}; register it again`, options);
    this.agentId = agentId;
    this.expiredAt = expiredAt;
  }
}

/** A registration field was missing or malformed. */
export class InvalidAgentError extends AgentRegistryError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(AgentRegistryErrorCode.Invalid, message, options);
  }
}

/** Concurrent writers kept changing the same agent; retryable. */
export class AgentRegistryConflictError extends AgentRegistryError {
  constructor(agentId: string, options?: BuckleyErrorOptions) {
    super(AgentRegistryErrorCode.Conflict, `agent ${JSON.stringify(agentId)} kept changing under concurrent writers`, {
      retryable: true,
      ...options,
    });
  }
}

/** True when `value` is one of the registry's errors, optionally with `code`. */
export function isAgentRegistryError(value: unknown, code?: string): value is AgentRegistryError {
  return isBuckleyError(value) && Object.values(AgentRegistryErrorCode).includes(value.code as never) && (code === undefined || value.code === code);
}

/** One stored value and its revision. */
export interface RevisionedValue {
  readonly value: string;
  /** Increases with every write of the key. */
  readonly revision: number;
}

/**
 * The compare-and-swap key/value storage a registry keeps its records in. Keys use
 * `[A-Za-z0-9_-]` (encoded agent ids). The in-memory one is {@link createInMemoryAgentStorage};
 * `@buckley/nats` has one over a KV bucket.
 */
export interface AgentRegistryStorage {
  /** Writes `value` if the key is absent; the new revision, or `undefined` when it exists. */
  create(key: string, value: string): Promise<number | undefined>;
  get(key: string): Promise<RevisionedValue | undefined>;
  /** Writes `value` if the key is at `revision`; the new revision, or `undefined` on a mismatch. */
  update(key: string, value: string, revision: number): Promise<number | undefined>;
  /** Deletes the key if it is at `revision`; false on a mismatch or when absent. */
  delete(key: string, revision: number): Promise<boolean>;
  /** Every present key. */
  keys(): Promise<string[]>;
}

/** Options of {@link createAgentRegistry}. */
export interface AgentRegistryOptions {
  readonly storage: AgentRegistryStorage;
  /** Where the `agent.*` events go (stream `agent:<id>`). */
  readonly store: EventStore;
  /** Default 30,000 ms. */
  readonly ttlMs?: number;
  /** How often to sweep expired agents; default `ttlMs / 2`; 0 turns the automatic sweep off. */
  readonly sweepIntervalMs?: number;
  readonly clock?: Clock;
  /** Receives errors of the automatic sweep; default a process warning. */
  readonly onError?: (error: unknown) => void;
}

interface StoredRecord extends AgentRecord {
  /** Set when a removal has been claimed; its events are appended next, then the key deleted. */
  readonly removing?: { readonly reason: string; readonly missed: boolean };
}

const MAX_CAS_ATTEMPTS = 20;

/**
 * Builds an {@link AgentRegistry} over `storage`. All adapters share this logic, so expiry,
 * events and ordering are the same everywhere; only the storage differs.
 *
 * Removal is claimed first with a compare-and-swap write that marks the record `removing`
 * (so two sweepers, or a sweeper and `unregister`, cannot both win), then the events are
 * appended with ids derived from the registration (so a retried append writes nothing
 * twice), then the key is deleted. A crash in between leaves a `removing` record that the next
 * sweep finishes; no event is lost and none is doubled.
 *
 * @example
 * ```ts
 * const registry = createAgentRegistry({ storage: createInMemoryAgentStorage(), store, ttlMs: 10_000 });
 * await registry.register({ id: 'a1', type: 'coder', capabilities: ['ts'] });
 * await registry.find({ capabilities: ['ts'] }); // [a1]
 * ```
 */
export function createAgentRegistry(options: AgentRegistryOptions): AgentRegistry {
  return new SharedAgentRegistry(options);
}

class SharedAgentRegistry implements AgentRegistry {
  readonly ttlMs: number;
  readonly #storage: AgentRegistryStorage;
  readonly #store: EventStore;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  readonly #sweepIntervalMs: number;
  #cancelSweep: (() => void) | undefined;
  #sweeping: Promise<unknown> | undefined;
  #closed = false;

  constructor(options: AgentRegistryOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isFinite(this.ttlMs) || this.ttlMs <= 0) {
      throw new InvalidAgentError(`agent registry option ttlMs ${JSON.stringify(this.ttlMs)} must be a finite number > 0`);
    }
    this.#storage = options.storage;
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#onError =
      options.onError ?? ((error) => process.emitWarning(`agent registry sweep failed: ${(error as Error).message}`, { code: 'BUCKLEY_AGENT_SWEEP' }));
    this.#sweepIntervalMs = options.sweepIntervalMs ?? this.ttlMs / 2;
    this.#schedule();
  }

  async register(agent: AgentRegistration): Promise<AgentRecord> {
    this.#checkOpen();
    const base = normalize(agent);
    const key = encodeSubjectToken(base.id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const now = this.#clock.now();
      const record: StoredRecord = {
        ...base,
        registrationId: uuidv7(),
        registeredAt: iso(now),
        lastHeartbeatAt: iso(now),
        expiresAt: iso(now + this.ttlMs),
      };
      const revision = await this.#storage.create(key, JSON.stringify(record));
      if (revision === undefined) {
        const existing = await this.#read(key);
        if (existing === undefined) continue;
        if (existing.record.removing === undefined && !this.#expired(existing.record)) throw new AgentAlreadyRegisteredError(base.id);
        await this.#remove(key, existing, existing.record.removing ?? { reason: 'heartbeat_missed', missed: true });
        continue;
      }
      try {
        await this.#store.append(streamOf(base.id), [
          {
            id: deterministicUuid('buckley.agent', record.registrationId, 'registered'),
            type: 'agent.registered',
            data: {
              agentId: record.id,
              type: record.type,
              capabilities: [...record.capabilities],
              tags: { ...record.tags },
              endpoint: record.endpoint,
              registrationId: record.registrationId,
              ttlMs: this.ttlMs,
            } satisfies AgentRegisteredData,
            metadata: { agentId: record.id },
          },
        ]);
      } catch (error) {
        await this.#storage.delete(key, revision).catch(() => false);
        throw error;
      }
      return publicRecord(record);
    }
    throw new AgentRegistryConflictError(base.id);
  }

  async heartbeat(id: string): Promise<AgentRecord> {
    this.#checkOpen();
    const key = keyOf(id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#read(key);
      if (current === undefined || current.record.removing !== undefined) throw new AgentNotFoundError(id);
      if (this.#expired(current.record)) throw new AgentExpiredError(id, current.record.expiresAt);
      const now = this.#clock.now();
      const next: StoredRecord = { ...current.record, lastHeartbeatAt: iso(now), expiresAt: iso(now + this.ttlMs) };
      if ((await this.#storage.update(key, JSON.stringify(next), current.revision)) !== undefined) return publicRecord(next);
    }
    throw new AgentRegistryConflictError(id);
  }

  async unregister(id: string, options: { readonly reason?: string } = {}): Promise<void> {
    this.#checkOpen();
    const key = keyOf(id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#read(key);
      if (current === undefined || current.record.removing !== undefined) throw new AgentNotFoundError(id);
      // A concurrent heartbeat moves the revision; read again and retry the claim.
      if (await this.#remove(key, current, { reason: options.reason ?? 'unregistered', missed: false })) return;
    }
    throw new AgentRegistryConflictError(id);
  }

  async get(id: string): Promise<AgentRecord | undefined> {
    this.#checkOpen();
    const current = await this.#read(keyOf(id));
    if (current === undefined || !this.#live(current.record)) return undefined;
    return publicRecord(current.record);
  }

  async find(query: AgentQuery = {}): Promise<AgentRecord[]> {
    this.#checkOpen();
    const records = await this.#all();
    return records
      .map((r) => r.record)
      .filter((r) => this.#live(r) && matches(r, query))
      .map(publicRecord)
      .toSorted((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async sweep(): Promise<string[]> {
    this.#checkOpen();
    const removed: string[] = [];
    for (const entry of await this.#all()) {
      const { record } = entry;
      const reason = record.removing ?? (this.#expired(record) ? { reason: 'heartbeat_missed', missed: true } : undefined);
      if (reason === undefined) continue;
      if (await this.#remove(encodeSubjectToken(record.id), entry, reason)) removed.push(record.id);
    }
    return removed.toSorted();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelSweep?.();
    await this.#sweeping?.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Claims the removal of `entry` (unless already claimed), appends its events and deletes
   * the key. False when another writer changed the record first (it was heartbeated or removed).
   */
  async #remove(key: string, entry: { record: StoredRecord; revision: number }, removing: { reason: string; missed: boolean }): Promise<boolean> {
    let { record, revision } = entry;
    if (record.removing === undefined) {
      const claimed: StoredRecord = { ...record, removing };
      const next = await this.#storage.update(key, JSON.stringify(claimed), revision);
      if (next === undefined) return false;
      record = claimed;
      revision = next;
    }
    const mark = record.removing!;
    const events: NewEvent[] = [];
    if (mark.missed) {
      events.push({
        id: deterministicUuid('buckley.agent', record.registrationId, 'heartbeat_missed'),
        type: 'agent.heartbeat_missed',
        data: {
          agentId: record.id,
          registrationId: record.registrationId,
          lastHeartbeatAt: record.lastHeartbeatAt,
          expiredAt: record.expiresAt,
          ttlMs: this.ttlMs,
        } satisfies AgentHeartbeatMissedData,
        metadata: { agentId: record.id },
      });
    }
    events.push({
      id: deterministicUuid('buckley.agent', record.registrationId, 'unregistered'),
      type: 'agent.unregistered',
      data: { agentId: record.id, registrationId: record.registrationId, reason: mark.reason } satisfies AgentUnregisteredData,
      metadata: { agentId: record.id },
    });
    await this.#store.append(streamOf(record.id), events);
    return this.#storage.delete(key, revision);
  }

  async #read(key: string): Promise<{ record: StoredRecord; revision: number } | undefined> {
    const found = await this.#storage.get(key);
    if (found === undefined) return undefined;
    return { record: JSON.parse(found.value) as StoredRecord, revision: found.revision };
  }

  async #all(): Promise<Array<{ record: StoredRecord; revision: number }>> {
    const keys = await this.#storage.keys();
    const entries = await Promise.all(keys.map((k) => this.#read(k)));
    return entries.filter((e) => e !== undefined);
  }

  #expired(record: AgentRecord): boolean {
    return this.#clock.now() >= Date.parse(record.expiresAt);
  }

  #live(record: StoredRecord): boolean {
    return record.removing === undefined && !this.#expired(record);
  }

  #schedule(): void {
    if (this.#sweepIntervalMs <= 0 || this.#closed) return;
    this.#cancelSweep = this.#clock.setTimeout(() => {
      this.#sweeping = this.sweep()
        .catch((error: unknown) => {
          if (!this.#closed) this.#onError(error);
        })
        .finally(() => this.#schedule());
    }, this.#sweepIntervalMs);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('agent registry');
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function streamOf(id: string): string {
  return `agent:${id}`;
}

function keyOf(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidAgentError(`agent id ${JSON.stringify(id)} must be a non-empty string`);
  return encodeSubjectToken(id);
}

function normalize(agent: AgentRegistration): Omit<AgentRecord, 'registrationId' | 'registeredAt' | 'lastHeartbeatAt' | 'expiresAt'> {
  if (typeof agent !== 'object' || agent === null) throw new InvalidAgentError(`agent ${JSON.stringify(agent)} must be an object`);
  const { id, type, capabilities = [], tags = {}, endpoint = '' } = agent;
  if (typeof id !== 'string' || id.length === 0 || id.length > 200 || /[\s\p{Cc}]/u.test(id)) {
    throw new InvalidAgentError(`agent id ${JSON.stringify(id)} must be 1-200 characters without whitespace or control characters`);
  }
  if (typeof type !== 'string' || type.length === 0) throw new InvalidAgentError(`agent type ${JSON.stringify(type)} must be a non-empty string`);
  if (!Array.isArray(capabilities) || capabilities.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new InvalidAgentError(`agent capabilities ${JSON.stringify(capabilities)} must be non-empty strings`);
  }
  if (typeof tags !== 'object' || tags === null || Object.values(tags).some((v) => typeof v !== 'string')) {
    throw new InvalidAgentError(`agent tags ${JSON.stringify(tags)} must map names to strings`);
  }
  if (typeof endpoint !== 'string') throw new InvalidAgentError(`agent endpoint ${JSON.stringify(endpoint)} must be a string`);
  return { id, type, capabilities: [...new Set(capabilities)].toSorted(), tags: { ...tags } as JsonObject as Record<string, string>, endpoint };
}

function matches(record: AgentRecord, query: AgentQuery): boolean {
  if (query.type !== undefined && record.type !== query.type) return false;
  if (query.capabilities?.some((c) => !record.capabilities.includes(c))) return false;
  if (query.tags !== undefined && Object.entries(query.tags).some(([k, v]) => record.tags[k] !== v)) return false;
  return true;
}

function publicRecord(record: StoredRecord): AgentRecord {
  return {
    id: record.id,
    type: record.type,
    capabilities: [...record.capabilities],
    tags: { ...record.tags },
    endpoint: record.endpoint,
    registrationId: record.registrationId,
    registeredAt: record.registeredAt,
    lastHeartbeatAt: record.lastHeartbeatAt,
    expiresAt: record.expiresAt,
  };
}

/**
 * Compare-and-swap storage in this process's memory, for the embedded registry and tests.
 * Share one instance between registries to model several processes on one bucket.
 */
export function createInMemoryAgentStorage(): AgentRegistryStorage {
  const entries = new Map<string, RevisionedValue>();
  let revision = 0;
  return {
    async create(key, value) {
      if (entries.has(key)) return undefined;
      entries.set(key, { value, revision: ++revision });
      return revision;
    },
    async get(key) {
      return entries.get(key);
    },
    async update(key, value, expected) {
      if (entries.get(key)?.revision !== expected) return undefined;
      entries.set(key, { value, revision: ++revision });
      return revision;
    },
    async delete(key, expected) {
      if (entries.get(key)?.revision !== expected) return false;
      entries.delete(key);
      return true;
    },
    async keys() {
      return [...entries.keys()];
    },
  };
}
