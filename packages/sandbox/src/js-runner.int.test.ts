import { afterAll, describe, expect, it } from 'vitest';
import { createJsRunner } from './index.js';

const js = createJsRunner({ memoryLimitMb: 32, timeoutMs: 500, maxConsoleBytes: 4096, killGraceMs: 1000 });
afterAll(() => js.close());

describe('JsRunner', () => {
  it('returns the last expression, with copied globals in and a copied value out', async () => {
    const input = { a: 1, b: [2, 3] };
    const r = await js.run('input.b.push(4); ({ sum: input.a + input.b.reduce((x, y) => x + y), b: input.b })', { globals: { input } });
    expect(r).toMatchObject({ ok: true, value: { sum: 10, b: [2, 3, 4] } });
    expect(input.b).toEqual([2, 3]);
  });

  it('awaits a promise result', async () => {
    expect(await js.run('(async () => { await null; return 42; })()')).toMatchObject({ ok: true, value: 42 });
  });

  it('captures console output', async () => {
    const r = await js.run('console.log("hello", { x: 1 }); console.error("bad"); 1');
    expect(r.logs).toEqual([
      { level: 'log', text: 'hello {"x":1}' },
      { level: 'error', text: 'bad' },
    ]);
    expect(r.logsTruncated).toBe(false);
  });

  it('a thrown error is a value with its name and message', async () => {
    const r = await js.run('throw new RangeError("nope")');
    expect(r).toMatchObject({ ok: false, error: { kind: 'error', name: 'RangeError', message: 'nope' } });
  });

  it('an infinite loop stops at the timeout and the runner keeps working', async () => {
    const started = performance.now();
    const r = await js.run('for (;;) {}', { timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    // Loose bound (shared 2-core machine): the loop never ends, so any return proves the timeout.
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await js.run('1 + 1')).toMatchObject({ ok: true, value: 2 });
  });

  it('an endless promise chain stops at the wall clock', async () => {
    const r = await js.run('(async () => { for (;;) { await null; } })()', { timeoutMs: 200 });
    expect(r.ok).toBe(false);
    expect(await js.run('"alive"')).toMatchObject({ ok: true, value: 'alive' });
  });

  it('a memory bomb is contained and the caller survives', async () => {
    const r = await js.run('const a = []; for (;;) a.push(new Array(1e5).fill(1.5));', { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, error: { kind: 'memory' } });
    expect(await js.run('"still here"')).toMatchObject({ ok: true, value: 'still here' });
  });

  it.each([
    ['process', 'typeof process'],
    ['require', 'typeof require'],
    ['fetch', 'typeof fetch'],
    ['setTimeout', 'typeof setTimeout'],
    ['setInterval', 'typeof setInterval'],
    ['queueMicrotask-free timers: setImmediate', 'typeof setImmediate'],
    ['Buffer', 'typeof Buffer'],
    ['the host callback behind console', 'typeof __buckleyLog'],
  ])('%s is not reachable', async (_name, code) => {
    expect(await js.run(code)).toMatchObject({ ok: true, value: 'undefined' });
  });

  it('the Function constructor does not lead to the host either', async () => {
    const r = await js.run('this.constructor.constructor("return typeof process")()');
    expect(r).toMatchObject({ ok: true, value: 'undefined' });
    const viaConsole = await js.run('console.log.constructor("return typeof process")()');
    expect(viaConsole).toMatchObject({ ok: true, value: 'undefined' });
  });

  it('prototype pollution stays inside the isolate', async () => {
    const r = await js.run('Object.prototype.polluted = "yes"; Array.prototype.push = null; JSON.parse(\'{"__proto__": {"polluted2": "yes"}}\')');
    expect(r.ok).toBe(true);
    const plain: Record<string, unknown> = {};
    expect(plain.polluted).toBeUndefined();
    expect(plain.polluted2).toBeUndefined();
    expect(typeof [].push).toBe('function');
    expect(await js.run('({}).polluted')).toMatchObject({ ok: true });
    expect((await js.run('({}).polluted')) as { value?: unknown }).not.toHaveProperty('value', 'yes');
  });

  it('huge console output is capped and flagged', async () => {
    const r = await js.run('for (let i = 0; i < 1e6; i++) console.log("line " + i); "done"', { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: true, value: 'done', logsTruncated: true });
    const bytes = r.logs.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0);
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(r.logs[0]).toEqual({ level: 'log', text: 'line 0' });
  });

  it('a non-copyable result is an error value, not a leaked reference', async () => {
    const r = await js.run('(() => 1)');
    expect(r.ok).toBe(false);
  });

  it('loaded modules answer warm calls with copied arguments', async () => {
    await using mod = await js.load('let calls = 0; function add(a, b) { calls++; return a + b; } function count() { return calls; }');
    expect(await mod.call('add', [1, 2])).toMatchObject({ ok: true, value: 3 });
    expect(await mod.call('add', [[1], [2]])).toMatchObject({ ok: true, value: '12' });
    expect(await mod.call('count')).toMatchObject({ ok: true, value: 2 });
    expect(await mod.call('missing')).toMatchObject({ ok: false, error: { kind: 'error' } });
    await mod.dispose();
    expect(await mod.call('count')).toMatchObject({ ok: false, error: { kind: 'disposed' } });
  });

  it('a crash of the runner process is a result, and the next run restarts it', async () => {
    const own = createJsRunner({ timeoutMs: 500 });
    try {
      const mod = await own.load('function spin() { for (;;) {} }');
      // A wedged process: the isolate timeout is bypassed by killing the child from outside.
      const pending = mod.call('spin', [], { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 100));
      const pid = own.pid;
      expect(pid).not.toBeNull();
      process.kill(pid!, 'SIGKILL');
      expect(await pending).toMatchObject({ ok: false, error: { kind: 'crash' } });
      expect(await own.run('"fresh"')).toMatchObject({ ok: true, value: 'fresh' });
    } finally {
      await own.close();
    }
  });
});
