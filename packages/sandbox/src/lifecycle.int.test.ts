import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '@buckley/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from './index.js';
import { ClosedError, isClosedError } from '@buckley/utils';
import { type Sandbox, createSandbox } from './index.js';
import { buckleyCgroups } from './test-sandboxes.js';

// The spare process belongs to the sandbox instance: close() stops it, a run after close is a
// typed error, and closing during a run kills that run and leaves nothing behind.

const base = mkdtempSync('/var/tmp/buckley-lifecycle-test-');
const ws = join(base, 'app');
const home = join(base, 'home');
const limits = { maxProcesses: 64, maxMemoryMb: 128, maxFileSizeMb: 8, cpuSeconds: 30, maxWriteMb: 64, maxFiles: 10_000 };

function sandbox(killGraceMs = 500): Sandbox {
  return createSandbox({ config: { ...defaultConfig().sandbox, limits }, workspace: ws, home, killGraceMs });
}

/** Descendants of this process (the spare's launcher, helpers, bwrap, the command). */
function children(): string[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const found: string[] = [];
  const walk = (ppid: number) => {
    for (const p of table.filter((t) => t.ppid === ppid && !t.args.startsWith('ps '))) {
      found.push(`${p.pid} ${p.args}`);
      walk(p.pid);
    }
  };
  walk(process.pid);
  return found;
}

/** Mounts the host sees under the sandbox's staging directory (the helper's are private to its namespace). */
function stagingMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes('buckley-sandbox'));
}

async function settled(): Promise<void> {
  // A spare is started after the run's result (setImmediate) and its cgroup created with it.
  await new Promise((r) => setTimeout(r, 100));
}

beforeAll(() => {
  chmodSync(base, 0o755);
  mkdirSync(ws);
  mkdirSync(home);
  writeFileSync(join(ws, 'kept.txt'), 'original\n');
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('public surface', () => {
  it('exports the factory and the port, not the class, and no module-global spare control', () => {
    expect(Object.keys(api)).toContain('createSandbox');
    expect(Object.keys(api)).not.toContain('BubblewrapSandbox');
    expect(Object.keys(api)).not.toContain('releaseSpare');
  });
});

describe('close', () => {
  it('stops the instance’s spare: no process, cgroup or mount of it is left', async () => {
    const sb = sandbox();
    expect((await sb.run(['true'])).exitCode).toBe(0);
    await settled();
    expect(buckleyCgroups().some((n) => /^buckley-\d+-s\d+-/.test(n))).toBe(true);
    expect(children()).not.toEqual([]);
    await sb.close();
    expect(buckleyCgroups()).toEqual([]);
    expect(children()).toEqual([]);
    expect(stagingMounts()).toEqual([]);
  });

  it('is idempotent, also when called concurrently', async () => {
    const sb = sandbox();
    await sb.run(['true']);
    await Promise.all([sb.close(), sb.close()]);
    await sb.close();
    expect(buckleyCgroups()).toEqual([]);
    expect(children()).toEqual([]);
  });

  it('right after a run also cancels the spare that run was about to start', async () => {
    const sb = sandbox();
    await sb.run(['true']);
    await sb.close();
    await settled();
    expect(buckleyCgroups()).toEqual([]);
    expect(children()).toEqual([]);
  });

  it('a run after close rejects with CLOSED and starts nothing', async () => {
    const sb = sandbox();
    await sb.close();
    const error = await sb.run(['touch', 'after-close']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect(isClosedError(error)).toBe(true);
    expect((error as ClosedError).resource).toBe('sandbox');
    expect((error as Error).message).toBe('sandbox is closed');
    expect(existsSync(join(ws, 'after-close'))).toBe(false);
    await settled();
    expect(buckleyCgroups()).toEqual([]);
  });

  it('during a run kills it at once (no grace), discards its writes, and leaves no process, mount or cgroup', async () => {
    const sb = sandbox(10_000);
    const marker = `100.${process.pid}${Math.floor(Math.random() * 1000)}`;
    const running = sb.run(['sh', '-c', `echo changed > kept.txt; echo new > new.txt; sleep ${marker} & sleep ${marker}`]);
    // Wait until the command is running (the host sees its sleep).
    const deadline = Date.now() + 10_000;
    while (!children().some((c) => c.includes(`sleep ${marker}`))) {
      if (Date.now() > deadline) throw new Error('the command never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = performance.now();
    await sb.close();
    expect(performance.now() - started).toBeLessThan(3_000);
    const error = await running.catch((e: unknown) => e);
    expect(isClosedError(error)).toBe(true);
    expect(children()).toEqual([]);
    expect(buckleyCgroups()).toEqual([]);
    expect(stagingMounts()).toEqual([]);
    expect(readFileSync(join(ws, 'kept.txt'), 'utf8')).toBe('original\n');
    expect(existsSync(join(ws, 'new.txt'))).toBe(false);
  });

  it('await using closes the sandbox at the end of the scope', async () => {
    {
      await using sb = sandbox();
      expect((await sb.run(['true'])).exitCode).toBe(0);
      await settled();
    }
    expect(buckleyCgroups()).toEqual([]);
    expect(children()).toEqual([]);
  });

  it('each instance owns its spare: closing one leaves the other working', async () => {
    await using a = sandbox();
    const b = sandbox();
    await a.run(['true']);
    await b.run(['true']);
    await settled();
    expect(buckleyCgroups().filter((n) => /^buckley-\d+-s\d+-/.test(n)).length).toBeGreaterThanOrEqual(2);
    await b.close();
    expect((await a.run(['echo', 'still'])).stdout.text).toBe('still\n');
  });
});
