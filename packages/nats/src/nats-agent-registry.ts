import { type AgentRegistry, type AgentRegistryOptions, type AgentRegistryStorage, createAgentRegistry } from '@buckley/coordination';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/** The default KV bucket of the agent registry. */
export const DEFAULT_AGENT_BUCKET = 'buckley_agents';

/** Options of {@link openNatsAgentStorage}. */
export interface NatsAgentStorageOptions {
  /** KV bucket name; default {@link DEFAULT_AGENT_BUCKET}. */
  readonly bucket?: string;
  /**
   * The bucket's `ttl` (the stream's `max_age`), in milliseconds: a backstop that lets the
   * server drop a record nobody has written for this long, when no registry process was left
   * to sweep it. Every heartbeat rewrites the record, so live agents are never dropped. It
   * must be well above the agents' TTL; the registry's own sweep (which appends the events)
   * normally removes expired agents long before. 0 turns it off. Default 1 hour.
   */
  readonly bucketTtlMs?: number;
}

/** Options of {@link createNatsAgentRegistry}. */
export interface NatsAgentRegistryOptions extends Omit<AgentRegistryOptions, 'storage'>, NatsAgentStorageOptions {}

/**
 * Compare-and-swap agent storage over a NATS KV bucket: `create` is the KV's create
 * (first writer wins), `update` and `delete` carry the expected revision, so concurrent
 * registry processes never overwrite each other.
 */
export function natsAgentStorage(kv: KV): AgentRegistryStorage {
  return {
    async create(key, value) {
      try {
        return await kv.create(key, value);
      } catch (error) {
        if (isWrongSequence(error)) return undefined;
        throw error;
      }
    },
    async get(key) {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== 'PUT') return undefined;
      return { value: entry.string(), revision: entry.revision };
    },
    async update(key, value, revision) {
      try {
        return await kv.update(key, value, revision);
      } catch (error) {
        if (isWrongSequence(error)) return undefined;
        throw error;
      }
    },
    async delete(key, revision) {
      try {
        await kv.delete(key, { previousSeq: revision });
        return true;
      } catch (error) {
        if (isWrongSequence(error)) return false;
        throw error;
      }
    },
    async keys() {
      const out: string[] = [];
      for await (const key of await kv.keys()) out.push(key);
      return out;
    },
  };
}

/**
 * Opens (creating if needed) the registry's KV bucket with history 1 and the backstop TTL.
 * nats-server 2.9 has no per-key TTL (that came with 2.11's `markerTTL`), so an agent's
 * expiry is the `expiresAt` in its record, checked by every reader and enforced by the
 * registry's sweep; see the package README.
 */
export async function openNatsAgentStorage(nc: NatsConnection, options: NatsAgentStorageOptions = {}): Promise<{ storage: AgentRegistryStorage; kv: KV }> {
  const { bucket = DEFAULT_AGENT_BUCKET, bucketTtlMs = 3_600_000 } = options;
  const kv = await new Kvm(nc).create(bucket, { history: 1, ...(bucketTtlMs > 0 ? { ttl: bucketTtlMs } : {}) });
  return { storage: natsAgentStorage(kv), kv };
}

/**
 * An {@link AgentRegistry} whose records live in a NATS KV bucket, so every runtime process
 * on the bus sees the same agents and a restarted process finds the ones still alive. The
 * caller owns `nc` and closes it after the registry.
 *
 * @example
 * ```ts
 * const registry = await createNatsAgentRegistry(nc, { store, ttlMs: 15_000 });
 * await registry.register({ id: 'coder-1', type: 'coder', capabilities: ['ts'] });
 * setInterval(() => registry.heartbeat('coder-1'), 5_000);
 * ```
 */
export async function createNatsAgentRegistry(nc: NatsConnection, options: NatsAgentRegistryOptions): Promise<AgentRegistry> {
  const { bucket, bucketTtlMs, ...rest } = options;
  const { storage } = await openNatsAgentStorage(nc, {
    ...(bucket === undefined ? {} : { bucket }),
    ...(bucketTtlMs === undefined ? {} : { bucketTtlMs }),
  });
  return createAgentRegistry({ ...rest, storage });
}

function isWrongSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
