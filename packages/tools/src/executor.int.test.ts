import { mkdtempSync, rmSync } from 'node:fs';
import { defaultConfig } from '@buckley/config';
import { createInMemoryEventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { createSandbox } from '@buckley/sandbox';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AnyTool, type Approver, createToolExecutor, createToolRegistry, defineTool, toolFailure } from './index.js';

const ws = mkdtempSync('/var/tmp/buckley-executor-test-');
afterAll(() => rmSync(ws, { recursive: true, force: true }));

function setup(tools: AnyTool[], options: { mode?: 'ask' | 'auto'; approver?: Approver; maxResultBytes?: number } = {}) {
  const store = createInMemoryEventStore();
  const recorder = createRecorder({ store });
  const c = defaultConfig();
  const config = { approval: { ...c.approval, mode: options.mode ?? 'auto' }, sandbox: c.sandbox };
  const sandbox = createSandbox({ config: c.sandbox, workspace: ws });
  const executor = createToolExecutor({
    registry: createToolRegistry({ builtins: tools }),
    sandbox,
    recorder,
    config,
    workspace: ws,
    approver: options.approver,
    maxResultBytes: options.maxResultBytes,
    retry: { attempts: 3, delayMs: 1 },
  });
  const types = async (id: string) => (await store.readAll()).filter((e) => (e.data as { operationId?: string }).operationId === id).map((e) => e.type);
  const events = async (id: string) => (await store.readAll()).filter((e) => (e.data as { operationId?: string }).operationId === id);
  return {
    executor,
    store,
    types,
    events,
    [Symbol.asyncDispose]: async () => (await executor.close(), await recorder.close(), await sandbox.close(), await store.close()),
  };
}

const busy = () => Object.assign(new Error('resource busy'), { code: 'EBUSY' });

describe('retry: infrastructure faults only, side effects only when idempotent', () => {
  it('retries a transient fault of a read-only tool and records one lifecycle', async () => {
    let calls = 0;
    const flaky = defineTool({
      name: 'flaky',
      description: 'Fails twice',
      input: z.object({}),
      readOnly: true,
      handler: () => (++calls < 3 ? Promise.reject(busy()) : 'ok'),
    });
    await using h = setup([flaky]);
    expect(await h.executor.execute({ id: 'c1', name: 'flaky', arguments: '{}' })).toEqual({ ok: true, output: 'ok' });
    expect(calls).toBe(3);
    expect(await h.types('c1')).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.completed']);
  });

  it('never retries a tool with side effects that is not idempotent: the fault rejects and is tool.run.failed', async () => {
    let calls = 0;
    const append = defineTool({
      name: 'append',
      description: 'Side effect',
      input: z.object({}),
      readOnly: false,
      approvalClass: 'workspace_write',
      handler: () => (calls++, Promise.reject(busy())),
    });
    await using h = setup([append]);
    await expect(h.executor.execute({ id: 'c2', name: 'append', arguments: '{}' })).rejects.toThrow('resource busy');
    expect(calls).toBe(1);
    const end = (await h.events('c2')).at(-1)!;
    expect(end).toMatchObject({ type: 'tool.run.failed', data: { errorCode: 'EBUSY' } });
  });

  it('retries a side-effecting tool declared idempotent; never retries a non-transient fault', async () => {
    let put = 0;
    let broken = 0;
    const upsert = defineTool({
      name: 'upsert',
      description: 'Idempotent write',
      input: z.object({}),
      readOnly: false,
      idempotent: true,
      approvalClass: 'workspace_write',
      handler: () => (++put < 2 ? Promise.reject(busy()) : 'done'),
    });
    const bug = defineTool({
      name: 'bug',
      description: 'A bug',
      input: z.object({}),
      readOnly: true,
      handler: () => (broken++, Promise.reject(new TypeError('x is undefined'))),
    });
    await using h = setup([upsert, bug]);
    expect(await h.executor.execute({ id: 'c3', name: 'upsert', arguments: '{}' })).toEqual({ ok: true, output: 'done' });
    expect(put).toBe(2);
    await expect(h.executor.execute({ id: 'c4', name: 'bug', arguments: '{}' })).rejects.toThrow(TypeError);
    expect(broken).toBe(1);
  });
});

