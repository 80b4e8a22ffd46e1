import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startFakeModelServer } from '@buckley/testing';
import { type TestPostgresEventStore, createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentModels } from './fixtures/experiment-models.js';
import { createExperimentRunner, createOrchestrator, experimentStreamId } from './index.js';

// The Postgres task coordinator through @buckley/testing's dependencies (ARCHITECTURE §2).
const fromTesting = createRequire(createRequire(import.meta.url).resolve('@buckley/testing/package.json'));
const { createPostgresTaskCoordinator } = await import(pathToFileURL(fromTesting.resolve('@buckley/postgres')).href);
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/experiment-worker.ts');
const children: ChildProcess[] = [];

function startWorker(args: readonly string[]) {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let stderr = '';
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let cut = buffer.indexOf('\n'); cut >= 0; cut = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 1);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return { child, lines, exited: once(child, 'exit'), stderr: () => stderr };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('an experiment shared by two worker processes (Postgres, real processes, real sandbox)', () => {
  let pg: TestPostgresEventStore;
  const ws = mkdtempSync('/var/tmp/buckley-experiment-procs-');
  beforeAll(async () => {
    pg = await createTestPostgresEventStore('experiment_procs');
    writeFileSync(join(ws, 'a.txt'), 'hello world\n');
    execFileSync('git', ['-C', ws, 'init', '-q', '-b', 'main']);
    execFileSync('git', ['-C', ws, '-c', 'user.email=t@t', '-c', 'user.name=t', 'add', '-A']);
    execFileSync('git', ['-C', ws, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '-m', 'init']);
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await pg.close();
    rmSync(ws, { recursive: true, force: true });
  });

  it('each run happens exactly once, both processes take runs, the ranking is as scripted', async () => {
    await using server = await startFakeModelServer({ script: experimentModels });
    // Migrates the tasks table before the workers open it.
    const coordinator = await createPostgresTaskCoordinator({ pool: pg.pg.pool, store: pg.store, schema: pg.pg.schema });
    await using orchestrator = createOrchestrator({ store: pg.store });
    const runner = createExperimentRunner({
      orchestrator,
      store: pg.store,
      coordinator,
      workspace: ws,
      environment: () => Promise.reject(new Error('this process runs nothing')),
    });
    const workers = ['w1', 'w2'].map((id) => startWorker([pg.pg.schema, ws, server.url, id]));
    await until('both workers to be ready', () => workers.every((w) => w.lines.includes('READY')));

    const variants = ['good', 'half', 'bad'].flatMap((model) => [1, 2].map((n) => ({ variantId: `${model}-${n}`, modelId: `model-${model}` })));
    await runner.start({
      experimentId: 'shared',
      name: 'shared runs',
      prompt: 'replace world with buckley in a.txt and write the test report',
      variants,
      criteria: [
        { name: 'renamed', kind: 'file_contains', path: 'a.txt', text: 'buckley' },
        { name: 'tests', kind: 'test_count', command: 'cat report.txt', pattern: '(\\d+) passed', min: 3 },
      ],
    });
    await until('the experiment to complete', async () => (await runner.get('shared')).status === 'completed');
    for (const w of workers) w.child.kill('SIGTERM');
    const reports = await Promise.all(
      workers.map(async (w) => {
        const [code] = await w.exited;
        expect({ code, stderr: code === 0 ? '' : w.stderr() }).toEqual({ code: 0, stderr: '' });
        return JSON.parse(w.lines.at(-1)!) as { workerId: string; completed: number; failed: number; errors: string[] };
      }),
    );
    expect(reports.reduce((n, r) => n + r.completed, 0)).toBe(6);
    expect(reports.every((r) => r.completed >= 1 && r.failed === 0)).toBe(true);

    const report = await runner.get('shared');
    expect(report.ranking.slice(0, 2).sort()).toEqual(['good-1', 'good-2']);
    expect(report.ranking.slice(4).sort()).toEqual(['bad-1', 'bad-2']);
    const events = await pg.store.read(experimentStreamId('shared'));
    const count = (type: string) =>
      Object.fromEntries(
        variants.map((v) => [v.variantId, events.filter((e) => e.type === type && (e.data as { variantId: string }).variantId === v.variantId).length]),
      );
    const once6 = Object.fromEntries(variants.map((v) => [v.variantId, 1]));
    expect(count('experiment.run_started')).toEqual(once6);
    expect(count('experiment.run_completed')).toEqual(once6);
    expect(events.filter((e) => e.type === 'experiment.completed')).toHaveLength(1);
    // Each run's model was asked exactly as often as its script needs: no run was made twice.
    expect(server.requests.filter((r) => r.body?.model === 'model-good')).toHaveLength(2 * 3);
    expect(server.requests.filter((r) => r.body?.model === 'model-half')).toHaveLength(2 * 2);
    expect(server.requests.filter((r) => r.body?.model === 'model-bad')).toHaveLength(2 * 1);
    await coordinator.close();
  });
});
