import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childHostArgs, configEntry, sandboxEntry } from './child-host.test-helper.js';

// A non-root host user gets the same write rules as root: the sandbox runs in a child process
// as uid 65534, from this package's source, and reports what it saw. The child starts as root,
// loads its modules and then drops to uid 65534 for good (groups, gid, uid: no capability is
// left), so the checkout and Node need not be readable by that user (a clone under a mode-700
// directory).

const NOBODY = 65534;
const base = mkdtempSync('/var/tmp/buckley-non-root-test-');

/** What the child script does, as the unprivileged user, in workspaces it owns. */
const CHILD = `
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from ${configEntry};
import { createSandbox } from ${sandboxEntry};

process.setgroups([]);
process.setgid(${NOBODY});
process.setuid(${NOBODY});
const [base, home] = process.argv.slice(2);
const limits = { ...defaultConfig().sandbox.limits, maxFileSizeMb: 4, maxWriteMb: 8, maxFiles: 2000, maxMemoryMb: 256 };
const events = [];
const opened = [];
const sandbox = (name) => {
  const ws = join(base, name);
  mkdirSync(ws);
  const sb = createSandbox({ config: { ...defaultConfig().sandbox, limits }, workspace: ws, home, onEvent: (e) => events.push(e) });
  opened.push(sb);
  return { ws, sb };
};
const out = { uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), groups: process.getgroups(), capEff: /CapEff:\\s*(\\w+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1] };

{
  const { ws, sb } = sandbox('basic');
  const r = await sb.run(['sh', '-c', 'id -u && echo hi > note.txt']);
  out.basic = { stdout: r.stdout.text, owner: statSync(join(ws, 'note.txt')).uid, discarded: r.discardedWrites };
}
{
  const { ws, sb } = sandbox('disk');
  const r = await sb.run(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do head -c 4M /dev/zero > f$i; done; echo done']);
  out.disk = { stdout: r.stdout.text, stderr: r.stderr.text.slice(0, 200), limitsHit: r.limitsHit, bytes: Number(execFileSync('du', ['-sb', ws], { encoding: 'utf8' }).split('\\t')[0]) };
}
{
  const { ws, sb } = sandbox('files');
  const r = await sb.run(['perl', '-e', 'my $ok = 0; for my $i (1 .. 100_000) { open(my $f, ">", "f$i") and $ok++ } print "$ok\\\\n"']);
  out.files = { created: Number(r.stdout.text.trim()), limitsHit: r.limitsHit, onHost: readdirSync(ws).filter((f) => f !== '.buckley').length };
}
{
  const { ws, sb } = sandbox('git');
  const r = await sb.run(['sh', '-c', 'git init -q . && mkdir -p sub/.git && echo "[core]" > sub/.git/config && echo x > .npmrc && echo ok > kept.txt && echo planted']);
  out.git = { stdout: r.stdout.text, discarded: [...r.discardedWrites].sort(), dotGit: existsSync(join(ws, '.git')), subGit: existsSync(join(ws, 'sub', '.git')), npmrc: existsSync(join(ws, '.npmrc')), kept: existsSync(join(ws, 'kept.txt')) };
}
out.violations = events.filter((e) => e.type === 'sandbox.violation').map((e) => e.data.rule + ' ' + e.data.subject).sort();
await Promise.all(opened.map((sb) => sb.close()));
console.log(JSON.stringify(out));
`;

let report: {
  uid: number;
  euid: number;
  gid: number;
  groups: number[];
  capEff: string;
  basic: { stdout: string; owner: number; discarded: string[] };
  disk: { stdout: string; stderr: string; limitsHit: string[]; bytes: number };
  files: { created: number; limitsHit: string[]; onHost: number };
  git: { stdout: string; discarded: string[]; dotGit: boolean; subGit: boolean; npmrc: boolean; kept: boolean };
  violations: string[];
};

beforeAll(() => {
  chmodSync(base, 0o755);
  const work = join(base, 'work');
  const home = join(base, 'home');
  mkdirSync(work);
  mkdirSync(home);
  chownSync(work, NOBODY, NOBODY);
  chownSync(home, NOBODY, NOBODY);
  writeFileSync(join(base, 'child.mts'), CHILD);
  const stdout = execFileSync(process.execPath, childHostArgs(join(base, 'child.mts'), work, home), {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: '/tmp' },
    timeout: 110_000,
  });
  report = JSON.parse(stdout.trim().split('\n').at(-1)!) as typeof report;
}, 120_000);

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('a non-root host user (uid 65534, run from a child process)', () => {
  it('the child really ran unprivileged, and the command runs as that user and writes the workspace', () => {
    expect(report.uid).toBe(NOBODY);
    expect(report.euid).toBe(NOBODY);
    expect(report.gid).toBe(NOBODY);
    // Node's getgroups() lists the effective gid too.
    expect(report.groups.filter((g) => g !== NOBODY)).toEqual([]);
    expect(report.capEff).toBe('0000000000000000');
    expect(report.basic.stdout).toBe(`${NOBODY}\n`);
    expect(report.basic.owner).toBe(NOBODY);
    expect(report.basic.discarded).toEqual([]);
  });

  it('the total write limit holds: eight 4 MiB files against 8 MiB', () => {
    expect(report.disk.stdout).toBe('done\n');
    expect(report.disk.stderr).toMatch(/No space left on device/);
    expect(report.disk.limitsHit).toContain('disk');
    expect(report.disk.bytes).toBeLessThanOrEqual(8 * 1024 * 1024 + 64 * 1024);
  });

  it('the file limit holds: 100 000 files against 2000', () => {
    expect(report.files.created).toBeGreaterThan(1900);
    expect(report.files.created).toBeLessThanOrEqual(2000);
    expect(report.files.limitsHit).toContain('files');
    expect(report.files.onHost).toBe(report.files.created);
  });

  it('the git rule and protected_paths hold: a planted .git (at the root and deeper) and .npmrc are not copied back', () => {
    expect(report.git.stdout).toBe('planted\n');
    expect(report.git).toMatchObject({ dotGit: false, subGit: false, npmrc: false, kept: true });
    expect(report.git.discarded).toEqual(['.git', '.npmrc', 'sub/.git']);
    expect(report.violations).toEqual(expect.arrayContaining(['protected_path .git', 'protected_path .npmrc', 'protected_path sub/.git']));
  });
});
