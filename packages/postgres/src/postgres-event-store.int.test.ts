import { describeEventStoreConformance } from '@buckley/testing';
import { type TestPostgres, createTestPostgres } from '@buckley/testing/postgres';
import { afterAll, beforeAll } from 'vitest';
import { createPostgresEventStore } from './index.js';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await createTestPostgres('store');
});
afterAll(() => pg?.close());

describeEventStoreConformance({
  name: 'postgres',
  create: (options) => createPostgresEventStore({ ...options, pool: pg.pool, schema: pg.schema, pollMs: 200 }),
});
