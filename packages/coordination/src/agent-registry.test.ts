import { createAgentRegistry, createInMemoryAgentStorage } from '@buckley/coordination';
import { describeAgentRegistryConformance } from '@buckley/testing';

describeAgentRegistryConformance({
  name: 'in-memory storage',
  setup: async () => {
    const storage = createInMemoryAgentStorage();
    return {
      create: async (options) => createAgentRegistry({ storage, ...options }),
      cleanup: async () => {},
    };
  },
});
