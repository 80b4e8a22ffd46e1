import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SandboxConfig, defaultConfig } from '@buckley/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxEvent } from './index.js';
import { sandboxIdentity } from './isolation.js';
import { trackedSandboxes } from './test-sandboxes.js';

const { create: createSandbox, closeAll } = trackedSandboxes();

// Hostile tests of what a command could do to a host whose user is root. Each was an escape
// once: they must fail against a sandbox that runs commands with real uid 0.

const base = mkdtempSync('/var/tmp/buckley-host-root-test-');
const ws = join(base, 'app');
const home = join(base, 'home');
const limits = { maxProcesses: 64, maxMemoryMb: 256, maxFileSizeMb: 16, cpuSeconds: 30, maxWriteMb: 64, maxFiles: 10_000 };

function config(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  return { ...defaultConfig().sandbox, limits, ...overrides };
}

function sandbox(overrides: Partial<SandboxConfig> = {}, workspace = ws, onEvent?: (e: SandboxEvent) => void) {
  return createSandbox({ config: config(overrides), workspace, home, killGraceMs: 500, onEvent });
}

/** Credentials an outside review found readable in a home, none of them on the old deny-list. */
const HOME_CREDENTIALS = [
  '.pgpass',
  '.my.cnf',
  '.bash_history',
  '.psql_history',
  '.gitconfig',
  '.claude/.credentials.json',
  '.codex/auth.json',
  '.cargo/credentials.toml',
  '.terraform.d/credentials.tfrc.json',
  '.yarnrc.yml',
  '.m2/settings.xml',
  '.gem/credentials',
  '.config/rclone/rclone.conf',
  '.config/pip/pip.conf',
  '.cache/huggingface/token',
  '.local/share/keyrings/login.keyring',
];

beforeAll(() => {
  // Open like a usual /home: the sandbox uid may enter, so only the sandbox's own masks hide things.
  chmodSync(base, 0o755);
  mkdirSync(ws, { recursive: true });
  mkdirSync(home, { recursive: true });
  for (const rel of HOME_CREDENTIALS) {
    mkdirSync(join(home, rel, '..'), { recursive: true });
    writeFileSync(join(home, rel), `CREDENTIAL ${rel}\n`, { mode: 0o644 });
  }
  mkdirSync(join(home, '.cargo', 'bin'), { recursive: true });
  writeFileSync(join(home, '.cargo', 'bin', 'tool'), '#!/bin/sh\necho tool-ran\n', { mode: 0o755 });
  mkdirSync(join(home, '.local', 'bin'), { recursive: true });
  writeFileSync(join(home, '.local', 'bin', 'other'), '#!/bin/sh\necho other-ran\n', { mode: 0o755 });
});

afterEach(async () => {
  await closeAll();
});

afterAll(async () => {
  await closeAll();
  rmSync(base, { recursive: true, force: true });
});