describe('order, timeout, cancellation, cap', () => {
  it('validates before asking: invalid arguments never reach the approver', async () => {
    let asked = 0;
    const write = defineTool({
      name: 'w',
      description: 'Writes',
      input: z.object({ n: z.number() }),
      readOnly: false,
      approvalClass: 'workspace_write',
      handler: () => 1,
    });
    await using h = setup([write], { mode: 'ask', approver: async () => (asked++, 'allow_once') });
    expect(await h.executor.execute({ id: 'c5', name: 'w', arguments: '{"n":"x"}' })).toMatchObject({ ok: false, code: 'INVALID_ARGUMENTS' });
    expect(asked).toBe(0);
    expect(await h.types('c5')).toEqual(['tool.run.requested', 'tool.run.failed']);
  });

  it('a tool past its deadline is stopped through its signal and ends as tool.run.timed_out', async () => {
    let aborted = false;
    const slow = defineTool({
      name: 'slow',
      description: 'Waits',
      input: z.object({ ms: z.number() }),
      readOnly: true,
      timeoutMs: ({ ms }) => ms,
      handler: (_i, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve('late')))),
    });
    await using h = setup([slow]);
    expect(await h.executor.execute({ id: 'c6', name: 'slow', arguments: '{"ms":100}' })).toMatchObject({
      ok: false,
      code: 'TOOL_TIMED_OUT',
      details: { timeoutMs: 100 },
    });
    expect(aborted).toBe(true);
    expect((await h.types('c6')).at(-1)).toBe('tool.run.timed_out');
  });

  it("the caller's abort cancels the call: TOOL_CANCELLED and tool.run.cancelled", async () => {
    const wait = defineTool({
      name: 'wait',
      description: 'Waits',
      input: z.object({}),
      readOnly: true,
      handler: (_i, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve('x'))),
    });
    await using h = setup([wait]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user pressed ctrl-c')), 50);
    expect(await h.executor.execute({ id: 'c7', name: 'wait', arguments: '{}' }, { signal: controller.signal })).toMatchObject({
      ok: false,
      code: 'TOOL_CANCELLED',
    });
    expect((await h.types('c7')).at(-1)).toBe('tool.run.cancelled');
  });

  it('caps any result shape: one huge string, many small values, huge failure details; secrets at the cut leave no prefix', async () => {
    const token = `ghp_${'A1'.repeat(18)}`;
    const shapes = defineTool({
      name: 'shapes',
      description: 'Big outputs',
      input: z.object({ kind: z.enum(['string', 'array', 'failure', 'cut']) }),
      readOnly: true,
      handler: ({ kind }) =>
        kind === 'string'
          ? 'y'.repeat(10_000_000)
          : kind === 'array'
            ? Array.from({ length: 200_000 }, (_, i) => i)
            : kind === 'failure'
              ? toolFailure('BIG', 'm'.repeat(100_000), { log: 'l'.repeat(1_000_000) })
              : `${'z'.repeat(3255)} ${token}${'q'.repeat(2000)}`, // the cut (at 3276 bytes) falls inside the token
    });
    await using h = setup([shapes], { maxResultBytes: 4096 });
    for (const kind of ['string', 'array', 'failure', 'cut']) {
      const result = await h.executor.execute({ id: `cap-${kind}`, name: 'shapes', arguments: JSON.stringify({ kind }) });
      const text = JSON.stringify(result);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096 + 64);
      expect(text).not.toContain(token.slice(0, 10));
      expect({ kind, truncated: result.ok ? result.truncated : result.details?.truncated }).toEqual({ kind, truncated: true });
    }
  });
});

