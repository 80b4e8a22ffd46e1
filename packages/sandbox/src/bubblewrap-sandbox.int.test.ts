import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { type SandboxConfig, defaultConfig } from '@buckley/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxEvent, type SandboxOptions, SandboxUnavailableError } from './index.js';
import { buckleyCgroups, trackedSandboxes } from './test-sandboxes.js';

const { create: createSandbox, closeAll } = trackedSandboxes();

// /var/tmp, not /tmp: the sandbox gets a private /tmp, and these tests need a host directory
// that stays visible (read-only) inside, next to the workspace.
const base = mkdtempSync('/var/tmp/buckley-sandbox-test-');
const ws = join(base, 'app');
const sibling = join(base, 'app-secrets');
const home = join(base, 'home');

const testLimits = { maxProcesses: 64, maxMemoryMb: 128, maxFileSizeMb: 8, cpuSeconds: 30, maxWriteMb: 64, maxFiles: 10_000 };

function config(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  return { ...defaultConfig().sandbox, limits: testLimits, ...overrides };
}

/** The argv form: the lexical policy does not read it, so these runs prove the OS layer alone. */
function bypass(command: string): string[] {
  return ['bash', '-c', command];
}

function sandbox(overrides: Partial<SandboxConfig> = {}, options: Partial<SandboxOptions> = {}) {
  return createSandbox({ config: config(overrides), workspace: ws, home, killGraceMs: 500, ...options });
}

