import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '@buckley/config';
import { BWRAP_FIX, USERNS_FIX, createSandbox, findExecutable, probeBwrap } from './bubblewrap-sandbox.js';
import { detectCgroups } from './cgroup.js';
import { ISOLATED_VM_FIX, createJsRunner, resolveIsolatedVm } from './js-runner.js';
import { SANDBOX_USER, type SandboxIdentity, sandboxIdentity } from './isolation.js';
import { REFUSED_SYSCALLS } from './seccomp.js';

/** One prerequisite of the sandbox. */
export interface DoctorCheck {
  readonly name: 'bwrap' | 'user_namespaces' | 'cgroups' | 'unprivileged_uid' | 'limits' | 'seccomp' | 'isolated-vm';
  readonly ok: boolean;
  /** What was found. */
  readonly detail: string;
  /** How to fix it, when it failed. */
  readonly fix?: string | undefined;
  /** Whether the sandbox works without it (only isolated-vm, which only JavaScript tools need). */
  readonly optional: boolean;
}

/** How process and memory limits are enforced on this host. */
export type LimitMechanism = 'cgroup_v1' | 'cgroup_v2' | 'rlimit';

/** Result of {@link doctor}. */
export interface DoctorReport {
  /** Every required check passed. */
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
  /** The mechanism the command sandbox uses for limits here. */
  readonly limitMechanism: LimitMechanism;
  /**
   * Whom commands run as on the host: `sandbox_uid` (a root host: the unprivileged sandbox uid,
   * through the isolation helper), or `host_user` (bubblewrap runs as the non-root caller).
   */
  readonly uidStrategy: UidStrategy;
}

/** See {@link DoctorReport.uidStrategy}. */
export type UidStrategy =
  | { readonly kind: 'sandbox_uid'; readonly uid: number; readonly gid: number; readonly source: 'option' | 'user' | 'default' }
  | { readonly kind: 'host_user'; readonly uid: number };

/** Options of {@link doctor}. */
export interface DoctorOptions {
  /** Path or name of bubblewrap; default `bwrap`. */
  readonly bwrapPath?: string | undefined;
  /** The `runAs` the sandbox is given (root hosts); default the `buckley-sandbox` user or uid 2000000000. */
  readonly runAs?: { readonly uid: number; readonly gid: number } | undefined;
}

/**
 * Checks each prerequisite of the sandbox on this host, by trying it: bubblewrap present, user
 * namespaces usable, a cgroup to hold limits, whether `RLIMIT_NPROC` can hold (non-root host
 * user), a real fork flood stopped by the limit in force, a seccomp filter in force inside a
 * run (read from the kernel's own report), and isolated-vm loadable. Never throws.
 *
 * @example
 * ```ts
 * const report = await doctor();
 * for (const c of report.checks) console.log(c.ok ? 'ok  ' : 'FAIL', c.name, c.detail, c.fix ?? '');
 * ```
 */
