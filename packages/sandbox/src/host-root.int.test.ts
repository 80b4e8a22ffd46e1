import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SandboxConfig, defaultConfig } from '@buckley/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, releaseSpare } from './index.js';

// Hostile tests of what a command could do to a host whose user is root. Each was an escape
// once: they must fail against a sandbox that runs commands with real uid 0.

const base = mkdtempSync('/var/tmp/buckley-host-root-test-');
const ws = join(base, 'app');
const home = join(base, 'home');
const limits = { maxProcesses: 64, maxMemoryMb: 256, maxFileSizeMb: 16, cpuSeconds: 30 };

function config(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  return { ...defaultConfig().sandbox, limits, ...overrides };
}

function sandbox(overrides: Partial<SandboxConfig> = {}) {
  return createSandbox({ config: config(overrides), workspace: ws, home, killGraceMs: 500 });
}

beforeAll(() => {
  mkdirSync(ws, { recursive: true });
  mkdirSync(home, { recursive: true });
});

afterAll(async () => {
  await releaseSpare();
  rmSync(base, { recursive: true, force: true });
});

describe('as root on the host', () => {
  it('the test runs as root (otherwise it proves nothing)', () => {
    expect(process.getuid?.()).toBe(0);
  });

  it('the command never has real uid 0: the uid map points at an unprivileged host uid', async () => {
    const r = await sandbox().run(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; grep -E "^(Uid|Gid):" /proc/self/status']);
    expect(r.exitCode).toBe(0);
    const maps = r.stdout.text.trim().split('\n').slice(0, 2);
    for (const line of maps) {
      const [, outside] = line.trim().split(/\s+/).map(Number);
      expect(outside).not.toBe(0);
    }
  });

  it.each(['workspace', 'read-only'] as const)('/proc/sys cannot be opened for writing (%s mode): core_pattern, printk_ratelimit_burst, drop_caches', async (mode) => {
    // Opening for append writes nothing, so a failing run leaves the host as it was.
    const files = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/printk_ratelimit_burst', '/proc/sys/vm/drop_caches'];
    const script = `${files.map((f) => `(exec 3>>${f}) 2>/dev/null && echo "WRITABLE ${f}"`).join('; ')}; echo done`;
    const r = await sandbox({ mode }).run(['sh', '-c', script]);
    expect(r.violation).toBeNull();
    expect(r.stdout.text).toBe('done\n');
  });

  it('root-only files are not readable: /etc/shadow and /etc/gshadow', async () => {
    const r = await sandbox().run(['sh', '-c', 'cat /etc/shadow /etc/gshadow 2>/dev/null; echo done']);
    expect(r.stdout.text).toBe('done\n');
  });

  it('a setuid binary made in the workspace is not setuid-root on the host', async () => {
    const r = await sandbox().run(['sh', '-c', 'cp /bin/sh ./rootsh && chmod 4755 ./rootsh; chmod 2755 ./rootsh 2>/dev/null; echo done']);
    expect(r.stdout.text).toBe('done\n');
    const made = join(ws, 'rootsh');
    if (existsSync(made)) {
      const st = statSync(made);
      expect(st.uid === 0 && (st.mode & 0o4000) !== 0).toBe(false);
      expect(st.gid === 0 && (st.mode & 0o2000) !== 0).toBe(false);
      // A host user running it stays who they are.
      const id = execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', made, '-c', 'id -u'], { encoding: 'utf8' });
      expect(id.trim()).toBe('65534');
    }
  });

  it('an edit-build-test cycle in a root-owned workspace works and the host sees every change', async () => {
    const project = join(ws, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'keep.txt'), 'old\n');
    writeFileSync(join(project, 'gone.txt'), 'delete me\n');
    expect(statSync(project).uid).toBe(0);
    const script = [
      'set -e',
      'cd project',
      `printf '#include <stdio.h>\\nint main(void) { puts("built-ok"); return 0; }\\n' > main.c`,
      'cc -o app main.c',
      './app > out.txt',
      'echo new >> keep.txt',
      'rm gone.txt',
      'mkdir -p sub/deeper && echo nested > sub/deeper/n.txt',
      'cat out.txt',
    ].join('\n');
    const r = await sandbox().run(['bash', '-c', script], { timeoutMs: 60_000 });
    expect(r.stderr.text).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.text).toBe('built-ok\n');
    expect(readFileSync(join(project, 'out.txt'), 'utf8')).toBe('built-ok\n');
    expect(readFileSync(join(project, 'keep.txt'), 'utf8')).toBe('old\nnew\n');
    expect(existsSync(join(project, 'gone.txt'))).toBe(false);
    expect(readFileSync(join(project, 'sub', 'deeper', 'n.txt'), 'utf8')).toBe('nested\n');
    // The host user (root) owns what the command wrote, and the binary still runs on the host.
    for (const file of ['out.txt', 'app', 'main.c', 'keep.txt', 'sub/deeper/n.txt']) expect(statSync(join(project, file)).uid).toBe(0);
    expect(execFileSync(join(project, 'app'), { encoding: 'utf8' })).toBe('built-ok\n');
    // And a second run sees the first one's result.
    const again = await sandbox().run(['sh', '-c', 'cd project && ./app && cat keep.txt']);
    expect(again.stdout.text).toBe('built-ok\nold\nnew\n');
  });
});
