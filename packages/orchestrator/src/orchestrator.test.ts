import { createInMemoryEventStore } from '@buckley/events';
import { describeOrchestratorSuite } from './orchestrator-suite.test-helper.js';

describeOrchestratorSuite('the in-memory store', async () => {
  const store = createInMemoryEventStore();
  return { store, [Symbol.asyncDispose]: () => store.close() };
});