export async function doctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const bwrap = findExecutable(options.bwrapPath ?? 'bwrap');
  checks.push(
    bwrap === null
      ? { name: 'bwrap', ok: false, detail: 'bubblewrap (bwrap) not found on PATH', fix: BWRAP_FIX, optional: false }
      : { name: 'bwrap', ok: true, detail: `found at ${bwrap}`, optional: false },
  );
  const bwrapError = bwrap === null ? 'bwrap not found' : await probeBwrap(bwrap);
  checks.push(
    bwrapError === null
      ? { name: 'user_namespaces', ok: true, detail: 'bwrap created user, PID, IPC and network namespaces', optional: false }
      : {
          name: 'user_namespaces',
          ok: false,
          detail: `bwrap could not create namespaces: ${bwrapError}`,
          fix: bwrap === null ? BWRAP_FIX : USERNS_FIX,
          optional: false,
        },
  );

  const cgroups = detectCgroups();
  const root = process.getuid?.() === 0;
  const limitMechanism: LimitMechanism = cgroups.ok ? (cgroups.support.version === 1 ? 'cgroup_v1' : 'cgroup_v2') : 'rlimit';
  checks.push(
    cgroups.ok
      ? {
          name: 'cgroups',
          ok: true,
          detail:
            cgroups.support.version === 1
              ? `cgroup v1: pids at ${cgroups.support.pids}${cgroups.support.memory ? `, memory at ${cgroups.support.memory}` : ', no memory controller'}`
              : `cgroup v2 at ${cgroups.support.dir}${cgroups.support.memory ? ' with memory' : ' without memory'}`,
          optional: !root,
        }
      : {
          name: 'cgroups',
          ok: false,
          detail: cgroups.reason,
          fix: 'give Buckley a writable cgroup with the pids and memory controllers (cgroup v2: a delegated scope)',
          optional: !root,
        },
  );
  const identity = sandboxIdentity(options.runAs);
  const uidStrategy: UidStrategy = root ? { kind: 'sandbox_uid', ...identity } : { kind: 'host_user', uid: process.getuid?.() ?? -1 };
  if (!root)
    checks.push({
      name: 'unprivileged_uid',
      ok: true,
      detail: `host uid ${process.getuid?.()} is not root: commands run as it (RLIMIT_NPROC holds), their writes through a size- and inode-limited overlay copied back to the workspace`,
      optional: false,
    });
  else if (bwrapError !== null)
    checks.push({
      name: 'unprivileged_uid',
      ok: false,
      detail: 'not checked: bubblewrap cannot start',
      fix: bwrap === null ? BWRAP_FIX : USERNS_FIX,
      optional: false,
    });
  else checks.push(await checkSandboxUid(bwrap!, identity, options.runAs));

  if (bwrapError === null) {
    checks.push(await checkLimits(bwrap!, limitMechanism));
    checks.push(await checkSeccomp(bwrap!, limitMechanism));
  } else {
    checks.push({ name: 'limits', ok: false, detail: 'not checked: bubblewrap cannot start', fix: bwrap === null ? BWRAP_FIX : USERNS_FIX, optional: false });
    checks.push({ name: 'seccomp', ok: false, detail: 'not checked: bubblewrap cannot start', fix: bwrap === null ? BWRAP_FIX : USERNS_FIX, optional: false });
  }

  checks.push(await checkIsolatedVm());
  return { ok: checks.every((c) => c.ok || c.optional), checks, limitMechanism, uidStrategy };
}

const IDENTITY_SOURCE = { option: 'runAs', user: `the ${SANDBOX_USER} user`, default: `the default (no ${SANDBOX_USER} user)` } as const;

