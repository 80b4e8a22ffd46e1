import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { describeOrchestratorSuite } from './orchestrator-suite.test-helper.js';

describeOrchestratorSuite('Postgres', () => createTestPostgresEventStore('orch'));
