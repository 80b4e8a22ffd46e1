import { describeBusConformance, randomSuffix } from '@buckley/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll } from 'vitest';
import { createNatsBus } from './nats-bus.js';
import { connectTest } from './test-env.js';

const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.drain()));
});

describeBusConformance({
  name: 'NatsBus',
  prefix: `t_${randomSuffix()}`,
  create: async () => {
    const nc = await connectTest('nats-bus.int.test');
    connections.push(nc);
    return createNatsBus(nc);
  },
});
