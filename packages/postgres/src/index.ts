export { createPostgresEventStore } from './postgres.js';
export type { PostgresEventStoreOptions, PostgresEventStorePool, PostgresListenClient, PostgresNotification } from './postgres.js';
export { createPGliteEventStore } from './pglite.js';
export type { PGliteEventStoreOptions, PGliteLike } from './pglite.js';
export { SqlEventStore } from './postgres-event-store.js';
export type { EventStoreBackend, SqlEventStoreOptions } from './postgres-event-store.js';
export { DEFAULT_SCHEMA, migrateEventStore, notifyChannel } from './schema.js';
export type { MigrateEventStoreOptions } from './schema.js';
