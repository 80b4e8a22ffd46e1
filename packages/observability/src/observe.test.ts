import { createInMemoryEventStore } from '@buckley/events';
import { describeObserveMatrix } from './observe-matrix.test-helper.js';

describeObserveMatrix('in-memory store', async () => {
  const store = createInMemoryEventStore();
  return { store, close: () => store.close() };
});
