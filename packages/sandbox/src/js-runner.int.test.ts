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
    // The wall clock only stops a bomb that never reaches the heap limit; near the limit V8 spends
    // seconds in GC on a loaded 2-core machine, so the deadline is generous.
    const r = await js.run('const a = []; for (;;) a.push(new Array(1e5).fill(1.5));', { timeoutMs: 30_000 });
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

  describe('host functions', () => {
    it('a call returns the host result, with arguments and results copied', async () => {
      const seen: unknown[][] = [];
      const hostObject = { n: 1 };
      const r = await js.run(
        '(async () => { const a = await lookup("k", { x: [1, 2] }); a.n = 99; const b = await add(2, 3); return { a, b, name: lookup.name, isAsync: lookup(1) instanceof Promise }; })()',
        {
          functions: {
            lookup: async (...args: unknown[]) => {
              seen.push(args);
              return hostObject;
            },
            add: (a: number, b: number) => a + b,
          },
        },
      );
      expect(r).toMatchObject({ ok: true, value: { a: { n: 99 }, b: 5, name: 'lookup', isAsync: true } });
      expect(seen).toEqual([['k', { x: [1, 2] }], [1]]);
      expect(hostObject).toEqual({ n: 1 });
    });

    it('a host function that throws rejects in the isolate with a plain message only', async () => {
      class HostError extends Error {
        secret = 'host-only';
      }
      const r = await js.run(
        `(async () => { try { await fail(); } catch (e) {
           return { own: Object.getOwnPropertyNames(e).sort(), name: e.name, message: e.message, isError: e instanceof Error, stack: String(e.stack), secret: e.secret, cause: e.cause };
         } })()`,
        {
          functions: {
            fail: async () => {
              throw new HostError('no such record', { cause: new Error('db down') });
            },
          },
        },
      );
      expect(r.ok).toBe(true);
      const v = (r as { value: Record<string, unknown> }).value;
      expect(v).toMatchObject({ own: ['message', 'stack'], name: 'Error', message: 'no such record', isError: true });
      expect(v.secret).toBeUndefined();
      expect(v.cause).toBeUndefined();
      expect(v.stack).not.toMatch(/js-runner|node:|\/work\/|HostError/);
      const thrownSync = await js.run('boom().catch((e) => e.message)', {
        functions: {
          boom: () => {
            throw new TypeError('sync failure');
          },
        },
      });
      expect(thrownSync).toMatchObject({ ok: true, value: 'sync failure' });
    });

    it('arguments that are not copyable reject clearly, and the host is not called', async () => {
      let calls = 0;
      const functions = {
        take: () => {
          calls++;
          return 'taken';
        },
      };
      for (const arg of ['() => 1', 'Symbol("s")', '{ f() {} }', 'new Proxy({}, {})']) {
        const r = await js.run(`take(${arg}).then(() => "sent", (e) => e.name + ": " + e.message)`, { functions });
        expect(r).toMatchObject({ ok: true, value: expect.stringMatching(/^TypeError: arguments of take\(\) must be copyable data/) });
      }
      expect(calls).toBe(0);
      const data = await js.run('take(1, "s", null, undefined, [1], { a: new Date(0) }, new Uint8Array(2), new Map([[1, 2]]))', { functions });
      expect(data).toMatchObject({ ok: true, value: 'taken' });
      expect(calls).toBe(1);
    });

    it('a result that is not copyable rejects in the isolate', async () => {
      const r = await js.run('give().then(() => "got", (e) => e.message)', { functions: { give: async () => () => 1 } });
      expect(r).toMatchObject({ ok: true, value: expect.stringMatching(/^the result of give\(\) cannot be copied/) });
    });

    it('a host function that never resolves does not hang the run: it times out, and a late result is dropped', async () => {
      await js.run('0');
      const pid = js.pid;
      expect(pid).not.toBeNull();
      let release: (v: string) => void = () => {};
      const late = new Promise<string>((r) => {
        release = r;
      });
      let settled = false;
      const started = performance.now();
      const never = await js.run('(async () => { await forever(); return "resumed"; })()', {
        timeoutMs: 150,
        functions: { forever: () => new Promise(() => {}) },
      });
      expect(never).toMatchObject({ ok: false, error: { kind: 'timeout' } });
      expect(performance.now() - started).toBeLessThan(1000 + 150);
      const r = await js.run('slow().then((v) => { console.log("late " + v); return v; })', {
        timeoutMs: 100,
        functions: {
          slow: () =>
            late.then((v) => {
              settled = true;
              return v;
            }),
        },
      });
      expect(r).toMatchObject({ ok: false, error: { kind: 'timeout' }, logs: [] });
      release('value');
      await late;
      await new Promise((res) => setTimeout(res, 50));
      expect(settled).toBe(true);
      expect(js.pid).toBe(pid);
      expect(await js.run('"after"')).toMatchObject({ ok: true, value: 'after', logs: [] });
    });

    it('a run cannot call a function injected for another run', async () => {
      const first = await js.run('typeof secret', { functions: { secret: () => 'one' } });
      expect(first).toMatchObject({ ok: true, value: 'function' });
      expect(await js.run('typeof secret')).toMatchObject({ ok: true, value: 'undefined' });
      expect(await js.run('typeof secret', { functions: { other: () => 1 } })).toMatchObject({ ok: true, value: 'undefined' });
      expect(await js.run('typeof __buckleyHostSend + typeof __buckleyHostNames', { functions: { other: () => 1 } })).toMatchObject({
        ok: true,
        value: 'undefinedundefined',
      });
    });

    it('injected functions and what they return do not lead to process or require', async () => {
      const r = await js.run(
        `(async () => {
           const out = [];
           out.push(typeof get.constructor("return typeof process")());
           out.push(await get.constructor("return typeof require")());
           const v = await get();
           out.push(v.constructor.constructor("return typeof process")());
           out.push(v.list.constructor.constructor("return typeof require")());
           try { await fail(); } catch (e) { out.push(e.constructor.constructor("return typeof process")()); }
           out.push(Object.getOwnPropertyNames(get).join(","));
           return out;
         })()`,
        {
          functions: {
            get: async () => ({ list: [process.pid] }),
            fail: () => {
              throw new Error('x');
            },
          },
        },
      );
      expect(r).toMatchObject({ ok: true, value: ['object', 'undefined', 'undefined', 'undefined', 'undefined', 'length,name'] });
    });

    it('loaded modules keep their functions for every call, and a call waiting on the host times out', async () => {
      let n = 0;
      await using mod = await js.load('async function next() { return await counter(); } function wait() { return hang(); }', {
        functions: { counter: () => ++n, hang: () => new Promise(() => {}) },
      });
      expect(await mod.call('next')).toMatchObject({ ok: true, value: 1 });
      expect(await mod.call('next')).toMatchObject({ ok: true, value: 2 });
      expect(await mod.call('wait', [], { timeoutMs: 100 })).toMatchObject({ ok: false, error: { kind: 'timeout' } });
      expect(await mod.call('next')).toMatchObject({ ok: false, error: { kind: 'disposed' } });
    });

    it('a host result arriving after the module call returned is dropped: no guest code runs between calls', async () => {
      let release: (v: string) => void = () => {};
      let hostCalls = 0;
      const late = new Promise<string>((r) => {
        release = r;
      });
      await using mod = await js.load(
        'let got = "nothing"; function kick() { slow().then((v) => { got = v; }); return "kicked"; } function read() { return got; }',
        {
          functions: {
            slow: () => {
              hostCalls++;
              return late;
            },
          },
        },
      );
      expect(await mod.call('kick')).toMatchObject({ ok: true, value: 'kicked' });
      release('late value');
      await late;
      await new Promise((res) => setTimeout(res, 50));
      expect(hostCalls).toBe(1);
      expect(await mod.call('read')).toMatchObject({ ok: true, value: 'nothing' });
    });

    it('rejects bad function options before anything runs', async () => {
      await expect(js.run('1', { functions: { 'not-an-identifier': () => 1 } })).rejects.toThrow(/"not-an-identifier"/);
      await expect(js.run('1', { functions: { console: () => 1 } })).rejects.toThrow(/"console"/);
      await expect(js.run('1', { functions: { f: 1 as never } })).rejects.toThrow(/functions\.f must be a function/);
      await expect(js.run('1', { globals: { f: 1 }, functions: { f: () => 1 } })).rejects.toThrow(/"f" is also in globals/);
    });
  });
});
