// The other process of pglite-durability.bench.ts. Usage:
//   pglite-worker.ts append <dataDir> <events>   appends, prints APPENDED, then waits to be killed
//   pglite-worker.ts open <dataDir>              opens the store, prints its timings as JSON, closes
import type { NewEvent } from '@buckley/events';
import { createPGliteEventStore } from '@buckley/postgres';

const [mode, dataDir, countArg] = process.argv.slice(2) as [string, string, string | undefined];
const sinceStart = performance.now();
const imported = performance.now();
await import('@electric-sql/pglite');
const importMs = performance.now() - imported;
const start = performance.now();
const store = await createPGliteEventStore({ dataDir });
const openMs = performance.now() - start;

if (mode === 'open') {
  process.stdout.write(`${JSON.stringify({ importMs, openMs, processMs: sinceStart + importMs + openMs })}\n`);
  await store.close();
} else {
  const data = { orderId: 'ord-000000000001', customer: { id: 'cus-42', tier: 'gold' }, total: 8997, currency: 'EUR', note: 'x'.repeat(120) };
  const metadata = { sessionId: 'session-0001', toolName: 'shell', outcome: 'success' as const };
  const total = Number(countArg);
  for (let i = 0; i < total; i += 100) {
    const events: NewEvent[] = Array.from({ length: Math.min(100, total - i) }, () => ({ type: 'order.placed', data, metadata }));
    await store.append(`stream-${i % 1000}`, events);
  }
  process.stdout.write('APPENDED\n');
  await new Promise(() => undefined);
}
