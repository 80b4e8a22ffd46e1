// Run by the migrations test in a child process: waits until the start time it is given (so
// two children migrate at the same moment), migrates, and prints the migrations it applied.
import { Kysely, PostgresDialect } from 'kysely';
import { Pool } from 'pg';
import { migrateEventStore } from './schema.js';

const [url, schema, startAt] = process.argv.slice(2);
const pool = new Pool({ connectionString: url, max: 1 });
const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
try {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  const result = await migrateEventStore(db, { schema });
  const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  process.stdout.write(JSON.stringify(applied));
} finally {
  await db.destroy();
}
