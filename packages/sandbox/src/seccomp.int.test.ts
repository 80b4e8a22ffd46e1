import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '@buckley/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REFUSED_SYSCALLS, compileSeccompFilter, doctor, findExecutable } from './index.js';
import { trackedSandboxes } from './test-sandboxes.js';

const { create: createSandbox, closeAll } = trackedSandboxes();

// A probe in C, compiled here with gcc: keyring calls as the finding made them, a harness that
// installs a filter itself and reports what each syscall number returns, and an i386 call
// through `int 0x80` (the compat ABI a filter checking only x86_64 numbers would let through).
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_SPEC_SESSION_KEYRING -3
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_READ 11

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "read")) {
    long id = syscall(SYS_request_key, "user", argv[2], NULL, 0);
    if (id < 0) { printf("request_key refused errno=%d\n", errno); }
    else {
      char buf[256] = {0};
      long n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf - 1);
      if (n < 0) printf("read refused errno=%d\n", errno); else printf("payload=%s\n", buf);
    }
    long session = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (session < 0) printf("session refused errno=%d\n", errno);
    else {
      char list[1024];
      long n = syscall(SYS_keyctl, KEYCTL_READ, session, list, sizeof list);
      printf("session keyring %ld read %ld\n", session, n);
    }
    return 0;
  }
  if (!strcmp(argv[1], "filter")) {
    static struct sock_filter code[512];
    int fd = open(argv[2], O_RDONLY);
    long size = read(fd, code, sizeof code);
    struct sock_fprog prog = { .len = (unsigned short)(size / 8), .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { printf("install failed errno=%d\n", errno); return 1; }
    for (int i = 3; i < argc; i++) {
      long nr = atol(argv[i]);
      errno = 0;
      long r = syscall(nr, -1L, 0L, 0L, 0L, 0L, 0L);
      printf("%ld %ld %d\n", nr, r, r < 0 ? errno : 0);
    }
#ifdef __x86_64__
    // In a child: a kernel without the i386 ABI answers int 0x80 with SIGSEGV.
    pid_t child = fork();
    if (child == 0) {
      long r;
      __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory");
      printf("i386-getpid %ld\n", r);
      _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status)) printf("i386-getpid unavailable\n");
#endif
    return 0;
  }
  if (!strcmp(argv[1], "allowed")) {
    printf("getpid %s\n", syscall(SYS_getpid) > 0 ? "ok" : "refused");
    return 0;
  }
  return 2;
}
`;

// Stands in for bubblewrap (through SandboxOptions.bwrapPath): joins a new session keyring,
// puts a secret key in it, then execs the real bwrap. So the sandbox runs exactly as it does for
// a caller that has a session keyring with a secret in it (a login session, pam_keyinit).
const KEYRING_BWRAP_C = String.raw`
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argc;
  if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, (char *)0) < 0) return 120;
  if (syscall(SYS_add_key, "user", KEY_NAME, KEY_SECRET, strlen(KEY_SECRET), -3 /* session */) < 0) return 121;
  argv[0] = BWRAP;
  execv(BWRAP, argv);
  return 122;
}
`;

const base = mkdtempSync('/var/tmp/buckley-seccomp-test-');
const ws = join(base, 'ws');
const probe = join(ws, 'probe');
const keyringBwrap = join(base, 'keyring-bwrap');
const keyName = `buckley-probe-${randomBytes(4).toString('hex')}`;
const keySecret = `keyring-secret-${randomBytes(6).toString('hex')}`;
const gcc = findExecutable('gcc') ?? findExecutable('cc');
const bwrap = findExecutable('bwrap');
const testLimits = { maxProcesses: 64, maxMemoryMb: 512, maxFileSizeMb: 64, cpuSeconds: 30, maxWriteMb: 256, maxFiles: 10_000 };
const sandbox = () => createSandbox({ config: { ...defaultConfig().sandbox, limits: testLimits }, workspace: ws, home: join(base, 'home'), killGraceMs: 500 });

beforeAll(() => {
  // On a root host commands run as the sandbox uid, which must be able to enter the test's directory to run the probe.
  chmodSync(base, 0o755);
  mkdirSync(ws, { recursive: true });
  mkdirSync(join(base, 'home'));
  if (gcc === null) throw new Error('these tests need gcc (apt-get install gcc) to build the syscall probe');
  writeFileSync(join(base, 'probe.c'), PROBE_C);
  execFileSync(gcc, ['-O1', '-o', probe, join(base, 'probe.c')]);
  if (bwrap === null) throw new Error('these tests need bubblewrap');
  writeFileSync(join(base, 'keyring-bwrap.c'), KEYRING_BWRAP_C);
  const quoted = (v: string) => `-D${v}`;
  execFileSync(gcc, [
    '-O1',
    quoted(`KEY_NAME="${keyName}"`),
    quoted(`KEY_SECRET="${keySecret}"`),
    quoted(`BWRAP="${bwrap}"`),
    '-o',
    keyringBwrap,
    join(base, 'keyring-bwrap.c'),
  ]);
});
afterEach(async () => {
  await closeAll();
});

afterAll(async () => {
  await closeAll();
  rmSync(base, { recursive: true, force: true });
});

describe('the seccomp filter on the real kernel', () => {
  const TEST_ERRNO = 133; // EHWPOISON: no syscall below returns it on its own.

  /** Runs the harness in a capability-less bwrap (so a broken filter could do no harm) and parses `nr result errno` lines. */
  function harness(numbers: readonly number[]): { results: Map<number, { result: number; errno: number }>; i386: string | undefined } {
    const filterFile = join(base, 'filter.bpf');
    writeFileSync(filterFile, compileSeccompFilter({ errno: TEST_ERRNO }));
    const out = execFileSync(
      bwrap!,
      [
        '--unshare-all',
        '--die-with-parent',
        '--cap-drop',
        'ALL',
        '--ro-bind',
        '/',
        '/',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        probe,
        'filter',
        filterFile,
        ...numbers.map(String),
      ],
      { encoding: 'utf8' },
    );
    const results = new Map<number, { result: number; errno: number }>();
    let i386: string | undefined;
    for (const line of out.trim().split('\n')) {
      if (line.startsWith('i386-getpid')) i386 = line.split(' ')[1];
      else {
        const [nr, result, errno] = line.split(' ').map(Number);
        results.set(nr!, { result: result!, errno: errno! });
      }
    }
    return { results, i386 };
  }

  const native = arch() === 'x64' ? 'x86_64' : 'aarch64';

  it('refuses every listed syscall of this architecture with the configured errno', () => {
    const listed = REFUSED_SYSCALLS.flatMap((s) => (s[native] === undefined ? [] : [s[native]]));
    expect(listed.length).toBeGreaterThan(25);
    const { results } = harness(listed);
    for (const nr of listed) expect({ nr, ...results.get(nr) }).toEqual({ nr, result: -1, errno: TEST_ERRNO });
  });

  it('lets syscalls that are not listed through', () => {
    // getpid, getuid, uname(NULL) -> EFAULT from the kernel itself, not the filter.
    const allowed = native === 'x86_64' ? [39, 102, 63] : [172, 174, 160];
    const { results } = harness(allowed);
    expect(results.get(allowed[0]!)!.result).toBeGreaterThan(0);
    expect(results.get(allowed[1]!)!.result).toBeGreaterThanOrEqual(0);
    expect(results.get(allowed[2]!)!.errno).not.toBe(TEST_ERRNO);
  });

  it.runIf(arch() === 'x64')('refuses the i386 ABI (int 0x80) and x32 numbers as a whole', () => {
    const { results, i386 } = harness([0x40000000 | 39]);
    expect(results.get(0x40000000 | 39)).toEqual({ result: -1, errno: TEST_ERRNO });
    // Where the kernel has no i386 ABI (int 0x80 faults), there is nothing to walk around.
    expect([String(-TEST_ERRNO), 'unavailable']).toContain(i386);
  });
});

describe('sandboxed commands (hostile)', () => {
  it("cannot read the caller's session keyring: request_key and KEYCTL_READ fail, the secret stays out", async () => {
    // Without the filter the key is there for the taking: bubblewrap alone does not hide it.
    const bare = execFileSync(
      keyringBwrap,
      ['--unshare-all', '--cap-drop', 'ALL', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', probe, 'read', keyName],
      { encoding: 'utf8' },
    );
    expect(bare).toContain(`payload=${keySecret}`);

    const box = createSandbox({
      config: { ...defaultConfig().sandbox, limits: testLimits },
      workspace: ws,
      home: join(base, 'home'),
      bwrapPath: keyringBwrap,
      killGraceMs: 500,
    });
    for (let i = 0; i < 2; i++) {
      // Twice: the first run starts its own process, the second takes the spare.
      const r = await box.run([probe, 'read', keyName], { timeoutMs: 10_000 });
      expect({ exitCode: r.exitCode, stderr: r.stderr.text }).toEqual({ exitCode: 0, stderr: '' });
      expect(r.stdout.text).not.toContain(keySecret);
      expect(r.stdout.text).toContain('request_key refused errno=1');
      expect(r.stdout.text).toContain('session refused errno=1');
    }
    await box.close();
  });

  it('normal tools still work: a shell pipeline, node, gcc building and running a program', async () => {
    const box = sandbox();
    const shell = await box.run('ls / | grep -c . && echo hi > f.txt && cat f.txt && grep Seccomp: /proc/self/status', { timeoutMs: 15_000 });
    expect({ exitCode: shell.exitCode, stderr: shell.stderr.text }).toEqual({ exitCode: 0, stderr: '' });
    expect(shell.stdout.text).toContain('hi\n');
    expect(shell.stdout.text).toMatch(/Seccomp:\s+2/);
    const node = await box.run(
      [process.execPath, '-e', 'require("fs").writeFileSync("n.txt", "ok"); console.log(require("fs").readFileSync("n.txt", "utf8"))'],
      { timeoutMs: 30_000 },
    );
    expect({ stdout: node.stdout.text, stderr: node.stderr.text }).toEqual({ stdout: 'ok\n', stderr: '' });
    writeFileSync(join(ws, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("built"); return 0; }\n');
    const built = await box.run(`${gcc} -o hello hello.c && ./hello`, { timeoutMs: 60_000 });
    expect({ stdout: built.stdout.text, stderr: built.stderr.text }).toEqual({ stdout: 'built\n', stderr: '' });
  });

  it('a syscall that is not on the list works inside', async () => {
    const box = sandbox();
    const r = await box.run([probe, 'allowed'], { timeoutMs: 10_000 });
    expect(r.stdout.text).toBe('getpid ok\n');
  });
});

describe('doctor', () => {
  it('reports the seccomp filter in force', async () => {
    const report = await doctor();
    const check = report.checks.find((c) => c.name === 'seccomp');
    expect(check).toMatchObject({ ok: true, optional: false });
    expect(check?.detail).toContain('keyctl');
  });
});
