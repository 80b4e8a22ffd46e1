import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CgroupSupport, detectCgroups } from './cgroup.js';
import { createJsRunner } from './index.js';

const MIB = 1024 * 1024;

/**
 * Anonymous resident memory of a process in bytes (heap, isolates, WebAssembly memory), or null
 * once it is gone. Not VmRSS: that also counts the node binary's shared pages, which the page
 * cache charged to whoever mapped them first.
 */
function rss(pid: number): number | null {
  try {
    const kb = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every few milliseconds until stopped; resolves with the largest seen. */
function watchRss(pid: number): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss(pid) ?? 0);
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

// 256 MiB of WebAssembly memory, every page touched.
const WASM_256_MIB = 'const m = new WebAssembly.Memory({ initial: 4096 }); new Uint8Array(m.buffer).fill(1); m.buffer.byteLength';

describe('WebAssembly is off unless configured (hostile)', () => {
  it('the global is absent, so its memory cannot pass the isolate limit', async () => {
    await using js = createJsRunner({ memoryLimitMb: 16, timeoutMs: 5000 });
    expect(await js.run('typeof WebAssembly')).toMatchObject({ ok: true, value: 'undefined' });
    expect(await js.run(WASM_256_MIB)).toMatchObject({ ok: false, error: { kind: 'error', name: 'ReferenceError' } });
    expect(await js.run('globalThis.constructor.constructor("return typeof WebAssembly")()')).toMatchObject({ ok: true, value: 'undefined' });
    const mod = await js.load('function probe() { return typeof WebAssembly; }');
    expect(await mod.call('probe')).toMatchObject({ ok: true, value: 'undefined' });
  });

  it('allowWasm turns it on', async () => {
    await using js = createJsRunner({ memoryLimitMb: 16, timeoutMs: 5000, allowWasm: true });
    expect(await js.run('typeof WebAssembly.Memory')).toMatchObject({ ok: true, value: 'function' });
  });
});

describe.runIf(detectCgroups().ok)('the runner process is bounded by a cgroup (hostile)', () => {
  it('256 MiB of wasm memory under a 16 MiB isolate is killed at the process limit, RSS stays bounded, the next run works', async () => {
    await using js = createJsRunner({ memoryLimitMb: 16, timeoutMs: 20_000, killGraceMs: 5000, allowWasm: true, processMemoryLimitMb: 160 });
    expect(await js.run('1')).toMatchObject({ ok: true });
    const watch = watchRss(js.pid!);
    const r = await js.run(WASM_256_MIB);
    const peak = watch.stop();
    expect(r).toMatchObject({ ok: false, error: { kind: 'memory' } });
    expect(r.ok ? '' : r.error.message).toContain('160 MiB');
    // Sampled, so a short peak may be missed; what matters is that it never got near 256 MiB.
    expect(peak).toBeLessThan(170 * MIB);
    expect(await js.run('"back"')).toMatchObject({ ok: true, value: 'back' });
  });

  it('the runner is in its own cgroup with the configured limit, removed on close', async () => {
    const js = createJsRunner({ processMemoryLimitMb: 300 });
    await js.run('1');
    const support = (detectCgroups() as { ok: true; support: CgroupSupport }).support;
    const name = /buckley-\d+-js[\w-]+/.exec(readFileSync(`/proc/${js.pid}/cgroup`, 'utf8'))?.[0];
    expect(name).toBeDefined();
    const limitFile =
      support.version === 1
        ? join(support.memory ?? support.pids, name!, support.memory ? 'memory.limit_in_bytes' : 'pids.max')
        : join(support.dir, name!, 'memory.max');
    expect(readFileSync(limitFile, 'utf8').trim()).toBe(support.version === 1 && !support.memory ? '256' : String(300 * MIB));
    await js.close();
    expect(existsSync(join(limitFile, '..'))).toBe(false);
  });
});

describe('without a cgroup the runner process is bounded by rlimits (hostile)', () => {
  const options = { memoryLimitMb: 512, timeoutMs: 30_000, killGraceMs: 5000, allowWasm: true, processMemoryLimitMb: 160, limitMechanism: 'rlimit' } as const;
  // 400 MiB of numbers, under a 512 MiB isolate limit: only the process limit can stop it.
  const BIG = 'const a = []; for (let i = 0; i < 400; i++) a.push(new Float64Array(128 * 1024).fill(i)); a.length';

  it('a run allocating 400 MiB under a 160 MiB process limit fails with memory, RSS stays bounded, the next run works', async () => {
    await using js = createJsRunner(options);
    expect(await js.run('1')).toMatchObject({ ok: true });
    const pid = js.pid!;
    // No cgroup of its own: what holds is the process's data limit, exactly the configured one.
    expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).not.toMatch(/buckley-\d+-js/);
    expect(/^Max data size\s+(\d+)\s+(\d+)\s+bytes *$/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.slice(1)).toEqual([
      String(160 * MIB),
      String(160 * MIB),
    ]);
    const watch = watchRss(pid);
    const r = await js.run(BIG);
    const peak = watch.stop();
    expect(r).toMatchObject({ ok: false, error: { kind: 'memory' } });
    expect(r.ok ? '' : r.error.message).toContain('160 MiB');
    expect(peak).toBeLessThan(170 * MIB);
    expect(await js.run('"back"')).toMatchObject({ ok: true, value: 'back' });
  });

  it('many isolates at once share the one limit, and WebAssembly is absent even with allowWasm', async () => {
    await using js = createJsRunner(options);
    expect(await js.run('typeof WebAssembly')).toMatchObject({ ok: true, value: 'undefined' });
    const pid = js.pid!;
    const watch = watchRss(pid);
    // Eight runs of 40 MiB each fit their isolates; together they pass the process limit.
    const many = await Promise.all(
      Array.from({ length: 8 }, () =>
        js.run('const a = []; for (let i = 0; i < 40; i++) a.push(new Float64Array(128 * 1024).fill(i)); new Promise((r) => r(a.length))'),
      ),
    );
    const peak = watch.stop();
    expect(many.filter((m) => !m.ok).length).toBeGreaterThan(0);
    expect(peak).toBeLessThan(170 * MIB);
    expect(await js.run('2')).toMatchObject({ ok: true, value: 2 });
  });

  it('rejects an unknown mechanism', () => {
    expect(() => createJsRunner({ limitMechanism: 'none' as 'rlimit' })).toThrow('limitMechanism must be "auto" or "rlimit", got "none"');
  });
});

