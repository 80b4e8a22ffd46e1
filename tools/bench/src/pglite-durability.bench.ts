// PGlite durability benchmark: what an append costs with the embedded store's crash-safe
// settings (its own PGlite on a locked data directory, synchronous_commit on the command line)
// against the store over a PGlite opened the way it was before them, and how long a fresh
// process takes to open a data directory: cleanly closed, and after a kill -9 with a small and a
// large amount of WAL to replay. `pnpm --filter @buckley/bench bench pglite-durability`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { EventStore, NewEvent } from '@buckley/events';
import { createPGliteEventStore } from '@buckley/postgres';
import { PGlite } from '@electric-sql/pglite';
import { type BenchRow, latencyStats, report } from './harness.js';

const tsx = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');
const worker = join(import.meta.dirname, 'pglite-worker.ts');
const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
const event = (): NewEvent => ({
  type: 'order.placed',
  data: { orderId: 'ord-000000000001', customer: { id: 'cus-42', tier: 'gold' }, total: 8997, currency: 'EUR' },
  metadata: { sessionId: 'session-0001', toolName: 'shell', outcome: 'success' },
});

function runDetached(args: string[], until: string) {
  const child = spawn(tsx, ['--conditions=@buckley/source', worker, ...args], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const done = new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith(until)) res(line);
    });
    void exited.then(() => rej(new Error(`worker ${args.join(' ')} exited before ${until}`)));
  });
  return {
    done,
    kill: async () => {
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

async function openInFreshProcess(dataDir: string): Promise<{ importMs: number; openMs: number; processMs: number }> {
  const line = await runDetached(['open', dataDir], '{').done;
  return JSON.parse(line) as { importMs: number; openMs: number; processMs: number };
}

async function appendFigures(store: EventStore, singles: number, batches: number) {
  const single: number[] = [];
  for (let i = 0; i < singles; i++) {
    const start = performance.now();
    await store.append('single', [event()]);
    single.push(performance.now() - start);
  }
  const start = performance.now();
  for (let i = 0; i < batches; i++) await store.append(`batch-${i}`, Array.from({ length: 100 }, event));
  return { p50: latencyStats(single).p50, batched: (batches * 100) / ((performance.now() - start) / 1000) };
}

export default async function pgliteDurability(): Promise<void> {
  const rows: BenchRow[] = [];
  const load: Record<string, number[]> = { start: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), 'buckley-bench-pglite-durability-'));
  try {
    // 1. Append cost: the store's own PGlite (locked data directory, synchronous_commit=on on the
    // command line) against the store over a PGlite created with PGlite's defaults, alternating.
    const fixed: Array<{ p50: number; batched: number }> = [];
    const before: Array<{ p50: number; batched: number }> = [];
    for (let round = 0; round < 3; round++) {
      {
        const store = await createPGliteEventStore({ dataDir: join(dir, `fixed-${round}`) });
        fixed.push(await appendFigures(store, 200, 10));
        await store.close();
      }
      {
        const pglite = await PGlite.create({ dataDir: join(dir, `before-${round}`) });
        const store = await createPGliteEventStore({ pglite });
        before.push(await appendFigures(store, 200, 10));
        await store.close();
        await pglite.close();
      }
    }
    const p50 = median(fixed.map((f) => f.p50));
    const p50Before = median(before.map((f) => f.p50));
    const batched = median(fixed.map((f) => f.batched));
    const batchedBefore = median(before.map((f) => f.batched));
    rows.push(
      {
        name: 'pglite disk: single-event append p50, crash-safe store',
        unit: 'ms',
        value: p50,
        baseline: p50Before,
        ratio: p50 / p50Before,
        ratioNote: 'of PGlite defaults',
      },
      {
        name: 'pglite disk: batched append (100/call), crash-safe store',
        unit: 'events/s',
        value: batched,
        baseline: batchedBefore,
        ratio: batched / batchedBefore,
        ratioNote: 'of PGlite defaults',
      },
    );
    load.afterAppends = loadavg();

    // 2. Open in a fresh process (node + tsx start, wasm instantiate, Postgres start, migrations
    // check): a cleanly closed directory, then after a kill -9 with little and with much WAL
    // written since the last checkpoint (PGlite checkpoints only on close and after recovery).
    const db = join(dir, 'recovery');
    await openInFreshProcess(db); // initdb + migrate, closed cleanly
    const clean: number[] = [];
    const cleanImport: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = await openInFreshProcess(db);
      clean.push(t.openMs);
      cleanImport.push(t.importMs);
    }
    rows.push({ name: 'pglite: open store in a fresh process, cleanly closed dataDir', unit: 'ms', value: median(clean) });
    rows.push({ name: 'pglite: import @electric-sql/pglite in a fresh process', unit: 'ms', value: median(cleanImport) });
    for (const events of [1_000, 20_000]) {
      const crashed: number[] = [];
      for (let i = 0; i < 3; i++) {
        const appender = runDetached(['append', db, String(events)], 'APPENDED');
        await appender.done;
        await appender.kill();
        crashed.push((await openInFreshProcess(db)).openMs);
      }
      rows.push({
        name: `pglite: open store in a fresh process after kill -9, ${events.toLocaleString('en-US')} events since the last checkpoint`,
        unit: 'ms',
        value: median(crashed),
        baseline: median(clean),
        ratio: median(crashed) / median(clean),
        ratioNote: 'of a clean open',
      });
      load[`afterRecovery${events}`] = loadavg();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.lock`, { force: true });
  }
  load.end = loadavg();
  report('pglite-durability', rows, { load, pglite: '0.5.16' });
}