describe('as root on the host', () => {
  it('the test runs as root (otherwise it proves nothing)', () => {
    expect(process.getuid?.()).toBe(0);
  });

  it('the command never has real uid 0: the host sees it run as an unprivileged uid, with no supplementary groups', async () => {
    const marker = `2.${process.pid}${Math.floor(Math.random() * 1000)}`;
    const running = sandbox().run(['sleep', marker], { timeoutMs: 20_000 });
    let seen: string[] = [];
    for (let i = 0; i < 200 && seen.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen = execFileSync('ps', ['-eo', 'uid,gid,args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.trim().split(/\s+/).slice(2).join(' ') === `sleep ${marker}`);
    }
    expect((await running).exitCode).toBe(0);
    expect(seen).toHaveLength(1);
    const [uid, gid] = seen[0]!.trim().split(/\s+/).map(Number);
    expect(uid).not.toBe(0);
    expect(gid).not.toBe(0);
    expect(uid).toBe(sandboxIdentity(undefined).uid);
  });

  it.each(['workspace', 'read_only'] as const)(
    '/proc/sys cannot be opened for writing (%s mode): core_pattern, printk_ratelimit_burst, drop_caches',
    async (mode) => {
      // Opening for append writes nothing, so a failing run leaves the host as it was.
      const files = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/printk_ratelimit_burst', '/proc/sys/vm/drop_caches'];
      const script = `${files.map((f) => `(exec 3>>${f}) 2>/dev/null && echo "WRITABLE ${f}"`).join('; ')}; echo done`;
      const r = await sandbox({ mode }).run(['sh', '-c', script]);
      expect(r.violation).toBeNull();
      expect(r.stdout.text).toBe('done\n');
    },
  );

  it('root-only files are not readable: /etc/shadow and /etc/gshadow', async () => {
    const r = await sandbox().run(['sh', '-c', 'cat /etc/shadow /etc/gshadow 2>/dev/null; echo done']);
    expect(r.stdout.text).toBe('done\n');
  });

  it('a setuid binary made in the workspace is not setuid-root on the host', async () => {
    const r = await sandbox().run(['sh', '-c', 'cp /bin/sh ./rootsh && chmod 4755 ./rootsh; chmod 2755 ./rootsh 2>/dev/null; echo done']);
    expect(r.stdout.text).toBe('done\n');
    const made = join(ws, 'rootsh');
    const st = statSync(made);
    expect(st.uid === 0 && (st.mode & 0o4000) !== 0).toBe(false);
    expect(st.gid === 0 && (st.mode & 0o2000) !== 0).toBe(false);
    // A host user running it stays who they are.
    const id = execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', made, '-c', 'id -u'], { encoding: 'utf8' });
    expect(id.trim()).toBe('65534');
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

describe('home and system secrets', () => {
  it('the home is hidden except the allow-listed toolchains, which stay readable and runnable', async () => {
    const cat = HOME_CREDENTIALS.map((rel) => `cat ${home}/${rel} 2>/dev/null`).join('; ');
    const r = await sandbox().run(['sh', '-c', `${cat}; ls -A ${home}; ${home}/.cargo/bin/tool; ${home}/.local/bin/other; echo done`]);
    expect(r.stdout.text).not.toContain('CREDENTIAL');
    expect(r.stdout.text).toBe('.cargo\n.local\ntool-ran\nother-ran\ndone\n');
    // The home cannot be written either.
    const w = await sandbox().run(['sh', '-c', `echo x > ${home}/.bashrc || echo refused`]);
    expect(w.stdout.text).toBe('refused\n');
    expect(existsSync(join(home, '.bashrc'))).toBe(false);
  });

  it('home_allow replaces the list: an empty one hides the toolchains too', async () => {
    const r = await sandbox({ homeAllow: [] }).run(['sh', '-c', `ls -A ${home}; ${home}/.cargo/bin/tool 2>/dev/null; echo done`]);
    expect(r.stdout.text).toBe('done\n');
  });

  it('root-only files outside the home are hidden: SSH host keys, /etc/ssl/private', async () => {
    const r = await sandbox().run(['sh', '-c', 'cat /etc/ssh/ssh_host_*_key 2>/dev/null; ls -A /etc/ssl/private 2>/dev/null; echo done']);
    expect(r.stdout.text).toBe('done\n');
  });

  it.each(['/', '/etc', '/usr', '/var'])('refuses %s as a workspace with a typed error', (dir) => {
    expect(() => sandbox({}, dir)).toThrow(expect.objectContaining({ code: 'SANDBOX_WORKSPACE_REFUSED' }));
  });

  it('refuses the home itself (or a directory holding it) as the workspace', () => {
    expect(() => sandbox({}, home)).toThrow(expect.objectContaining({ code: 'SANDBOX_WORKSPACE_REFUSED' }));
    expect(() => sandbox({}, base)).toThrow(expect.objectContaining({ code: 'SANDBOX_WORKSPACE_REFUSED' }));
  });
});

describe('git: no run leaves metadata the host git reads', () => {
  const marker = join(base, 'fsmonitor-ran');
  const plant = (dir: string) =>
    `mkdir -p ${dir}/hooks && printf '[core]\\n\\tfsmonitor = touch ${marker}\\n' > ${dir}/config && echo '#!/bin/sh' > ${dir}/hooks/pre-commit; echo planted`;

  /** Runs git on the host in `dir` as a user would, and says whether the planted hook ran. */
  function hostGitRuns(dir: string): boolean {
    rmSync(marker, { force: true });
    try {
      execFileSync('git', ['-C', dir, 'status'], { stdio: 'ignore', env: { ...process.env, GIT_CEILING_DIRECTORIES: base } });
    } catch {
      // Not a repository: git refuses, which is the point.
    }
    return existsSync(marker);
  }

  it('a workspace that is no repository: git init and a planted .git are not copied back', async () => {
    const fresh = join(base, 'no-repo');
    mkdirSync(fresh);
    const events: SandboxEvent[] = [];
    const r = await sandbox({}, fresh, (e) => events.push(e)).run(['sh', '-c', `git init -q . && ${plant('.git')}; echo kept > file.txt`]);
    expect(r.stdout.text).toBe('planted\n');
    expect(existsSync(join(fresh, '.git'))).toBe(false);
    expect(readFileSync(join(fresh, 'file.txt'), 'utf8')).toBe('kept\n');
    expect(r.discardedWrites).toContain('.git');
    expect(events.some((e) => e.type === 'sandbox.violation' && e.data.subject === '.git')).toBe(true);
    expect(hostGitRuns(fresh)).toBe(false);
  });

  it('a workspace inside a repository: a .git planted in it (or deeper) is not copied back', async () => {
    const repo = join(base, 'outer-repo');
    const sub = join(repo, 'pkg');
    mkdirSync(sub, { recursive: true });
    execFileSync('git', ['init', '-q', repo]);
    const r = await sandbox({}, sub).run(['sh', '-c', `${plant('.git')}; mkdir -p deep && cd deep && ${plant('.git')}`]);
    expect(r.stdout.text).toBe('planted\nplanted\n');
    expect(existsSync(join(sub, '.git'))).toBe(false);
    expect(existsSync(join(sub, 'deep', '.git'))).toBe(false);
    expect(hostGitRuns(sub)).toBe(false);
    expect(hostGitRuns(join(sub, 'deep'))).toBe(false);
  });

  it('a .git symlink replaced by a planted directory stays the symlink', async () => {
    const linked = join(base, 'linked');
    const real = join(base, 'linked-gitdir');
    mkdirSync(linked);
    execFileSync('git', ['init', '-q', '--separate-git-dir', real, linked]);
    rmSync(join(linked, '.git'));
    symlinkSync(real, join(linked, '.git'));
    const r = await sandbox({}, linked).run(['sh', '-c', `rm -f .git; ${plant('.git')}`]);
    expect(r.stdout.text).toBe('planted\n');
    expect(lstatSync(join(linked, '.git')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(linked, '.git'))).toBe(real);
    expect(readFileSync(join(real, 'config'), 'utf8')).not.toContain('fsmonitor');
    expect(hostGitRuns(linked)).toBe(false);
  });

  it.each([
    ['the workspace root', '.'],
    ['a subdirectory', 'docs/p'],
  ])('a repository made of HEAD and a commondir file in %s is not copied back', async (_, at) => {
    // git takes a directory holding HEAD and `commondir` for a repository and reads objects,
    // refs and config from the commondir target; it needs no `objects`/`refs` of its own.
    const workspace = join(base, `commondir-${at.replace('/', '-')}`);
    mkdirSync(workspace);
    const dir = join(workspace, at);
    const plantCommon =
      `mkdir -p ${at} && cd ${at} && mkdir -p c/objects c/refs/heads && ` +
      `printf '[core]\\n\\tbare = false\\n\\tworktree = ${dir}\\n\\tfsmonitor = touch ${marker}\\n' > c/config && ` +
      `echo 'ref: refs/heads/main' > HEAD && echo c > commondir; echo planted`;
    const r = await sandbox({}, workspace).run(['sh', '-c', plantCommon]);
    expect(r.stdout.text).toBe('planted\n');
    expect(existsSync(join(dir, 'commondir'))).toBe(false);
    expect(r.discardedWrites).toContain(at === '.' ? '.' : at);
    expect(hostGitRuns(dir)).toBe(false);
  });

  it('a nested repository the run deletes or replaces by a symlink keeps its .git on the host', async () => {
    const workspace = join(base, 'nested-delete');
    mkdirSync(workspace);
    for (const name of ['sub', 'sub2']) {
      execFileSync('git', ['init', '-q', join(workspace, name)]);
      writeFileSync(join(workspace, name, 'file.txt'), 'history\n');
    }
    const r = await sandbox({}, workspace).run(['sh', '-c', 'rm -rf sub; rm -rf sub2 && ln -s /etc sub2; echo done']);
    expect(r.stdout.text).toBe('done\n');
    expect(existsSync(join(workspace, 'sub', '.git', 'HEAD'))).toBe(true);
    expect(lstatSync(join(workspace, 'sub2')).isDirectory()).toBe(true);
    expect(existsSync(join(workspace, 'sub2', '.git', 'HEAD'))).toBe(true);
    // The rest of the deletion applies; the repository's .git is what stays, and is reported.
    // The symlink out of the workspace that replaced sub2 is dropped whole, so sub2 stays as it was.
    expect(existsSync(join(workspace, 'sub', 'file.txt'))).toBe(false);
    expect(readFileSync(join(workspace, 'sub2', 'file.txt'), 'utf8')).toBe('history\n');
    expect(r.discardedWrites).toEqual(expect.arrayContaining(['sub/.git', 'sub2']));
  });

  it('a nested repository’s .git and a planted bare repository are left as they were', async () => {
    const outer = join(base, 'nested');
    mkdirSync(outer);
    execFileSync('git', ['init', '-q', join(outer, 'inner')]);
    const before = readFileSync(join(outer, 'inner', '.git', 'config'), 'utf8');
    const bare = 'mkdir -p bare/objects bare/refs && echo "ref: refs/heads/main" > bare/HEAD && ' + plant('bare');
    const r = await sandbox({}, outer).run(['sh', '-c', `${plant('inner/.git')}; ${bare}; echo ok > inner/file.txt`]);
    expect(r.stdout.text).toBe('planted\nplanted\n');
    expect(readFileSync(join(outer, 'inner', '.git', 'config'), 'utf8')).toBe(before);
    expect(existsSync(join(outer, 'inner', '.git', 'hooks', 'pre-commit'))).toBe(false);
    expect(existsSync(join(outer, 'bare'))).toBe(false);
    expect(readFileSync(join(outer, 'inner', 'file.txt'), 'utf8')).toBe('ok\n');
    expect(hostGitRuns(join(outer, 'inner'))).toBe(false);
    expect(r.discardedWrites).toEqual(expect.arrayContaining(['inner/.git', 'bare']));
  });
});

describe('disk', () => {
  it('a run cannot write more than maxWriteMb into the workspace in total (eight 4 MiB files against 8 MiB)', async () => {
    const disk = join(base, 'disk');
    mkdirSync(disk);
    const sb = sandbox({ limits: { ...limits, maxFileSizeMb: 4, maxWriteMb: 8 } }, disk);
    const r = await sb.run(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do head -c 4M /dev/zero > f$i; done; echo done']);
    expect(r.stdout.text).toBe('done\n');
    expect(r.stderr.text).toMatch(/No space left on device/);
    expect(r.limitsHit).toContain('disk');
    const total = execFileSync('du', ['-sb', disk], { encoding: 'utf8' }).split('\t')[0];
    expect(Number(total)).toBeLessThanOrEqual(8 * 1024 * 1024 + 64 * 1024);
  });
});
