import { createInMemoryBus } from '@buckley/bus';
import { describeBusConformance } from '@buckley/testing';

// One in-process "server" per file; each test's buses are connections to it.
const server = createInMemoryBus();
describeBusConformance({ name: 'InMemoryBus', prefix: 'mem', create: async () => server.connect() });
