import { describeAgentRegistryConformance, randomSuffix } from '@buckley/testing';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createNatsAgentRegistry, openNatsAgentStorage } from './nats-agent-registry.js';
import { connectTest } from './test-env.js';

const filePrefix = `t_reg_${randomSuffix()}`;
let n = 0;

describeAgentRegistryConformance({
  name: 'NATS KV',
  setup: async () => {
    const bucket = `${filePrefix}_${++n}`;
    const connections: NatsConnection[] = [];
    return {
      // Each registry gets its own connection, as a separate runtime process would.
      create: async (options) => {
        const nc = await connectTest('nats-agent-registry.int.test');
        connections.push(nc);
        return createNatsAgentRegistry(nc, { ...options, bucket, bucketTtlMs: 60_000 });
      },
      cleanup: async () => {
        const nc = connections[0] ?? (await connectTest());
        await (await new Kvm(nc).open(bucket)).destroy().catch(() => false);
        await Promise.all(connections.map((c) => c.drain()));
        if (connections.length === 0) await nc.drain();
      },
    };
  },
});

describe('NATS agent storage', () => {
  it('uses a bucket with history 1 and the backstop TTL as max_age', async () => {
    const nc = await connectTest();
    try {
      const bucket = `${filePrefix}_cfg`;
      const { kv } = await openNatsAgentStorage(nc, { bucket, bucketTtlMs: 120_000 });
      const status = await kv.status();
      expect(status.history).toBe(1);
      expect(status.ttl).toBe(120_000);
      await kv.destroy();
    } finally {
      await nc.drain();
    }
  });
});
