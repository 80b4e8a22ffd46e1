import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { describeObserveMatrix } from './observe-matrix.test-helper.js';

describeObserveMatrix('Postgres store', () => createTestPostgresEventStore('observe'));
