import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '@buckley/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childHostArgs, configEntry, sandboxEntry } from './child-host.test-helper.js';
import { createSandbox } from './index.js';

// A Buckley process killed with kill -9 in the middle of a run leaves its run's cgroup (and a
// spare's) behind. The next sandbox that starts reaps those of owners that are gone, and never
// touches a live concurrent process's.

const base = mkdtempSync('/var/tmp/buckley-stale-cgroups-test-');

const HOST = `
import { defaultConfig } from ${configEntry};
import { createSandbox } from ${sandboxEntry};
const [ws, home, marker] = process.argv.slice(2);
const sb = createSandbox({ config: defaultConfig().sandbox, workspace: ws, home });
await sb.run(['true']);
console.log('ready');
await sb.run(['sleep', marker], { timeoutMs: 120_000 });
`;

function cgroupsOf(pid: number): string[] {
  return ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory'].flatMap((dir) => {
    try {
      return readdirSync(dir)
        .filter((n) => n.startsWith(`buckley-${pid}-`))
        .map((n) => join(dir, n));
    } catch {
      return [];
    }
  });
}

function running(marker: string): boolean {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .some((l) => l.trim() === `sleep ${marker}`);
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A Buckley host process with a run going (`sleep marker`) and its spare prepared. */
async function host(name: string, marker: string): Promise<ChildProcess> {
  const ws = join(base, name);
  mkdirSync(ws);
  const child = spawn(process.execPath, childHostArgs(join(base, 'host.mts'), ws, join(base, 'home'), marker), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(base, 'home') },
  });
  await until(`the ${name} host's run`, () => running(marker));
  return child;
}

beforeAll(() => {
  chmodSync(base, 0o755);
  mkdirSync(join(base, 'home'));
  mkdirSync(join(base, 'ws'));
  writeFileSync(join(base, 'host.mts'), HOST);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('cgroups of a host killed with kill -9', () => {
  it('are reaped by the next sandbox, with their processes; a live concurrent host keeps its own and its run', async () => {
    const tag = `${process.pid}${Math.floor(Math.random() * 1000)}`;
    const deadMarker = `101.${tag}`;
    const liveMarker = `102.${tag}`;
    const dead = await host('dead', deadMarker);
    const live = await host('live', liveMarker);
    try {
      expect(cgroupsOf(dead.pid!).length).toBeGreaterThan(0);
      expect(cgroupsOf(live.pid!).length).toBeGreaterThan(0);
      const liveCgroups = cgroupsOf(live.pid!);
      dead.kill('SIGKILL');
      await new Promise<void>((r) => dead.once('exit', () => r()));
      // Right after the kill, as a restarted agent would.
      await using sb = createSandbox({ config: defaultConfig().sandbox, workspace: join(base, 'ws'), home: join(base, 'home') });
      expect((await sb.run(['true'])).exitCode).toBe(0);
      await until('the dead host’s cgroups to go', () => cgroupsOf(dead.pid!).length === 0);
      expect(running(deadMarker)).toBe(false);
      // The live host is untouched: its cgroups and its running command.
      for (const dir of liveCgroups) expect(existsSync(dir)).toBe(true);
      expect(running(liveMarker)).toBe(true);
    } finally {
      dead.kill('SIGKILL');
      live.kill('SIGTERM');
    }
    await new Promise<void>((r) => (live.exitCode !== null || live.signalCode !== null ? r() : live.once('exit', () => r())));
  }, 60_000);
});
