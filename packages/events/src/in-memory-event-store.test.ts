import { describeEventStoreConformance, describeOutcomeQueryConformance } from '@buckley/testing';
import { createInMemoryEventStore } from './index.js';

describeEventStoreConformance({ name: 'in-memory', create: (options) => createInMemoryEventStore(options) });
describeOutcomeQueryConformance({ name: 'in-memory', create: (options) => createInMemoryEventStore(options) });