describe('execute resolves whatever a tool returns', () => {
  const nested = (levels: number, wrap: (inner: unknown) => unknown) => {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i++) value = wrap(value);
    return value;
  };
  const depthOf = (value: unknown): number => {
    let depth = 0;
    for (let level = [value]; level.length > 0; depth++) level = level.flatMap((v) => (v !== null && typeof v === 'object' ? Object.values(v) : []));
    return depth;
  };

  it('a 5000-deep output or failure details, a cycle and a BigInt resolve with a result (the cut part marked), recorded as outcomes', async () => {
    const cyclic: { name: string; self?: unknown } = { name: 'loop' };
    cyclic.self = cyclic;
    const odd = defineTool({
      name: 'odd',
      description: 'Odd outputs',
      input: z.object({ kind: z.enum(['objects', 'arrays', 'details', 'cycle', 'bigint']) }),
      readOnly: true,
      handler: ({ kind }) =>
        kind === 'objects'
          ? { structured: nested(5000, (a) => ({ a })) }
          : kind === 'arrays'
            ? nested(100_000, (a) => [a])
            : kind === 'details'
              ? toolFailure('DEEP', 'deep details', { tree: nested(5000, (a) => ({ a })) as never })
              : kind === 'cycle'
                ? cyclic
                : { n: 10n ** 30n },
    });
    await using h = setup([odd]);
    for (const kind of ['objects', 'arrays', 'details'] as const) {
      const result = await h.executor.execute({ id: `odd-${kind}`, name: 'odd', arguments: JSON.stringify({ kind }) });
      expect(result.ok ? result.truncated : result.details?.truncated).toBe(true);
      expect(JSON.stringify(result)).toContain('[Truncated: too deep]');
      expect(depthOf(result)).toBeLessThanOrEqual(34);
      expect((await h.types(`odd-${kind}`)).at(-1)).toBe(kind === 'details' ? 'tool.run.failed' : 'tool.run.completed');
    }
    const cycle = await h.executor.execute({ id: 'odd-cycle', name: 'odd', arguments: '{"kind":"cycle"}' });
    expect(cycle).toEqual({ ok: true, output: { name: 'loop', self: '[Circular]' }, truncated: true });
    expect(await h.executor.execute({ id: 'odd-bigint', name: 'odd', arguments: '{"kind":"bigint"}' })).toEqual({
      ok: true,
      output: { n: '1000000000000000000000000000000' },
    });
    expect((await h.types('odd-bigint')).at(-1)).toBe('tool.run.completed');
  });
});

describe('the size cap cuts in linear time and keeps the head of a huge line', () => {
  it('52k letters, a space and 20k more (a cut through the second run) is cut at once; a 10 MB single line keeps its head', async () => {
    const line = defineTool({
      name: 'line',
      description: 'Long lines',
      input: z.object({ kind: z.enum(['runs', 'huge', 'edge']) }),
      readOnly: true,
      handler: ({ kind }) =>
        kind === 'runs'
          ? `${'a'.repeat(52_000)} ${'b'.repeat(20_000)}`
          : kind === 'huge'
            ? 'y'.repeat(10_000_000)
            : `${'c'.repeat(52_428)} ${'d'.repeat(20_000)}`,
    });
    await using h = setup([line]); // the default cap: 64 KiB, one string gets 80 % of it (52,428 bytes)
    // The old tail regex backtracked over the first run from each of its positions: seconds; a linear cut takes milliseconds.
    const t0 = performance.now();
    const runs = await h.executor.execute({ id: 'line-runs', name: 'line', arguments: '{"kind":"runs"}' });
    expect(performance.now() - t0).toBeLessThan(2000);
    // The cut went through the b run: what is left of it goes (it could be a secret's prefix), the a run stays.
    expect(runs).toEqual({ ok: true, output: `${'a'.repeat(52_000)} …[truncated]`, truncated: true });

    const huge = await h.executor.execute({ id: 'line-huge', name: 'line', arguments: '{"kind":"huge"}' });
    expect(huge).toEqual({ ok: true, output: `${'y'.repeat(52_428 - 1024)}…[truncated]`, truncated: true });
    // A cut right after a whole run (the next character is a space) goes through nothing: the run stays.
    const edge = await h.executor.execute({ id: 'line-edge', name: 'line', arguments: '{"kind":"edge"}' });
    expect(edge).toEqual({ ok: true, output: `${'c'.repeat(52_428)}…[truncated]`, truncated: true });
  });
});