/** On a root host: runs a command and reads, from the host, which uid the kernel gives it. */
async function checkSandboxUid(bwrap: string, identity: SandboxIdentity, runAs: DoctorOptions['runAs']): Promise<DoctorCheck> {
  const dir = mkdtempSync(join(tmpdir(), 'buckley-doctor-'));
  const fix = 'see the README, Root hosts: it needs Linux 5.19+, overlayfs, idmapped mounts on the workspace filesystem and perl';
  try {
    chmodSync(dir, 0o755);
    await using sandbox = createSandbox({ config: defaultConfig().sandbox, workspace: dir, bwrapPath: bwrap, killGraceMs: 200, runAs });
    const marker = `30.${process.pid}${Math.floor(Math.random() * 1000)}`;
    const controller = new AbortController();
    const running = sandbox.run(['sleep', marker], { signal: controller.signal, timeoutMs: 20_000 });
    let uids: number[] = [];
    for (let i = 0; i < 250 && uids.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      uids = execFileSync('ps', ['-eo', 'uid=,args='], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((words) => words[1] === 'sleep' && words[2] === marker && words.length === 3)
        .map((words) => Number(words[0]));
    }
    controller.abort();
    await running;
    const from = IDENTITY_SOURCE[identity.source];
    if (uids.length === 1 && uids[0] === identity.uid && identity.uid !== 0) {
      return {
        name: 'unprivileged_uid',
        ok: true,
        detail: `the host user is root; commands run as host uid ${identity.uid} (gid ${identity.gid}, from ${from}) over an idmapped overlay of the workspace, seen by the host while running`,
        optional: false,
      };
    }
    return {
      name: 'unprivileged_uid',
      ok: false,
      detail: `a command was seen as host uid ${uids.join(', ') || 'none'}, expected ${identity.uid} (from ${from})`,
      fix,
      optional: false,
    };
  } catch (error) {
    return probeFailed('unprivileged_uid', 'uid', error, fix);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function checkLimits(bwrap: string, mechanism: LimitMechanism): Promise<DoctorCheck> {
  const dir = mkdtempSync(join(tmpdir(), 'buckley-doctor-'));
  try {
    const config = {
      ...defaultConfig().sandbox,
      limits: { maxProcesses: 8, maxMemoryMb: 64, maxFileSizeMb: 1, cpuSeconds: 5, maxWriteMb: 16, maxFiles: 1000 },
    };
    await using sandbox = createSandbox({
      config,
      workspace: dir,
      bwrapPath: bwrap,
      killGraceMs: 200,
      limitMechanism: mechanism === 'rlimit' ? 'rlimit' : 'auto',
    });
    // dash, not bash: bash retries a failed fork with growing sleeps, dash fails at once.
    const flood = await sandbox.run(['/bin/sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do sleep 1 & done; exit 0'], { timeoutMs: 5000 });
    const held = flood.limitsHit.includes('processes') || /fork|Resource temporarily unavailable/i.test(flood.stderr.text);
    const fsize = await sandbox.run('head -c 2M /dev/zero > f; stat -c %s f', { timeoutMs: 5000 });
    const fileHeld = fsize.stdout.text.trim() === String(1024 * 1024);
    const detail = `${mechanism}: ${held ? 'a 16-process flood was cut at 8' : 'a 16-process flood was NOT stopped'}; ${fileHeld ? 'a 2 MiB write was cut at 1 MiB' : 'file size limit did NOT hold'}`;
    return held && fileHeld
      ? { name: 'limits', ok: true, detail, optional: false }
      : { name: 'limits', ok: false, detail, fix: 'run as a non-root user or give Buckley a writable cgroup (pids, memory)', optional: false };
  } catch (error) {
    return probeFailed('limits', 'limit', error, 'see the cgroups and user-namespaces checks');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a sandboxed command that reads its own seccomp state: the kernel says whether a filter is in force. */
async function checkSeccomp(bwrap: string, mechanism: LimitMechanism): Promise<DoctorCheck> {
  const dir = mkdtempSync(join(tmpdir(), 'buckley-doctor-'));
  const refused = REFUSED_SYSCALLS.map((s) => s.name).join(', ');
  try {
    await using sandbox = createSandbox({
      config: defaultConfig().sandbox,
      workspace: dir,
      bwrapPath: bwrap,
      killGraceMs: 200,
      limitMechanism: mechanism === 'rlimit' ? 'rlimit' : 'auto',
    });
    const r = await sandbox.run(['/bin/cat', '/proc/self/status'], { timeoutMs: 5000 });
    const mode = /^Seccomp:\s*(\d+)/m.exec(r.stdout.text)?.[1];
    return mode === '2'
      ? {
          name: 'seccomp',
          ok: true,
          detail: `a seccomp filter is in force in every run (the kernel reports Seccomp: 2 inside); refused with EPERM: ${refused}`,
          optional: false,
        }
      : {
          name: 'seccomp',
          ok: false,
          detail: `no seccomp filter inside a run (Seccomp: ${mode ?? 'unknown'}${r.stderr.text ? `; ${r.stderr.text.trim().slice(0, 200)}` : ''})`,
          fix: 'use a kernel built with CONFIG_SECCOMP_FILTER and bubblewrap >= 0.3',
          optional: false,
        };
  } catch (error) {
    return probeFailed('seccomp', 'seccomp', error, 'see the user-namespaces check');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function checkIsolatedVm(): Promise<DoctorCheck> {
  const resolved = resolveIsolatedVm();
  if (!resolved.ok) return { name: 'isolated-vm', ok: false, detail: `not loadable: ${resolved.reason}`, fix: ISOLATED_VM_FIX, optional: true };
  const runner = createJsRunner({ timeoutMs: 2000 });
  try {
    const r = await runner.run('6 * 7');
    return r.ok && r.value === 42
      ? {
          name: 'isolated-vm',
          ok: true,
          detail: `loaded from ${resolved.path}; an isolate ran in a child process ${detectCgroups().ok ? 'bounded by its own cgroup (processMemoryLimitMb)' : 'with no process memory limit (no writable cgroup)'}; WebAssembly off unless allowWasm`,
          optional: true,
        }
      : { name: 'isolated-vm', ok: false, detail: `an isolate did not run: ${r.ok ? String(r.value) : r.error.message}`, fix: ISOLATED_VM_FIX, optional: true };
  } catch (error) {
    return { name: 'isolated-vm', ok: false, detail: `the runner did not start: ${(error as Error).message}`, fix: ISOLATED_VM_FIX, optional: true };
  } finally {
    await runner.close();
  }
}

/** A failed check whose probe itself threw. */
function probeFailed(name: DoctorCheck['name'], probe: string, error: unknown, fix: string): DoctorCheck {
  return { name, ok: false, detail: `the ${probe} probe failed: ${(error as Error).message}`, fix, optional: false };
}