/** Host processes whose command line contains `marker` (checked with ps, as a user would). */
/** Processes on the host whose command line holds `marker` as whole words (`sleep 100` is not `sleep 1001`). */
function survivors(marker: string): string[] {
  const words = new RegExp(`(^|\\s)${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => words.test(line) && !line.includes('ps -eo'));
}

beforeAll(() => {
  mkdirSync(join(ws, '.git', 'objects'), { recursive: true });
  writeFileSync(join(ws, '.git', 'config'), '[core]\n\trepositoryformatversion = 0\n');
  mkdirSync(join(ws, '.buckley'));
  writeFileSync(join(ws, '.buckley', 'config.yaml'), 'secret: project-state\n');
  mkdirSync(join(ws, 'sub'));
  mkdirSync(sibling);
  writeFileSync(join(sibling, 'secret.txt'), 'sibling-secret\n');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'id_rsa'), 'PRIVATE-KEY-MATERIAL\n');
  mkdirSync(join(home, 'private'));
  writeFileSync(join(home, 'private', 'notes'), 'private-notes\n');
  writeFileSync(join(home, 'token.txt'), 'file-token\n');
  symlinkSync(sibling, join(ws, 'link-out'));
});

afterEach(async () => {
  await closeAll();
});

afterAll(async () => {
  await closeAll();
  rmSync(base, { recursive: true, force: true });
});

describe('basics', () => {
  it('runs a shell string and returns exit code, output and duration', async () => {
    const r = await sandbox().run('echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, unsafe: false, violation: null });
    expect(r.stdout).toEqual({ text: 'out\n', totalBytes: 4, truncated: false });
    expect(r.stderr.text).toBe('err\n');
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('runs an argv without a shell, feeds stdin and honours cwd inside the workspace', async () => {
    const r = await sandbox().run(['sh', '-c', 'pwd; cat', 'ignored $HOME'], { stdin: 'from-stdin', cwd: 'sub' });
    expect(r.stdout.text).toBe(`${ws}/sub\nfrom-stdin`);
    const literal = await sandbox().run(['echo', '$HOME', '; rm -rf /']);
    expect(literal.stdout.text).toBe('$HOME ; rm -rf /\n');
  });

  it('refuses a cwd outside the workspace as a typed violation and starts nothing', async () => {
    const events: SandboxEvent[] = [];
    const r = await sandbox({}, { onEvent: (e) => events.push(e) }).run('touch started', { cwd: '..' });
    expect(r.violation).toMatchObject({ rule: 'cwd_outside_workspace' });
    expect(r.exitCode).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['sandbox.violation']);
    expect(existsSync(join(base, 'started'))).toBe(false);
  });

  it('PATH inside has only absolute entries, also when the parent’s starts with ./node_modules/.bin', async () => {
    const r = await sandbox({}, { parentEnv: { PATH: `./node_modules/.bin::bin:${process.env.PATH ?? '/usr/bin:/bin'}` } }).run(['sh', '-c', 'echo "$PATH"']);
    const entries = r.stdout.text.trim().split(':');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.filter((e) => !e.startsWith('/'))).toEqual([]);
  });

  it('refuses an empty command', async () => {
    expect((await sandbox().run('   ')).violation?.rule).toBe('empty_command');
    expect((await sandbox().run([])).violation?.rule).toBe('empty_command');
  });

  it('strict mode refuses a program outside the allow-list', async () => {
    const sb = sandbox({ mode: 'strict', allowedCommands: ['echo'] });
    expect((await sb.run(['echo', 'ok'])).stdout.text).toBe('ok\n');
    expect((await sb.run(['rm', '-rf', 'x'])).violation).toMatchObject({ rule: 'command_not_allowed', subject: 'rm' });
  });

  it('leaves no cgroup behind but the spare for the next run, and none once the sandbox is closed', async () => {
    const sb = sandbox();
    await sb.run('true');
    await sb.run('true');
    await new Promise((r) => setTimeout(r, 50));
    expect(buckleyCgroups().filter((n) => !/^buckley-\d+-s\d+-/.test(n))).toEqual([]);
    await sb.close();
    expect(buckleyCgroups()).toEqual([]);
  });

  it('closing right after a run also stops the spare that run was about to start', async () => {
    const sb = sandbox();
    await sb.run('true');
    await sb.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(buckleyCgroups()).toEqual([]);
    // And a new sandbox still works (it starts its own process, then a spare again).
    expect((await sandbox().run(['true'])).exitCode).toBe(0);
  });

  it('a spare process taken for a run has that run’s cgroup and rlimits, and no extra file descriptor', async () => {
    const sb = sandbox();
    await sb.run('true');
    await new Promise((r) => setImmediate(r));
    const r = await sb.run('cat /proc/self/cgroup; ulimit -f; ulimit -t; ls /proc/self/fd | sort -n | tr "\\n" " "');
    // The cgroup namespace is rooted at the run's own cgroup, which the spare joined before bwrap started.
    expect(r.stdout.text).toMatch(/^\d+:pids:\/$/m);
    expect(r.stdout.text).toMatch(/^\d+:memory:\/$/m);
    // bash inside counts -f in 1024-byte blocks.
    expect(r.stdout.text).toContain(`\n${(testLimits.maxFileSizeMb * 1024 * 1024) / 1024}\n${testLimits.cpuSeconds}\n0 1 2 3 `);
    expect(r.stdout.text).not.toMatch(/ 4 /);
  });
});

describe('filesystem: path escapes and protected paths', () => {
  it('the workspace is writable; its sibling with a common prefix is not', async () => {
    const command = `echo ok > inside.txt && echo bad > ${JSON.stringify(`${sibling}/new.txt`)}`;
    expect((await sandbox().run(command)).violation).toMatchObject({ rule: 'path_outside_workspace' });
    expect(existsSync(join(ws, 'inside.txt'))).toBe(false);
    const r = await sandbox().run(bypass(command));
    expect(readFileSync(join(ws, 'inside.txt'), 'utf8')).toBe('ok\n');
    expect(r.exitCode).not.toBe(0);
    // Root's runs do not even see the sibling: the test's 0700 base directory is an empty tmpfs for the sandbox uid.
    expect(r.stderr.text).toMatch(process.getuid?.() === 0 ? /No such file or directory/ : /Read-only file system/);
    expect(existsSync(join(sibling, 'new.txt'))).toBe(false);
  });

  it.each([
    ['../ relative', 'echo x > ../escape-rel.txt', join(base, 'escape-rel.txt'), 'path_outside_workspace'],
    ['quoted absolute', `echo x > "${base}/escape-abs.txt"`, join(base, 'escape-abs.txt'), 'path_outside_workspace'],
    ['$VAR expansion', `D='${base}'; echo x > "$D"/escape-var.txt`, join(base, 'escape-var.txt'), null],
    ['cd .. then relative', 'cd .. && echo x > escape-cd.txt', join(base, 'escape-cd.txt'), null],
    ['a symlink in the workspace pointing out', 'echo x > link-out/escape-link.txt', join(sibling, 'escape-link.txt'), 'path_outside_workspace'],
    ['a symlink the command creates', `ln -s ${base} made-link && echo x > made-link/escape-made.txt`, join(base, 'escape-made.txt'), null],
    ['$HOME', 'echo x > "$HOME/escape-home.txt"', join(home, 'escape-home.txt'), 'path_outside_workspace'],
  ])('writing outside the workspace fails: %s', async (_name, command, target, lexical) => {
    // The lexical policy refuses what it can see before the run; the rest runs and the OS refuses it.
    const checked = await sandbox().run(command);
    expect(checked.violation?.rule ?? null).toBe(lexical);
    expect(checked.exitCode).not.toBe(0);
    expect(existsSync(target)).toBe(false);
    const r = await sandbox().run(bypass(command));
    expect(r.exitCode).not.toBe(0);
    expect(r.violation).toBeNull();
    expect(existsSync(target)).toBe(false);
    rmSync(join(ws, 'made-link'), { force: true });
  });

  it('the whole .git directory is read-only inside the writable workspace (hooks, config, objects)', async () => {
    const command = 'cat .git/config; echo "#!/bin/sh" > .git/hooks/pre-commit; echo "[x]" >> .git/config; echo obj > .git/objects/o && echo objects-ok';
    expect((await sandbox().run(command)).violation).toMatchObject({ rule: 'protected_path' });
    const r = await sandbox().run(bypass(command));
    expect(r.stdout.text).toContain('repositoryformatversion');
    expect(r.stdout.text).not.toContain('objects-ok');
    expect(r.stderr.text).toMatch(/Read-only file system/);
    expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
    expect(existsSync(join(ws, '.git', 'objects', 'o'))).toBe(false);
    expect(readFileSync(join(ws, '.git', 'config'), 'utf8')).not.toContain('[x]');
  });

  it('.git cannot be renamed away and replaced by a planted one (hooks or config that would run on the host)', async () => {
    const attack =
      'mv .git .git-old; rm -rf .git; mkdir -p .git/hooks; printf "[core]\\n\\tfsmonitor = touch /tmp/pwned\\n" > .git/config; echo "#!/bin/sh" > .git/hooks/pre-commit; ls -A';
    const r = await sandbox().run(bypass(attack));
    expect(r.stderr.text).toMatch(/Device or resource busy|Read-only file system/);
    expect(existsSync(join(ws, '.git-old'))).toBe(false);
    expect(readFileSync(join(ws, '.git', 'config'), 'utf8')).toBe('[core]\n\trepositoryformatversion = 0\n');
    expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
    expect(existsSync(join(ws, '.git', 'objects'))).toBe(true);
  });

  it('.buckley in the workspace is hidden and cannot be written', async () => {
    const command = 'cat .buckley/config.yaml; ls -A .buckley; echo x > .buckley/new';
    expect((await sandbox().run(command)).violation).toMatchObject({ rule: 'protected_path' });
    const r = await sandbox().run(bypass(command));
    expect(r.stdout.text).toBe('');
    expect(r.stderr.text).toMatch(/No such file|Read-only/);
    expect(existsSync(join(ws, '.buckley', 'new'))).toBe(false);
  });

  it('home credentials and configured denied paths are hidden, also through ~ and $HOME spellings', async () => {
    const sb = sandbox({ deniedPaths: ['~/private', '~/token.txt'] });
    // Through argv, so the OS layer (not the lexical policy) is what is tested; the sentinel
    // proves the command really ran to its end.
    const r = await sb.run(bypass(`cat ${home}/.ssh/id_rsa; HOME=${home}; cat ~/.ssh/id_rsa "$HOME/private/notes" ~/token.txt; ls -A ${home}/.ssh; echo done`));
    expect(r.violation).toBeNull();
    expect(r.stdout.text).not.toMatch(/PRIVATE-KEY|private-notes|file-token/);
    expect(r.stdout.text).toBe('done\n');
  });

  it('a per-call HOME does not uncover that home’s credentials, and the policy judges the same home', async () => {
    const other = join(base, 'other-home');
    mkdirSync(join(other, '.ssh'), { recursive: true });
    writeFileSync(join(other, '.ssh', 'id_rsa'), 'OTHER-PRIVATE-KEY\n');
    writeFileSync(join(other, 'token.txt'), 'other-token\n');
    const sb = sandbox({ deniedPaths: ['~/token.txt'] });
    const r = await sb.run(bypass('echo "$HOME"; cat ~/.ssh/id_rsa "$HOME/token.txt" 2>/dev/null; echo done'), { env: { HOME: other } });
    expect(r.stdout.text).toBe(`${home}\ndone\n`);
    // The lexical policy expands $HOME to the same home the shell gets and the mounts mask.
    expect((await sb.run('echo x > "$HOME/token.txt"', { env: { HOME: other } })).violation).toMatchObject({ subject: join(home, 'token.txt') });
    expect(readFileSync(join(other, 'token.txt'), 'utf8')).toBe('other-token\n');
  });

  it('a credential that appears or disappears between two runs of one sandbox is judged at each run (no stale mount plan)', async () => {
    const sb = sandbox();
    const aws = join(home, '.aws');
    const read = `cat ${aws}/credentials 2>/dev/null; echo done`;
    expect((await sb.run(bypass(read))).stdout.text).toBe('done\n');
    mkdirSync(aws);
    writeFileSync(join(aws, 'credentials'), 'AWS-KEY-MATERIAL\n');
    try {
      const hidden = await sb.run(bypass(read));
      expect(hidden.stdout.text).toBe('done\n');
      expect(hidden.stdout.text).not.toContain('AWS-KEY');
    } finally {
      rmSync(aws, { recursive: true });
    }
    // Gone again: the next run must start (a mask over a missing path would make bwrap fail).
    const after = await sb.run(bypass(`ls -A ${home}; echo done`));
    expect(after.exitCode).toBe(0);
    expect(after.stdout.text).not.toContain('.aws');
  });

  it('a workspace whose .git is a file (a worktree or submodule) runs, with .buckley still hidden, and the gitfile cannot be rewritten', async () => {
    const worktree = join(base, 'worktree');
    mkdirSync(worktree);
    writeFileSync(join(worktree, '.git'), 'gitdir: /nonexistent/.git/worktrees/x\n');
    const sb = createSandbox({ config: config(), workspace: worktree, home, killGraceMs: 500 });
    const r = await sb.run(bypass('cat .git; echo x > .buckley/y || echo refused'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.text).toBe('gitdir: /nonexistent/.git/worktrees/x\nrefused\n');
    expect(existsSync(join(worktree, '.buckley'))).toBe(false);
    // Pointing the gitfile at a directory the command controls would make host git read its config and hooks.
    const attack = await sb.run(
      bypass('echo "gitdir: planted" > .git; mv .git gitfile-old; rm -f .git; mkdir -p planted/hooks; echo "gitdir: planted" > .git; cat .git'),
    );
    expect(attack.stdout.text).toBe('gitdir: /nonexistent/.git/worktrees/x\n');
    expect(readFileSync(join(worktree, '.git'), 'utf8')).toBe('gitdir: /nonexistent/.git/worktrees/x\n');
    expect(existsSync(join(worktree, 'gitfile-old'))).toBe(false);
  });

  it('a workspace with no .buckley keeps none: what a command writes there is discarded and reported', async () => {
    const fresh = join(base, 'fresh');
    mkdirSync(join(fresh, '.git', 'objects'), { recursive: true });
    const command =
      'printf "[core]\\n\\tfsmonitor = touch /tmp/pwned\\n" > .git/config; mkdir -p .git/hooks && echo "#!/bin/sh" > .git/hooks/post-checkout; mkdir -p .buckley && echo "sandbox: {}" > .buckley/config.yaml; ls -A; echo ok > workspace-file';
    const r = await createSandbox({ config: config(), workspace: fresh, home, killGraceMs: 500 }).run(bypass(command));
    expect(r.violation).toBeNull();
    expect(existsSync(join(fresh, '.git', 'config'))).toBe(false);
    expect(existsSync(join(fresh, '.git', 'hooks'))).toBe(false);
    expect(existsSync(join(fresh, '.buckley'))).toBe(false);
    expect(r.discardedWrites).toContain('.buckley');
    // The rest of the workspace stays writable (so the masks above are what refused the writes).
    expect(readFileSync(join(fresh, 'workspace-file'), 'utf8')).toBe('ok\n');
  });

  it('configured denied paths in the workspace that do not exist yet cannot be created or written', async () => {
    const fresh = join(base, 'fresh-denied');
    mkdirSync(fresh);
    symlinkSync(sibling, join(fresh, 'out'));
    const deniedPaths = ['secrets.env', 'config/prod/db.yaml', 'private-dir/', 'out/never-created.txt'];
    const sb = createSandbox({ config: config({ deniedPaths }), workspace: fresh, home, killGraceMs: 500 });
    const command =
      'echo KEY=1 > secrets.env; mkdir -p config/prod private-dir; echo pw > config/prod/db.yaml; echo x > private-dir/a; rm -rf secrets.env private-dir; echo x > secrets.env; ls -A private-dir; echo ok > allowed.txt';
    expect((await sb.run(command)).violation).toMatchObject({ rule: 'protected_path' });
    const r = await sb.run(bypass(command));
    expect(r.violation).toBeNull();
    // Not created on the host (a run leaves nothing that was not there), and nothing written there is copied back.
    expect(existsSync(join(fresh, 'secrets.env'))).toBe(false);
    expect(existsSync(join(fresh, 'config', 'prod', 'db.yaml'))).toBe(false);
    expect(existsSync(join(fresh, 'private-dir'))).toBe(false);
    // private-dir was removed by the command itself, so it is no write to discard.
    expect(r.discardedWrites).toEqual(expect.arrayContaining(['secrets.env', 'config/prod/db.yaml']));
    expect(readFileSync(join(fresh, 'allowed.txt'), 'utf8')).toBe('ok\n');
    // Nothing is created outside the workspace through a symlinked parent.
    expect(existsSync(join(sibling, 'never-created.txt'))).toBe(false);
  });

  it('read-only mode makes the workspace read-only', async () => {
    expect((await sandbox({ mode: 'read_only' }).run('ls >/dev/null && echo x > ro.txt')).violation).toMatchObject({ rule: 'write_in_read_only_mode' });
    const r = await sandbox({ mode: 'read_only' }).run(bypass('ls >/dev/null && echo x > ro.txt'));
    expect(r.stderr.text).toMatch(/Read-only file system/);
    expect(existsSync(join(ws, 'ro.txt'))).toBe(false);
  });
});

describe('network', () => {
  let server: ReturnType<typeof createServer>;
  let port = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('error', () => {});
      socket.end('hello-from-host\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('is off by default: no host loopback port, no /dev/tcp, no DNS, only lo', async () => {
    const command =
      `curl -s --http0.9 -m 2 http://127.0.0.1:${port}/ && echo CURL-OK; (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo TCP-OK; ` +
      `curl -s -m 2 http://1.1.1.1/ >/dev/null && echo EGRESS-OK; getent hosts example.com && echo DNS-OK; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`;
    expect((await sandbox().run(command)).violation).toMatchObject({ rule: 'dangerous_command', finding: { ruleId: 'command.dev-tcp' } });
    const r = await sandbox().run(bypass(command));
    expect(r.stdout.text).toBe('lo\n');
    expect(connections).toBe(0);
  });

  it('network: true reaches the host loopback port (so the test above can fail)', async () => {
    const r = await sandbox({ network: true }).run(`curl -s --http0.9 -m 2 http://127.0.0.1:${port}/`);
    expect(r.stdout.text).toBe('hello-from-host\n');
    expect(connections).toBe(1);
  });
});

