import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInMemoryTaskCoordinator } from '@buckley/coordination';
import { createInMemoryEventStore } from '@buckley/events';
import { startFakeModelServer } from '@buckley/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { experimentEnvironment } from './fixtures/experiment-environment.js';
import { experimentModels } from './fixtures/experiment-models.js';
import { type ExperimentSpec, createExperimentRunner, createOrchestrator, experimentStreamId } from './index.js';

const base = mkdtempSync('/var/tmp/buckley-experiment-test-');
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A workspace; a git repository with one commit when `git` is true. */
function experimentWorkspace(name: string, git: boolean): string {
  const ws = join(base, name);
  execFileSync('mkdir', ['-p', ws]);
  writeFileSync(join(ws, 'a.txt'), 'hello world\n');
  if (git) {
    const run = (...args: string[]) => execFileSync('git', ['-C', ws, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { stdio: 'pipe' });
    run('init', '-q', '-b', 'main');
    run('add', '-A');
    run('commit', '-q', '-m', 'init');
  }
  return ws;
}

const spec = (experimentId: string): ExperimentSpec => ({
  experimentId,
  name: 'rename world',
  hypothesis: 'the good model does it all',
  prompt: 'replace world with buckley in a.txt and write the test report',
  variants: [
    { variantId: 'bad', modelId: 'model-bad' },
    { variantId: 'half', modelId: 'model-half' },
    { variantId: 'good', modelId: 'model-good' },
  ],
  criteria: [
    { name: 'renamed', kind: 'file_contains', path: 'a.txt', text: 'buckley' },
    { name: 'grep', kind: 'command_succeeds', command: 'grep -q buckley a.txt' },
    { name: 'tests', kind: 'test_count', command: 'cat report.txt', pattern: '(\\d+) passed', min: 3 },
  ],
});

describe('experiments: three scripted models, each in its own copy, scored and ranked from the log', () => {
  it.each([
    ['a git repository (worktrees)', true],
    ['a plain directory (copies)', false],
  ])('%s', async (_label, git) => {
    const ws = experimentWorkspace(`ws-${git ? 'git' : 'plain'}`, git);
    await using server = await startFakeModelServer({ script: experimentModels });
    await using store = createInMemoryEventStore();
    await using coordinator = createInMemoryTaskCoordinator({ store });
    await using orchestrator = createOrchestrator({ store });
    const runner = createExperimentRunner({ orchestrator, store, coordinator, workspace: ws, environment: experimentEnvironment(store, server.url) });
    const id = `exp-${git ? 'git' : 'plain'}`;
    const started = await runner.start(spec(id));
    expect(started).toMatchObject({ status: 'running', runs: [] });
    await expect(runner.start(spec(id))).rejects.toMatchObject({ code: 'EXPERIMENT_EXISTS' });
    const errors: unknown[] = [];
    const worker = runner.work({ workerId: 'w1', onError: (e) => errors.push(e) });
    let report = await runner.get(id);
    for (let i = 0; i < 400 && report.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      report = await runner.get(id);
    }
    await worker.close();
    expect(errors).toEqual([]);
    expect(report.status).toBe('completed');
    expect(report.ranking).toEqual(['good', 'half', 'bad']);
    expect(Object.fromEntries(report.runs.map((r) => [r.variantId, r.score]))).toEqual({ good: 1, half: 2 / 3, bad: 0 });
    const good = report.runs.find((r) => r.variantId === 'good')!;
    expect(good).toMatchObject({ modelId: 'model-good', outcome: 'success', stopReason: 'end_turn', steps: 3, inputTokens: 600, outputTokens: 30 });
    expect(good.costUsd).toBeCloseTo((600 + 60) / 1e6, 12);
    expect(good.criteria.map((c) => [c.criterion, c.passed, c.details])).toEqual([
      ['renamed', true, 'found'],
      ['grep', true, 'exit code 0'],
      ['tests', true, 'count 3, at least 3 wanted'],
    ]);
    // Each run worked in its own copy; the workspace itself is untouched.
    expect(readFileSync(join(ws, 'a.txt'), 'utf8')).toBe('hello world\n');
    const copies = join(ws, '.buckley', 'experiments', id);
    expect(readFileSync(join(copies, 'good', 'a.txt'), 'utf8')).toBe('hello buckley\n');
    expect(readFileSync(join(copies, 'bad', 'a.txt'), 'utf8')).toBe('hello world\n');
    expect(existsSync(join(copies, 'good', '.git'))).toBe(git);
    // The log: started, one run_started and one run_completed per variant, completed once; attributed.
    const events = await store.read(experimentStreamId(id));
    expect(events.map((e) => e.type).sort()).toEqual(
      ['experiment.started', 'experiment.completed', ...Array(3).fill('experiment.run_started'), ...Array(3).fill('experiment.run_completed')].sort(),
    );
    expect(events.find((e) => e.type === 'experiment.run_started' && (e.data as { variantId: string }).variantId === 'good')?.data).toMatchObject({
      copy: git ? 'worktree' : 'copy',
    });
    for (const e of events) expect({ type: e.type, id: e.metadata.experimentId }).toEqual({ type: e.type, id });
    for (const e of events.filter((e) => e.type === 'experiment.run_completed'))
      expect(e.metadata).toMatchObject({ modelId: expect.stringMatching(/^model-/), outcome: 'success' });
    // Every event of the run's session is attributed to the experiment, and each model was asked as scripted.
    const session = await store.read(`session:${good.sessionId}`);
    for (const e of session.slice(2)) expect(e.metadata.experimentId).toBe(id);
    expect(server.requests.filter((r) => r.body?.model === 'model-good')).toHaveLength(3);
    expect(server.requests.filter((r) => r.body?.model === 'model-bad')).toHaveLength(1);

    // The outcome query answers which model succeeded, at what cost and duration.
    const perModel = await store.queryOutcomes({ filter: { types: ['experiment.run_completed'], experimentId: id }, groupBy: ['modelId'] });
    expect(perModel.map((r) => [r.group.modelId, r.runs, r.successRate, r.inputTokens])).toEqual([
      ['model-bad', 1, 1, 100],
      ['model-good', 1, 1, 600],
      ['model-half', 1, 1, 300],
    ]);
    expect(perModel.every((r) => r.timedRuns === 1 && r.p50DurationMs !== null && r.costUsd > 0)).toBe(true);
    // Re-scored from the log alone: nothing runs again.
    const asked = server.requests.length;
    const rescored = await runner.rescore(id, { only: ['tests'] });
    // Ties are broken by cost: `bad` spent one turn, `half` two.
    expect(rescored.ranking).toEqual(['good', 'bad', 'half']);
    expect(Object.fromEntries(rescored.runs.map((r) => [r.variantId, r.score]))).toEqual({ good: 1, half: 0, bad: 0 });
    const weighted = await runner.rescore(id, { weights: { tests: 0 } });
    expect(Object.fromEntries(weighted.runs.map((r) => [r.variantId, r.score]))).toEqual({ good: 1, half: 1, bad: 0 });
    expect(server.requests.length).toBe(asked);
    await expect(runner.rescore(id, { weights: { tests: -1 } })).rejects.toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
    await expect(runner.get('nope')).rejects.toMatchObject({ code: 'EXPERIMENT_NOT_FOUND' });
  });

  it('a malformed experiment is refused with a clear error and writes nothing', async () => {
    await using store = createInMemoryEventStore();
    await using coordinator = createInMemoryTaskCoordinator({ store });
    await using orchestrator = createOrchestrator({ store });
    const runner = createExperimentRunner({ orchestrator, store, coordinator, workspace: base, environment: () => Promise.reject(new Error('unused')) });
    const good = spec('x1');
    for (const bad of [
      { ...good, variants: [] },
      { ...good, variants: [good.variants[0]!, good.variants[0]!] },
      { ...good, criteria: [{ name: 'r', kind: 'test_count', command: 'x', pattern: '(', min: 1 }] },
      { ...good, criteria: [{ name: 'r', kind: 'nope' }] },
      { ...good, criteria: [{ name: 'r', kind: 'file_contains', path: 'a', text: 'b', weight: -1 }] },
      { ...good, prompt: '' },
      { ...good, experimentId: 'x'.repeat(61) },
    ]) {
      await expect(runner.start(bad as ExperimentSpec)).rejects.toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
    }
    expect(await store.read(experimentStreamId('x1'))).toEqual([]);
    expect(await coordinator.list({})).toEqual([]);
  });
});