describe('results and host-call arguments are capped (hostile)', () => {
  it('a 64 Mi-character string from an 8 MiB isolate is a too_large failure, not a value', async () => {
    await using js = createJsRunner({ memoryLimitMb: 8, timeoutMs: 10_000 });
    const r = await js.run('"x".repeat(64 * 1024 * 1024)');
    expect(r).toMatchObject({ ok: false, error: { kind: 'too_large' } });
    expect(r.ok ? '' : r.error.message).toMatch(/maxTransferBytes/);
    expect(await js.run('"x".repeat(1000).length')).toMatchObject({ ok: true, value: 1000 });
  });

  it('a nested result past the cap, and a module call result, fail the same way', async () => {
    await using js = createJsRunner({ memoryLimitMb: 32, timeoutMs: 10_000, maxTransferBytes: 1 * MIB });
    expect(await js.run('Array.from({ length: 2000 }, () => ({ k: "y".repeat(1000) }))')).toMatchObject({ ok: false, error: { kind: 'too_large' } });
    expect(await js.run('Array.from({ length: 100 }, () => "y".repeat(1000)).length')).toMatchObject({ ok: true, value: 100 });
    const mod = await js.load('function big() { return new Uint8Array(2 * 1024 * 1024); }');
    expect(await mod.call('big')).toMatchObject({ ok: false, error: { kind: 'too_large' } });
  });

  it('host-call arguments past the cap reject in the isolate and never reach the host', async () => {
    await using js = createJsRunner({ memoryLimitMb: 16, timeoutMs: 10_000, maxTransferBytes: 1 * MIB });
    let called = 0;
    const r = await js.run(
      '(async () => { try { await sink("z".repeat(4 * 1024 * 1024)); return "sent"; } catch (e) { return e.name + ": " + e.message; } })()',
      {
        functions: { sink: () => called++ },
      },
    );
    expect(r).toMatchObject({ ok: true });
    expect(r.ok ? r.value : '').toMatch(/^RangeError: .*sink\(\).*maxTransferBytes/);
    expect(called).toBe(0);
    const small = await js.run('sink("ok")', { functions: { sink: (s: string) => s.length } });
    expect(small).toMatchObject({ ok: true, value: 2 });
  });

  it('a thrown message of 16 Mi characters comes back clipped to a few KiB', async () => {
    await using js = createJsRunner({ memoryLimitMb: 64, timeoutMs: 10_000, maxTransferBytes: 1 * MIB });
    for (const code of ['throw new Error("x".repeat(16 * 1024 * 1024))', 'throw "s".repeat(16 * 1024 * 1024)']) {
      const r = await js.run(code);
      expect(r).toMatchObject({ ok: false, error: { kind: 'error' } });
      const error = r.ok ? null : r.error;
      expect(JSON.stringify(error).length).toBeLessThan(16 * 1024);
      expect(JSON.stringify(error)).toMatch(/more characters/);
    }
  });

  it('rejects a bad cap before anything runs', () => {
    expect(() => createJsRunner({ maxTransferBytes: -1 })).toThrow('maxTransferBytes must be an integer >= 1024, got -1');
  });
});

describe('a hard-killed runner process (hostile)', () => {
  it('kill -9, then the next run succeeds; 20 times', async () => {
    await using js = createJsRunner({ timeoutMs: 5000 });
    expect(await js.run('0')).toMatchObject({ ok: true });
    for (let i = 1; i <= 20; i++) {
      const pid = js.pid!;
      process.kill(pid, 'SIGKILL');
      const r = await js.run(`${i} * 2`);
      expect({ i, r }).toMatchObject({ i, r: { ok: true, value: i * 2 } });
      expect(js.pid).not.toBe(pid);
    }
  });
});