describe('resource limits as root', () => {
  it.each([
    ['classic', ':(){ :|:& };:; SLEEP'],
    ['renamed', 'b(){ b|b& };b; SLEEP'],
  ])('fork bomb (%s) is stopped by pids.max and killed by the sandbox long before the timeout, leaving nothing', async (_name, template) => {
    expect(process.getuid?.()).toBe(0);
    // A sleep no other run on this host uses (test files and suites run in parallel), so the
    // survivor check below sees only this run's processes.
    const marker = `sleep 100.${process.pid}${Math.floor(Math.random() * 1000)}`;
    const bomb = template.replace('SLEEP', marker);
    const started = performance.now();
    // The main shell would sleep 100 s (and bash retries a refused fork for seconds): only the sandbox's own fork watch ends this early.
    const refused = await sandbox().run(bomb);
    expect(refused.violation).toMatchObject({ rule: 'dangerous_command', finding: { ruleId: 'command.fork-bomb' } });
    const r = await sandbox().run(bypass(bomb), { timeoutMs: 45_000 });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(r.limitsHit).toContain('processes');
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).not.toBe(0);
    await closeAll();
    expect(buckleyCgroups()).toEqual([]);
    expect(survivors(marker)).toEqual([]);
  });

  it('a parallel build under the process limit is not killed (make -j)', async () => {
    writeFileSync(
      join(ws, 'Makefile'),
      `all: ${Array.from({ length: 12 }, (_, i) => `t${i}`).join(' ')}\n${Array.from({ length: 12 }, (_, i) => `t${i}:\n\t@sleep 0.2; echo t${i} > /dev/null\n`).join('')}`,
    );
    try {
      const r = await sandbox().run('make -s -j12 && echo built', { timeoutMs: 60_000 });
      expect(r.stderr.text).toBe('');
      expect(r.stdout.text).toBe('built\n');
      expect(r).toMatchObject({ exitCode: 0, limitsHit: [], timedOut: false });
    } finally {
      rmSync(join(ws, 'Makefile'));
    }
  });

  it('a memory hog is killed by the memory limit and reported, not a host OOM', async () => {
    const r = await sandbox().run('python3 -c "a = bytearray(1024 ** 3); print(len(a))"');
    expect(r.exitCode).toBe(137);
    expect(r.limitsHit).toContain('memory');
    expect(r.stdout.text).toBe('');
  });

  it('disk fill in the workspace stops at the file size limit', async () => {
    const r = await sandbox().run('head -c 100M /dev/zero > big.bin; ls -l big.bin');
    expect(r.stderr.text).toMatch(/File size limit exceeded/);
    expect(readFileSync(join(ws, 'big.bin')).length).toBe(testLimits.maxFileSizeMb * 1024 * 1024);
    rmSync(join(ws, 'big.bin'));
  });

  it('disk fill in /tmp stops at the private tmpfs size', async () => {
    const r = await sandbox().run('for i in 1 2 3 4 5; do head -c 4M /dev/zero > /tmp/f$i || exit 9; done');
    expect(r.exitCode).toBe(9);
    expect(r.stderr.text).toMatch(/No space left on device/);
  });

  describe('without cgroups, as root: the run switches to an unprivileged host uid', () => {
    // A workspace owned by a non-root user, as on a developer machine where Buckley runs as root.
    const owned = join(base, 'owned');
    beforeAll(() => {
      chmodSync(base, 0o755);
      mkdirSync(owned);
      chownSync(owned, 1000, 1000);
    });
    const rlimitSandbox = (workspace = owned, options: Partial<SandboxOptions> = {}) =>
      createSandbox({ config: config(), workspace, home, killGraceMs: 500, limitMechanism: 'rlimit', ...options });

    it('a root-owned workspace runs as the sandbox uid, and RLIMIT_NPROC holds for it', async () => {
      const sb = rlimitSandbox(ws, { config: config({ limits: { ...testLimits, maxProcesses: 16 } }) } as Partial<SandboxOptions>);
      const flood = await sb.run(['sh', '-c', 'touch by-sandbox-uid; for i in $(seq 40); do sleep 1011 & done; echo spawned'], { timeoutMs: 30_000 });
      expect(flood.stderr.text).toMatch(/Cannot fork|Resource temporarily unavailable/);
      expect(survivors('sleep 1011')).toEqual([]);
      // Written through the overlay and copied back as the workspace's owner.
      expect(statSync(join(ws, 'by-sandbox-uid')).uid).toBe(0);
      rmSync(join(ws, 'by-sandbox-uid'));
    });

    it('a workspace a non-root user owns: RLIMIT_NPROC stops a process flood, RLIMIT_FSIZE a disk fill, and what it wrote is that user’s', async () => {
      const sb = rlimitSandbox(owned, { config: config({ limits: { ...testLimits, maxProcesses: 16 } }) } as Partial<SandboxOptions>);
      // The file the command creates belongs to host uid 1000: the whole tree ran as that user.
      const who = await sb.run(['sh', '-c', 'touch mine']);
      expect(who.exitCode).toBe(0);
      expect(statSync(join(owned, 'mine')).uid).toBe(1000);
      // dash fails a refused fork at once (bash would retry for seconds).
      const flood = await sb.run(['sh', '-c', 'for i in $(seq 40); do sleep 1010 & done; echo spawned'], { timeoutMs: 30_000 });
      expect(flood.stderr.text).toMatch(/Cannot fork|Resource temporarily unavailable/);
      expect(survivors('sleep 1010')).toEqual([]);
      // RLIMIT_NPROC counts every process of host uid 1000, so the flood's killed processes (or
      // another test's, as the same uid) can still refuse the next fork for a moment: retry the
      // fill while its only failure is the fork, then check the size limit stopped it.
      let fill = await sb.run(['sh', '-c', 'head -c 100M /dev/zero > big2.bin']);
      for (let i = 0; i < 50 && /Cannot fork|Resource temporarily unavailable/.test(fill.stderr.text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        fill = await sb.run(['sh', '-c', 'head -c 100M /dev/zero > big2.bin']);
      }
      expect(fill.stderr.text).toMatch(/File size limit exceeded/);
      expect(statSync(join(owned, 'big2.bin')).size).toBe(testLimits.maxFileSizeMb * 1024 * 1024);
    });

    it('runAs picks the uid, and a root-owned workspace is still writable through the overlay', async () => {
      const r = await rlimitSandbox(ws, { runAs: { uid: 1000, gid: 1000 } }).run(['sh', '-c', 'id -u; touch made-by-1000']);
      expect(r.stdout.text).toBe('1000\n');
      expect(r.exitCode).toBe(0);
      expect(statSync(join(ws, 'made-by-1000')).uid).toBe(0);
      rmSync(join(ws, 'made-by-1000'));
    });
  });
});

describe('per-call limits', () => {
  it('can lower the configured limits but never raise them', async () => {
    const sb = sandbox();
    const show = 'ulimit -f; ulimit -t';
    const raised = await sb.run(show, { limits: { maxFileSizeMb: 4096, cpuSeconds: 100_000, maxProcesses: 100_000, maxMemoryMb: 1_000_000 } });
    expect(raised.stdout.text).toBe(`${testLimits.maxFileSizeMb * 1024}\n${testLimits.cpuSeconds}\n`);
    const lowered = await sb.run(show, { limits: { maxFileSizeMb: 1, cpuSeconds: 5, maxProcesses: 32 } });
    expect(lowered.stdout.text).toBe(`1024\n5\n`);
    // The memory ceiling holds too: a call asking for 1 TiB is still killed at the configured 128 MiB.
    const hog = await sb.run('python3 -c "a = bytearray(512 * 1024 ** 2); print(len(a))"', { limits: { maxMemoryMb: 1_000_000 } });
    expect(hog.limitsHit).toContain('memory');
    expect(hog.stdout.text).toBe('');
    await expect(sb.run('true', { limits: { maxProcesses: -1 } })).rejects.toThrow(/limits\.maxProcesses must be a positive number/);
  });
});

describe('output', () => {
  it('`yes` is capped, flagged, killed past the hard limit, and memory stays flat', async () => {
    const before = process.memoryUsage().rss;
    const r = await sandbox().run('yes', { maxOutputBytes: 64 * 1024, timeoutMs: 20_000 });
    expect(r.stdout.truncated).toBe(true);
    expect(Buffer.byteLength(r.stdout.text)).toBe(64 * 1024);
    expect(r.stdout.totalBytes).toBeGreaterThan(128 * 1024 * 1024);
    expect(r.limitsHit).toContain('output');
    expect(r.timedOut).toBe(false);
    // Flat means far below what streamed through (RSS also holds garbage the GC has not returned yet, so not a tight bound).
    expect(process.memoryUsage().rss - before).toBeLessThan(r.stdout.totalBytes * 0.75);
  });

  it('100 MB of random bytes: counted in full, capped, invalid UTF-8 at the cut does not throw', async () => {
    const before = process.memoryUsage().rss;
    const r = await sandbox().run('head -c 100M /dev/urandom', { maxOutputBytes: 1000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.totalBytes).toBe(100 * 1024 * 1024);
    expect(r.stdout.truncated).toBe(true);
    expect(r.stdout.text.length).toBeGreaterThan(0);
    expect(process.memoryUsage().rss - before).toBeLessThan(r.stdout.totalBytes * 0.75);
  });
});

describe('arguments the kernel would refuse (E2BIG)', () => {
  // Found by review: one argv element or env value over 128 KiB made the run resolve with exit
  // code 125 and the helper's raw "Argument list too long". It is a refusal before anything starts.
  const big = 'k'.repeat(200 * 1024);
  const cases: [string, string | string[], Record<string, string> | undefined][] = [
    ['one argv element over 128 KiB', ['sh', '-c', 'echo started > e2big.txt', 'x', big], undefined],
    ['a shell string over 128 KiB', `echo started > e2big.txt # ${big}`, undefined],
    ['one env value over 128 KiB', ['sh', '-c', 'echo started > e2big.txt'], { BIG_VALUE: big }],
    ['argv over 1 MiB in all', ['sh', '-c', 'echo started > e2big.txt', ...Array.from({ length: 10 }, () => 'k'.repeat(120 * 1024))], undefined],
  ];
  it.each(cases)('%s is refused as invalid_command, sizes only in the message, nothing started', async (_name, command, env) => {
    const r = await sandbox().run(command, { env });
    expect(r.violation).toMatchObject({ rule: 'invalid_command' });
    expect(r.violation!.message).toMatch(/bytes/);
    expect(r.violation!.message).not.toContain('kkkk');
    expect(r.violation!.message).not.toContain('BIG_VALUE');
    expect(existsSync(join(ws, 'e2big.txt'))).toBe(false);
  });

  it('an argument just under the limit is passed whole', async () => {
    const r = await sandbox().run(['sh', '-c', 'printf %s "$1" | wc -c', 'x', 'k'.repeat(120 * 1024)]);
    expect(r.violation).toBeNull();
    expect(r.stdout.text.trim()).toBe(String(120 * 1024));
  });
});

describe('timeouts and process trees', () => {
  it('sleep 100 is killed at the timeout (SIGTERM) and the call returns', async () => {
    const started = performance.now();
    const r = await sandbox().run('sleep 1001', { timeoutMs: 300 });
    // Bounds here are loose on purpose (2 shared cores, other suites running): they only prove the call did not wait for the command.
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM' });
    expect(survivors('sleep 1001')).toEqual([]);
  });

  it.each([
    ['background', 'sleep 1002 & echo started'],
    ['setsid', 'setsid sleep 1003 & echo started'],
    ['nohup', 'nohup sleep 1004 >/dev/null 2>&1 & echo started'],
    ['subshell holding stdout', '(sleep 1005; echo late) & echo started'],
  ])('%s: returns at once and no process survives', async (_name, command) => {
    const started = performance.now();
    const r = await sandbox().run(command, { timeoutMs: 45_000 });
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(r.timedOut).toBe(false);
    expect(r.stdout.text).toBe('started\n');
    expect(survivors(command.match(/sleep \d+/)![0])).toEqual([]);
  });

  it('aborting kills the whole tree', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const r = await sandbox().run('sleep 1006 & sleep 1006; wait', { signal: controller.signal });
    expect(r).toMatchObject({ aborted: true, timedOut: false });
    expect(survivors('sleep 1006')).toEqual([]);
  });

  it('an abort at any moment of the start resolves as aborted, never as a thrown error', async () => {
    // The helper can be killed between its ready byte and the opening of its staging (ENOENT on
    // /proc/<pid>/root): that is an aborted run too.
    const sb = sandbox();
    for (let delay = 0; delay <= 240; delay += 12) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), delay);
      const r = await sb.run('sleep 1010', { signal: controller.signal });
      expect(r).toMatchObject({ aborted: true, timedOut: false });
    }
    expect(survivors('sleep 1010')).toEqual([]);
  });

  it('a command ignoring SIGTERM is killed with SIGKILL after the grace period', async () => {
    const started = performance.now();
    const r = await sandbox({}, { limitMechanism: 'rlimit' }).run("trap '' TERM; sleep 1008", { timeoutMs: 200, unsafe: true });
    expect(r.timedOut).toBe(true);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(survivors('sleep 1008')).toEqual([]);
  });

  it('under the unsafe override a daemonised grandchild holding the pipes does not hold the call, and is killed', async () => {
    const started = performance.now();
    const r = await sandbox({ allowUnsafe: true, mode: 'disabled' }).run('setsid sleep 1009 & echo started', { timeoutMs: 45_000 });
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(r.timedOut).toBe(false);
    expect(r.unsafe).toBe(true);
    expect(survivors('sleep 1009')).toEqual([]);
  });
});

describe('isolation between runs and from the parent', () => {
  it('secrets in the parent environment are never visible inside, even when allow-listed', async () => {
    const parentEnv = {
      ...process.env,
      OPENROUTER_API_KEY: 'sk-or-secret-1',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-2',
      GITHUB_TOKEN: 'ghp_secret3',
      BUCKLEY_IPC_TOKEN: 'ipc-secret-4',
      SSH_AUTH_SOCK: '/tmp/agent.sock',
    };
    const sb = sandbox({ envAllow: ['PATH', 'HOME', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY'] }, { parentEnv });
    const r = await sb.run('env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"', { env: { EXTRA_API_KEY: 'sk-extra-5', VISIBLE: 'yes' } });
    expect(r.stdout.text).toContain('VISIBLE=yes');
    expect(r.stdout.text).not.toMatch(/secret|sk-extra|agent\.sock|OPENROUTER|BUCKLEY_/);
    expect(r.withheldEnv.toSorted()).toEqual(['AWS_SECRET_ACCESS_KEY', 'EXTRA_API_KEY', 'GITHUB_TOKEN']);
  });

  it('API keys, PATs, auth settings, DSNs, database URLs and credential URLs are withheld even when allow-listed or passed per call', async () => {
    const names = ['STRIPE_APIKEY', 'GITHUB_PAT', 'NPM_AUTH', 'REGISTRY_AUTH_HEADER', 'SENTRY_DSN', 'DATABASE_URL', 'MIRROR_URL', 'CACHE'];
    const parentEnv = {
      ...process.env,
      STRIPE_APIKEY: 'leak-1',
      GITHUB_PAT: 'leak-2',
      NPM_AUTH: 'leak-3',
      REGISTRY_AUTH_HEADER: 'leak-4',
      SENTRY_DSN: 'https://leak-5@o1.ingest.example/1',
      DATABASE_URL: 'postgres://app@db/leak-6',
      MIRROR_URL: 'https://ci:leak-7@mirror.example/npm/',
      GIT_AUTHOR_NAME: 'Ann',
    };
    const sb = sandbox({ envAllow: ['PATH', 'HOME', 'GIT_AUTHOR_NAME', ...names.slice(0, -1)] }, { parentEnv });
    const r = await sb.run(bypass('env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"'), {
      env: { CACHE: 'redis://:leak-8@cache:6379', PLAIN_URL: 'https://mirror.example/' },
    });
    expect(r.stdout.text).not.toMatch(/leak-/);
    expect(r.stdout.text).toContain('GIT_AUTHOR_NAME=Ann');
    expect(r.stdout.text).toContain('PLAIN_URL=https://mirror.example/');
    expect(r.withheldEnv.toSorted()).toEqual(names.toSorted());
  });

  it('two parallel runs see neither each other’s processes nor each other’s /tmp', async () => {
    const sb = sandbox();
    const script = (name: string, nap: string) => `sleep ${nap} & echo ${name} > /tmp/${name}; sleep 0.3; ls /tmp; ps -eo args`;
    const [a, b] = await Promise.all([sb.run(script('mine', '0.71')), sb.run(script('other', '0.72'))]);
    expect(a.stdout.text).toMatch(/^mine\n/);
    expect(a.stdout.text).toContain('sleep 0.71');
    expect(a.stdout.text).not.toMatch(/other|sleep 0\.72/);
    expect(b.stdout.text).toMatch(/^other\n/);
    expect(b.stdout.text).toContain('sleep 0.72');
    expect(b.stdout.text).not.toMatch(/mine|sleep 0\.71/);
  });
});

describe('fail closed and the unsafe override', () => {
  const missingBwrap = { bwrapPath: '/nonexistent/bwrap' };

  it('refuses with a clear error and fix when bubblewrap is missing', async () => {
    const error = await sandbox({}, missingBwrap)
      .run('touch should-not-exist')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect(error).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', missing: 'bwrap' });
    expect((error as Error).message).toMatch(/apt-get install bubblewrap/);
    expect(existsSync(join(ws, 'should-not-exist'))).toBe(false);
  });

  it('with allow_unsafe and no bubblewrap, runs unconfined, marks the result and records the override', async () => {
    const events: SandboxEvent[] = [];
    const r = await sandbox({ allowUnsafe: true }, { ...missingBwrap, onEvent: (e) => events.push(e) }).run('echo hi');
    expect(r).toMatchObject({ unsafe: true, exitCode: 0 });
    expect(events).toEqual([{ type: 'sandbox.unsafe_override', data: expect.objectContaining({ reason: 'sandbox_unavailable', missing: 'bwrap' }) }]);
  });

  it('mode disabled without the override is a violation; the caller option runs unconfined and is recorded', async () => {
    const refused = await sandbox({ mode: 'disabled' }).run('echo hi');
    expect(refused.violation?.rule).toBe('mode_disabled_needs_unsafe');
    const events: SandboxEvent[] = [];
    const r = await sandbox({}, { onEvent: (e) => events.push(e) }).run('cat /proc/net/dev | wc -l', { unsafe: true });
    expect(r.unsafe).toBe(true);
    expect(Number(r.stdout.text.trim())).toBeGreaterThan(3);
    expect(events[0]).toMatchObject({ type: 'sandbox.unsafe_override', data: { reason: 'caller_option' } });
  });
});

describe('cgroups of processes that are gone', () => {
  it('are removed when a sandbox starts, while a live process’s are kept', async () => {
    const dead = execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim();
    const stale = `/sys/fs/cgroup/pids/buckley-${dead}-s1-test`;
    const live = `/sys/fs/cgroup/pids/buckley-1-s1-test`;
    mkdirSync(stale);
    mkdirSync(live);
    try {
      await sandbox().run('true');
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      if (existsSync(stale)) rmdirSync(stale);
      rmdirSync(live);
    }
  });
});

describe('after every run of this file', () => {
  it('leaves no cgroup once every sandbox is closed', async () => {
    await closeAll();
    expect(buckleyCgroups()).toEqual([]);
  });
});
