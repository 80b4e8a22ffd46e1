import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { SandboxConfig } from '@buckley/config';
import { type Finding, redact } from '@buckley/security';
import { ClosedError, InvalidArgumentError, isInside } from '@buckley/utils';
import { type CgroupDetection, type CgroupSupport, RunCgroup, detectCgroups, sweepStaleCgroups } from './cgroup.js';
import { buildEnvironment } from './env.js';
import { SandboxUnavailableError, SandboxWorkspaceError } from './sandbox-errors.js';
import {
  HELPER_ARGV_FD,
  HELPER_READY_FD,
  STAGING_DIR,
  type SandboxIdentity,
  Staging,
  type HelperInput,
  helperArgs,
  stagedPath,
  stagedWorkspace,
  helperSyscalls,
  userStagingDir,
  sandboxIdentity,
} from './isolation.js';
import { type DiscardReason, copyBack } from './copy-back.js';
import { LAUNCHER_FAILURE, type Rlimit, launcherArgs, spareLauncherArgs } from './launcher.js';
import { bwrapArgs, closedAncestor, planMounts } from './mounts.js';
import { CappedBuffer } from './output.js';
import { checkArgumentSize, checkCommand } from './policy.js';
import { compileSeccompFilter } from './seccomp.js';
import type { LimitHit, RunOptions, RunResult, Sandbox, SandboxLimits, SandboxViolation, ViolationRule } from './sandbox.js';

/** An event the sandbox asks its owner to record (observability writes them to the log). */
export type SandboxEvent =
  | {
      readonly type: 'sandbox.unsafe_override';
      readonly data: {
        /** Why the run had no namespaces. */
        readonly reason: 'mode_disabled' | 'caller_option' | 'sandbox_unavailable';
        readonly command: string | readonly string[];
        readonly cwd: string;
        /** For `sandbox_unavailable`: what was missing. */
        readonly missing?: string | undefined;
      };
    }
  | {
      readonly type: 'sandbox.violation';
      readonly data: SandboxViolation & { readonly command: string | readonly string[]; readonly cwd: string };
    }
  | {
      /** The run went ahead; the lexical analysis flagged something worth a look. */
      readonly type: 'sandbox.warning';
      readonly data: { readonly findings: readonly Finding[]; readonly command: string | readonly string[]; readonly cwd: string };
    };

/** Options of {@link createSandbox}. */
export interface SandboxOptions {
  /** The `sandbox` section of the Buckley config. */
  readonly config: SandboxConfig;
  /** The directory commands may write (in `workspace` mode) and run in. */
  readonly workspace: string;
  /** Home directory whose credential paths are hidden; defaults to `os.homedir()`. */
  readonly home?: string | undefined;
  /** Environment the allow-list copies from; defaults to `process.env`. */
  readonly parentEnv?: NodeJS.ProcessEnv | undefined;
  /** The caller's unsafe override (`--unsafe`), in addition to `config.allowUnsafe`. */
  readonly unsafe?: boolean | undefined;
  /** Path of the bubblewrap binary; defaults to `bwrap` found on `PATH`. */
  readonly bwrapPath?: string | undefined;
  /** Time between SIGTERM and SIGKILL when a run is stopped, in milliseconds (default 2000). */
  readonly killGraceMs?: number | undefined;
  /** Called for every unsafe run and every policy violation. Must not throw. */
  readonly onEvent?: ((event: SandboxEvent) => void) | undefined;
  /**
   * Which mechanism enforces the process and memory limits: `auto` (cgroups when writable, else
   * rlimits), or `rlimit` to skip cgroups. Default `auto`.
   */
  readonly limitMechanism?: 'auto' | 'rlimit' | undefined;
  /**
   * Host uid and gid every command runs as when the host user is root (a command never runs
   * as real uid 0). Defaults to the `buckley-sandbox` user when it exists, else uid and gid
   * 2000000000. See the README, "Root hosts".
   */
  readonly runAs?: { readonly uid: number; readonly gid: number } | undefined;
}

/** The fd bubblewrap reads the seccomp filter from (`--seccomp 5`); 3 and 4 are its info and block fds. */
const SECCOMP_FD = 5;
let seccompFilter: Buffer | undefined;

/** Hands the seccomp filter to a bwrap child on its fd 5 (a pipe holds the few hundred bytes at once). */
function sendSeccompFilter(child: ChildProcess): void {
  seccompFilter ??= compileSeccompFilter();
  const fd = (child.stdio as readonly unknown[])[SECCOMP_FD] as Writable | null | undefined;
  fd?.on('error', () => {
    // bwrap exited before reading it; its exit status says why.
  });
  fd?.end(seccompFilter);
}

/** How long to keep reading stdout/stderr after the process exited before giving up on them. */
const DRAIN_MS = 250;
/** Kill a run whose one stream has produced this many times its cap (it only burns CPU after that). */
const OUTPUT_KILL_FACTOR = 64;
const MIB = 1024 * 1024;
/** How often a run's cgroup is checked for refused forks, in milliseconds. */
const FORK_CHECK_MS = 50;
/** Consecutive checks with new refused forks after which the run is killed as a fork bomb. */
const FORK_CHECKS_TO_KILL = 2;

/** Finds an executable named `name` on `PATH` (and the usual system directories). */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | null {
  if (isAbsolute(name)) return isExecutable(name) ? name : null;
  for (const dir of [...path.split(delimiter), '/usr/bin', '/usr/local/bin', '/bin']) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** What the sandbox found about its host, probed once. */
interface SandboxProbe {
  readonly bwrap: string | null;
  /** null when bubblewrap starts with user namespaces; otherwise why not. */
  readonly bwrapError: string | null;
  readonly cgroups: CgroupDetection;
  /** Perl, which runs the isolation helper; null when not found. */
  readonly perl: string | null;
}

/** Runs bubblewrap once with the namespaces every run uses; resolves with bwrap's error text, or null on success. */
export function probeBwrap(bwrap: string): Promise<string | null> {
  return new Promise((resolvePromise) => {
    const child = spawn(
      bwrap,
      [
        '--unshare-user',
        '--unshare-pid',
        '--unshare-net',
        '--unshare-ipc',
        '--die-with-parent',
        '--ro-bind',
        '/',
        '/',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        'true',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: {} },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolvePromise(error.message);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise(code === 0 ? null : stderr.trim() || `bwrap exited with code ${code}`);
    });
  });
}

/** The fix for a host where bubblewrap is installed but cannot create user namespaces. */
export const USERNS_FIX =
  'enable unprivileged user namespaces (sysctl -w user.max_user_namespaces=15000; on Debian also kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), or run inside a VM or container that allows them';
/** The fix for a host without bubblewrap. */
export const BWRAP_FIX = 'install bubblewrap (apt-get install bubblewrap, dnf install bubblewrap, or pacman -S bubblewrap)';

/** The command sandbox on bubblewrap (Linux); see {@link createSandbox}. */
class BubblewrapSandbox implements Sandbox {
  readonly #options: SandboxOptions;
  readonly #config: SandboxConfig;
  readonly #workspace: string;
  readonly #home: string;
  #probe: Promise<SandboxProbe> | undefined;
  #identity: SandboxIdentity | undefined;
  #counter = 0;
  /** This instance's process kept ready for the next run. */
  readonly #spares = new SpareSlot();
  /** Aborted by close(): every run in flight is killed. */
  readonly #closing = new AbortController();
  /** Runs in flight, awaited by close(). */
  readonly #runs = new Set<Promise<unknown>>();
  #closed: Promise<void> | null = null;

  constructor(options: SandboxOptions) {
    this.#options = options;
    this.#config = options.config;
    try {
      this.#workspace = realpathSync(options.workspace);
    } catch (error) {
      throw new InvalidArgumentError(`workspace must be an existing directory, got ${JSON.stringify(options.workspace)}`, { cause: error });
    }
    this.#home = options.home ?? homedir();
    const runAs = options.runAs;
    if (runAs !== undefined && (!isUnprivilegedId(runAs.uid) || !isUnprivilegedId(runAs.gid))) {
      throw new InvalidArgumentError(`runAs must be an unprivileged uid and gid (integers from 1 to 4294967294), got ${JSON.stringify(runAs)}`);
    }
    const refusal = workspaceRefusal(this.#workspace, this.#home);
    if (refusal !== null) throw new SandboxWorkspaceError(this.#workspace, refusal);
  }

  /** What the host offers (bubblewrap, user namespaces, cgroups); probed once and cached. */
  #probeHost(): Promise<SandboxProbe> {
    this.#probe ??= (async () => {
      const bwrap = findExecutable(this.#options.bwrapPath ?? 'bwrap');
      const bwrapError = bwrap === null ? 'bwrap not found' : await probeBwrap(bwrap);
      const cgroups: CgroupDetection =
        this.#options.limitMechanism === 'rlimit' ? { ok: false, reason: 'cgroups turned off by limitMechanism "rlimit"' } : detectCgroups();
      if (cgroups.ok) sweepStaleCgroups(cgroups.support);
      const perl = findExecutable('perl');
      // The mount point of every run's private staging tmpfs; empty on the host.
      if (process.getuid?.() === 0) mkdirSync(STAGING_DIR, { recursive: true, mode: 0o755 });
      return { bwrap, bwrapError, cgroups, perl };
    })();
    return this.#probe;
  }

  run(command: string | readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (this.#closed !== null) return Promise.reject(new ClosedError('sandbox'));
    const running = this.#run(command, options);
    this.#runs.add(running);
    const forget = () => this.#runs.delete(running);
    running.then(forget, forget);
    return running;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#spares.close();
      await Promise.allSettled(this.#runs);
      // A run that ended while closing may have scheduled a spare after the first release.
      await this.#spares.close();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #run(command: string | readonly string[], options: RunOptions): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? this.#config.timeoutSeconds * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(options.timeoutMs)}`);
    }
    const maxOutputBytes = options.maxOutputBytes ?? this.#config.maxOutputBytes;
    if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0) {
      throw new InvalidArgumentError(`maxOutputBytes must be an integer >= 0, got ${JSON.stringify(options.maxOutputBytes)}`);
    }
    // A call may lower the configured limits, never raise them: the config is the operator's ceiling.
    const limits: { -readonly [K in keyof SandboxLimits]: number } = { ...this.#config.limits };
    for (const [name, value] of Object.entries(options.limits ?? {}) as [keyof SandboxLimits, number | undefined][]) {
      if (value === undefined) continue;
      if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`limits.${name} must be a positive number, got ${JSON.stringify(value)}`);
      if (name in limits) limits[name] = Math.min(limits[name], value);
    }
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`limits.${name} must be a positive number, got ${JSON.stringify(value)}`);
    }
    const cwd = options.cwd === undefined ? this.#workspace : resolve(this.#workspace, options.cwd);
    const { env, withheld } = buildEnvironment(this.#options.parentEnv ?? process.env, this.#config.envAllow, options.env);
    // One home for everything: the lexical policy expands `~` and `$HOME` to it, the mount plan hides
    // its credentials, and the command's shell gets it. A HOME from the parent or from the call would
    // point `~` at a home whose secrets are not masked.
    env.HOME = this.#home;

    const refuse = (violation: SandboxViolation): RunResult => {
      this.#emit({ type: 'sandbox.violation', data: { ...violation, command, cwd } });
      return emptyResult({ violation, withheld, unsafe: false, warnings });
    };
    let warnings: readonly Finding[] = [];

    const overridden = this.#config.allowUnsafe || this.#options.unsafe === true || options.unsafe === true;
    if (this.#config.mode === 'disabled' && !overridden) {
      return refuse({
        rule: 'mode_disabled_needs_unsafe',
        message: 'sandbox.mode "disabled" needs the unsafe override (sandbox.allow_unsafe, BUCKLEY_UNSAFE=1 or --unsafe)',
      });
    }
    let realCwd: string;
    try {
      realCwd = realpathSync.native(cwd);
    } catch {
      return refuse({ rule: 'cwd_outside_workspace', message: `cwd ${JSON.stringify(options.cwd)} does not exist`, subject: cwd });
    }
    if (!isInside(this.#workspace, realCwd)) {
      return refuse({
        rule: 'cwd_outside_workspace',
        message: `cwd ${JSON.stringify(options.cwd)} is outside the workspace ${JSON.stringify(this.#workspace)}`,
        subject: realCwd,
      });
    }
    const decision = checkCommand(command, {
      mode: this.#config.mode,
      allowedCommands: this.#config.allowedCommands,
      workspace: this.#workspace,
      cwd: realCwd,
      home: this.#home,
      deniedPaths: this.#config.deniedPaths,
    });
    warnings = decision.warnings;
    if (decision.violation !== null) return refuse(decision.violation);
    const tooLarge = checkArgumentSize(command, options.env);
    if (tooLarge !== null) return refuse(tooLarge);
    if (warnings.length > 0) this.#emit({ type: 'sandbox.warning', data: { findings: warnings, command, cwd: realCwd } });

    const probe = await this.#probeHost();
    if (this.#closing.signal.aborted) throw new ClosedError('sandbox');
    let unsafeReason: 'mode_disabled' | 'caller_option' | 'sandbox_unavailable' | null = null;
    let missing: string | undefined;
    if (this.#config.mode === 'disabled') unsafeReason = 'mode_disabled';
    else if (options.unsafe === true) unsafeReason = 'caller_option';
    else if (probe.bwrap === null || probe.bwrapError !== null) {
      missing = probe.bwrap === null ? 'bwrap' : 'user_namespaces';
      if (!overridden) {
        throw probe.bwrap === null
          ? new SandboxUnavailableError('bwrap', 'bubblewrap (bwrap) is not installed, so commands cannot be sandboxed', BWRAP_FIX)
          : new SandboxUnavailableError('user_namespaces', `bubblewrap cannot create namespaces here (${probe.bwrapError})`, USERNS_FIX);
      }
      unsafeReason = 'sandbox_unavailable';
    }
    // Every bwrap run goes through the isolation helper: its writes land in a size- and
    // inode-limited overlay and are copied back by the rules of copy-back.ts. A root host's
    // command runs as the sandbox uid (never real uid 0); a non-root user's as that user.
    const root = process.getuid?.() === 0;
    let isolation: Isolation | null = null;
    if (unsafeReason === null) {
      const syscalls = helperSyscalls();
      const who = root ? 'the host user is root and ' : '';
      if (probe.perl === null || syscalls === null) {
        if (!overridden) {
          throw probe.perl === null
            ? new SandboxUnavailableError(
                'perl',
                `${who}perl (which runs the helper that sets up the run's write overlay${root ? ' and drops to an unprivileged uid' : ''}) is not installed`,
                'install perl (apt-get install perl-base, dnf install perl)',
              )
            : new SandboxUnavailableError('architecture', `${who}the isolation helper does not know the syscalls of ${process.arch}`, 'run on x64 or arm64');
        }
        unsafeReason = 'sandbox_unavailable';
        missing = probe.perl === null ? 'perl' : 'architecture';
      } else {
        const owner = statSync(this.#workspace);
        const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
        const helperInput: HelperInput = {
          mode: root ? 'idmap' : 'self',
          stage: root ? STAGING_DIR : userStagingDir(),
          perl: probe.perl,
          syscalls,
          identity: root ? this.identity : self,
          workspace: this.#workspace,
          owner: root ? { uid: owner.uid, gid: owner.gid } : self,
          stagingBytes: limits.maxWriteMb * MIB,
          maxFiles: limits.maxFiles,
          binds: [],
        };
        isolation = {
          writable: this.#config.mode === 'workspace',
          workspace: this.#workspace,
          helperInput,
          helper: [],
          protectedPaths: this.#config.protectedPaths,
          rootPaths: [],
        };
      }
    }
    if (unsafeReason !== null) {
      this.#emit({ type: 'sandbox.unsafe_override', data: { reason: unsafeReason, command, cwd: realCwd, missing } });
    }

    const shell = shellPath();
    const argv = typeof command === 'string' ? [shell, ...(shell.endsWith('bash') ? ['--noprofile', '--norc'] : []), '-c', command] : [...command];
    let program: string[];
    let spawnEnv: Record<string, string>;
    let spawnCwd: string;
    if (unsafeReason === null) {
      const plan = planMounts({
        workspace: this.#workspace,
        writable: this.#config.mode === 'workspace',
        home: this.#home,
        deniedPaths: this.#config.deniedPaths,
        network: this.#config.network,
        tmpBytes: limits.maxFileSizeMb * MIB,
        homeAllow: this.#config.homeAllow,
        // The host user's own home too: its 0700 would hide it from the sandbox uid, and with it the toolchains.
        otherHomes: isolation?.helperInput.mode === 'idmap' ? [homedir()] : [],
      });
      const allowed = plan.homes.flatMap((h) => h.allow);
      const idmap = isolation?.helperInput.mode === 'idmap';
      if (isolation !== null) {
        isolation = { ...isolation, helper: helperArgs({ ...isolation.helperInput, binds: idmap ? allowed : [] }), rootPaths: plan.missingDenied ?? [] };
      }
      program = [
        probe.bwrap!,
        '--seccomp',
        String(SECCOMP_FD),
        ...bwrapArgs({
          plan,
          env,
          cwd: realCwd,
          argv,
          hostUid: idmap ? this.identity.uid : (process.getuid?.() ?? 0),
          resolvConf: this.#config.network ? resolvConfUnderRun() : null,
          stagedWorkspace: isolation === null ? undefined : stagedWorkspace(isolation.helperInput.stage),
          closedAncestor: idmap ? closedAncestor(this.#workspace, this.identity.uid, this.identity.gid, plan.homes) : null,
          homeAllowSources: idmap ? allowed.map((_, i) => stagedPath(i)) : undefined,
        }),
      ];
      spawnEnv = {};
      spawnCwd = this.#workspace;
    } else {
      program = argv;
      spawnEnv = env;
      spawnCwd = realCwd;
    }

    const result = await execute(this.#spares, this.#closing.signal, {
      program,
      env: spawnEnv,
      cwd: spawnCwd,
      limits,
      cgroups: probe.cgroups.ok ? probe.cgroups.support : null,
      cgroupName: `buckley-${process.pid}-${++this.#counter}-${randomBytes(4).toString('hex')}`,
      timeoutMs,
      maxOutputBytes,
      killGraceMs: this.#options.killGraceMs ?? 2000,
      signal: options.signal,
      stdin: options.stdin,
      unsafe: unsafeReason !== null,
      withheld,
      warnings,
      bwrap: unsafeReason === null,
      isolation,
    });
    for (const { path, reason } of result.discarded) {
      this.#emit({ type: 'sandbox.violation', data: { ...DISCARD_VIOLATIONS[reason], subject: path, command, cwd: realCwd } });
    }
    return result.result;
  }

  /** The host uid and gid commands run as when the host user is root (see {@link SandboxOptions.runAs}). */
  get identity(): SandboxIdentity {
    this.#identity ??= sandboxIdentity(this.#options.runAs);
    return this.#identity;
  }

  #emit(event: SandboxEvent): void {
    if (this.#options.onEvent === undefined) return;
    try {
      // Events go to the event log: the command line, paths and findings are redacted first
      // (a token in a header, a password in an assignment), like the result's findings.
      this.#options.onEvent({ ...event, data: redact(event.data) } as SandboxEvent);
    } catch {
      // An event sink failure must not change the outcome of a run.
    }
  }
}

/** The `sandbox.violation` of each kind of write the copy-back did not apply. */
const DISCARD_VIOLATIONS: Record<DiscardReason, { rule: ViolationRule; message: string }> = {
  protected: {
    rule: 'protected_path',
    message: 'a run may not leave git metadata, Buckley state, a protected_paths entry or a special file in the workspace; the write was discarded',
  },
  write_limit: {
    rule: 'write_limit',
    message: 'copying this back would pass the write limit (limits.max_write_mb; a sparse file counts its full size); the write was discarded',
  },
  host_changed: { rule: 'write_conflict', message: 'the run deleted or replaced an entry that changed on the host while it ran; the host version was kept' },
  outside_link: {
    rule: 'path_outside_workspace',
    message: 'a symlink the run made leads out of the workspace (a host tool following it would read or write the host); it was not copied back',
  },
  workspace_changed: {
    rule: 'write_conflict',
    message: 'a workspace directory was moved or replaced on the host while the writes were copied back; nothing was written through it',
  },
};

/** Directories that are never a workspace: a run could write (or hide) the system under them. */
const SYSTEM_DIRS = [
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/var/tmp',
];
/** Directories nothing inside of which is a workspace. */
const SYSTEM_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr'];

function isUnprivilegedId(id: number): boolean {
  return Number.isInteger(id) && id > 0 && id < 4_294_967_295;
}

/** Why `workspace` (a real path) may not be one, or null. */
function workspaceRefusal(workspace: string, home: string): string | null {
  if (SYSTEM_DIRS.includes(workspace) || SYSTEM_TREES.some((tree) => isInside(tree, workspace))) return 'it is a system directory';
  let realHome = home;
  try {
    realHome = realpathSync.native(home);
  } catch {
    // A home that does not exist holds nothing to protect.
  }
  if (isInside(workspace, realHome)) return workspace === realHome ? 'it is the home directory' : 'it holds the home directory';
  return null;
}

/**
 * Creates the command sandbox on bubblewrap (Linux). Every run gets its own user, PID, IPC, UTS
 * and (unless the config allows the network) network namespace, a read-only view of the host
 * with the workspace writable and credentials hidden, a cleared environment, and a cgroup whose
 * `pids.max` and memory limit hold even when the host user is root. Runs that cannot be
 * confined fail closed unless the unsafe override is on.
 *
 * The sandbox keeps one process ready for its next run (see the README, Performance); `close()`
 * (or `await using`) stops it and kills any run still going.
 *
 * @throws {InvalidArgumentError} when the workspace does not exist or `runAs` is privileged
 * @throws {SandboxWorkspaceError} when the workspace is a system directory or holds the home
 * @example
 * ```ts
 * await using sandbox = createSandbox({ config: defaultConfig().sandbox, workspace: process.cwd() });
 * const result = await sandbox.run('ls -la', { timeoutMs: 5_000 });
 * ```
 */
export function createSandbox(options: SandboxOptions): Sandbox {
  return new BubblewrapSandbox(options);
}

let bashPresent: boolean | undefined;

/** Whether `/bin/bash` is there, checked once per process: it decides the shell and the spare on every run. */
function hasBash(): boolean {
  bashPresent ??= isExecutable('/bin/bash');
  return bashPresent;
}

function shellPath(): string {
  return hasBash() ? '/bin/bash' : '/bin/sh';
}

function resolvConfUnderRun(): string | null {
  try {
    const target = realpathSync.native('/etc/resolv.conf');
    return isInside('/run', target) ? target : null;
  } catch {
    return null;
  }
}

function emptyResult(input: { violation: SandboxViolation | null; withheld: string[]; unsafe: boolean; warnings: readonly Finding[] }): RunResult {
  const empty = { text: '', totalBytes: 0, truncated: false };
  return {
    exitCode: null,
    signal: null,
    stdout: empty,
    stderr: empty,
    durationMs: 0,
    timedOut: false,
    aborted: false,
    limitsHit: [],
    unsafe: input.unsafe,
    violation: input.violation,
    withheldEnv: input.withheld,
    warnings: input.warnings,
    discardedWrites: [],
  };
}

/** A root host's run: the helper's argv (see `isolation.ts`) and whether its writes are copied back. */
interface Isolation {
  readonly helperInput: HelperInput;
  readonly helper: readonly string[];
  readonly writable: boolean;
  readonly workspace: string;
  readonly protectedPaths: readonly string[];
  /** Denied paths inside the workspace that did not exist when the run started (workspace-relative): never copied back. */
  readonly rootPaths: readonly string[];
}

interface ExecuteInput {
  readonly program: readonly string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly limits: SandboxLimits;
  readonly cgroups: CgroupSupport | null;
  readonly cgroupName: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly killGraceMs: number;
  readonly signal: AbortSignal | undefined;
  readonly stdin: string | Uint8Array | undefined;
  readonly unsafe: boolean;
  readonly withheld: string[];
  readonly warnings: readonly Finding[];
  /** `program[0]` is bubblewrap (which then joins the cgroup through its info and block fds). */
  readonly bwrap: boolean;
  /** Set on a root host: the run goes through the isolation helper and its writes are copied back. */
  readonly isolation: Isolation | null;
}

/**
 * Spawns `program` through the launcher (which sets the rlimits and execs it), joins the run's
 * cgroup, enforces time, output and process limits, kills the tree and cleans up.
 *
 * With bubblewrap the cgroup is joined from here: bwrap reports its sandbox child's pid on
 * `--info-fd` and waits on `--block-fd` before it starts the command, so the pid is moved into
 * the cgroup while bwrap is still building the namespaces, and released only once it is in.
 * Everything in the sandbox descends from that child, so `pids.max` holds from the first fork
 * of the command, and killing that child (pid 1 of the PID namespace) ends the whole tree.
 * Without bubblewrap (the unsafe override) the launcher joins the cgroup itself before exec.
 */
async function execute(
  spares: SpareSlot,
  closing: AbortSignal,
  input: ExecuteInput,
): Promise<{ result: RunResult; discarded: readonly { path: string; reason: DiscardReason }[] }> {
  const { limits } = input;
  const spareKey =
    input.bwrap && input.cgroups !== null && (input.isolation !== null || hasBash())
      ? JSON.stringify([input.program[0], input.isolation?.helper ?? null, input.cgroups, limits])
      : null;
  const spare = spareKey === null ? null : await spares.take(spareKey);
  if (closing.aborted) {
    spare?.child.kill('SIGKILL');
    if (spare !== null) {
      spare.staging?.close();
      await removeCgroup(spare.cgroup);
    }
    throw new ClosedError('sandbox');
  }
  const cgroup = spare?.cgroup ?? (input.cgroups === null ? null : RunCgroup.create(input.cgroups, input.cgroupName, cgroupLimits(limits)));
  const rlimits = rlimitsFor(limits, cgroup !== null, input.isolation !== null);
  let staging: Staging | null = spare?.staging ?? null;
  let discarded: readonly { path: string; reason: DiscardReason }[] = [];
  // When the command was handed over: host entries changed after this are never deleted by the copy-back.
  let startedAtMs = Date.now();
  // bwrap's own fds: 3 = info (it writes the child pid), 4 = block (it waits for one byte).
  const handshake = spare === null && input.bwrap && cgroup !== null;
  const program = handshake ? [input.program[0]!, '--info-fd', '3', '--block-fd', '4', ...input.program.slice(1)] : input.program;

  const stdout = new CappedBuffer(input.maxOutputBytes);
  const stderr = new CappedBuffer(input.maxOutputBytes);
  const killBytes = Math.max(input.maxOutputBytes * OUTPUT_KILL_FACTOR, 128 * MIB);
  let timedOut = false;
  let aborted = false;
  let outputKilled = false;

  try {
    if (input.signal?.aborted)
      return {
        result: { ...emptyResult({ violation: null, withheld: input.withheld, unsafe: input.unsafe, warnings: input.warnings }), aborted: true },
        discarded,
      };
    const started = performance.now();
    let child: ChildProcess;
    if (spare !== null && input.isolation !== null) {
      // The isolation helper has its mounts ready and waits for the argv it execs as the sandbox uid.
      child = spare.child;
      child.ref();
      for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { ref?: () => void }).ref?.();
      const argvPipe = (child.stdio as unknown as Writable[])[HELPER_ARGV_FD]!;
      argvPipe.on('error', () => {
        // The spare died; its exit is reported below.
      });
      startedAtMs = Date.now();
      argvPipe.end(nulJoin(input.program));
    } else if (spare !== null) {
      // The spare sits in its cgroup with its rlimits, waiting for its command line: bwrap's
      // options go to bwrap itself (`--args 4`, one read), the command after `--` to the launcher.
      child = spare.child;
      child.ref();
      for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { ref?: () => void }).ref?.();
      const args = input.program.slice(1);
      const split = args.indexOf('--');
      for (const fd of [3, 4]) {
        (child.stdio[fd] as Writable).on('error', () => {
          // The spare died; its exit is reported below.
        });
      }
      (child.stdio[4] as Writable).end(nulJoin(args.slice(0, split)));
      (child.stdio[3] as Writable).end(nulJoin(args.slice(split)));
    } else {
      const handshakeFds = handshake ? (['pipe', 'pipe'] as const) : (['ignore', 'ignore'] as const);
      child = spawn('/bin/sh', launcherArgs(handshake ? [] : (cgroup?.procsFiles ?? []), rlimits, input.isolation?.helper ?? program), {
        cwd: input.cwd,
        env: input.env,
        detached: true,
        stdio:
          input.isolation !== null
            ? ['pipe', 'pipe', 'pipe', ...handshakeFds, 'pipe', 'pipe', 'pipe']
            : handshake
              ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe']
              : input.bwrap
                ? ['pipe', 'pipe', 'pipe', 'ignore', 'ignore', 'pipe']
                : ['pipe', 'pipe', 'pipe'],
      });
      if (input.bwrap) sendSeccompFilter(child);
    }
    const pid = child.pid;

    let stopping = false;
    let graceTimer: NodeJS.Timeout | undefined;
    let watchTimer: NodeJS.Timeout | undefined;
    let exitedNow = false;
    const killTree = (signal: NodeJS.Signals) => {
      if (pid !== undefined) {
        try {
          process.kill(-pid, signal);
        } catch {
          // The group is gone.
        }
      }
      cgroup?.killAll(signal);
    };
    const stop = () => {
      if (stopping) return;
      stopping = true;
      killTree('SIGTERM');
      graceTimer = setTimeout(() => killTree('SIGKILL'), input.killGraceMs);
    };

    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, input.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    input.signal?.addEventListener('abort', onAbort, { once: true });
    // Closing the sandbox kills the run at once: its owner is going away and waits for it.
    let closed = false;
    const onClose = () => {
      closed = true;
      stopping = true;
      killTree('SIGKILL');
    };
    closing.addEventListener('abort', onClose, { once: true });

    const collect = (buffer: CappedBuffer) => (chunk: Buffer) => {
      buffer.push(chunk);
      if (buffer.totalBytes > killBytes && !stopping) {
        outputKilled = true;
        stop();
      }
    };
    child.stdout!.on('data', collect(stdout));
    child.stderr!.on('data', collect(stderr));
    const stdoutClosed = new Promise<void>((r) => child.stdout!.once('close', () => r()));
    const stderrClosed = new Promise<void>((r) => child.stderr!.once('close', () => r()));

    child.stdin!.on('error', () => {
      // The command may exit without reading its input (EPIPE); that is its choice.
    });
    if (input.stdin !== undefined) child.stdin!.end(input.stdin);
    else child.stdin!.end();

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((r) => {
      child.once('error', (error) => r({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => r({ code, signal }));
    });

    let joinError: Error | null = null;
    if (spare === null && input.isolation !== null) {
      // The helper reports its mounts ready; the staging is opened from here (it outlives the
      // run's namespace while held), and only then is the helper given the argv to exec.
      staging = await helperReady(child, input.isolation.helperInput.stage);
      if (staging !== null) {
        const argvPipe = (child.stdio as unknown as Writable[])[HELPER_ARGV_FD]!;
        argvPipe.on('error', () => {
          // The helper died; its exit status and stderr say why.
        });
        startedAtMs = Date.now();
        argvPipe.end(nulJoin(program));
      }
    }
    if (handshake && (input.isolation === null || staging !== null)) joinError = await joinCgroup(child, cgroup!);
    if (joinError !== null) killTree('SIGKILL');

    // A fork bomb keeps the kernel refusing forks; one refused fork a program may handle. Stop
    // the run when refusals keep coming in consecutive checks, instead of waiting for its timeout.
    if (cgroup !== null && joinError === null) {
      let seen = 0;
      let rising = 0;
      const check = async () => {
        const refused = await cgroup.refusedForks();
        rising = refused > seen ? rising + 1 : 0;
        seen = refused;
        // The run may have ended while the counter was being read: then there is nothing to watch.
        if (exitedNow) return;
        if (rising >= FORK_CHECKS_TO_KILL && !stopping) {
          stopping = true;
          // No grace: the tree only forks. Killing the PID namespace's init ends it at once.
          killTree('SIGKILL');
          return;
        }
        watchTimer = setTimeout(() => void check(), FORK_CHECK_MS);
      };
      watchTimer = setTimeout(() => void check(), FORK_CHECK_MS);
    }

    const exit = await exited;
    exitedNow = true;
    const durationMs = performance.now() - started;
    clearTimeout(timer);
    clearTimeout(watchTimer);
    input.signal?.removeEventListener('abort', onAbort);
    closing.removeEventListener('abort', onClose);
    if (exit.error) throw exit.error;

    // Anything left (a daemonised grandchild under the unsafe override) dies with the run.
    killTree('SIGKILL');
    clearTimeout(graceTimer);
    const drained = await Promise.race([
      Promise.all([stdoutClosed, stderrClosed]).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), DRAIN_MS).unref()),
    ]);
    if (!drained) {
      child.stdout!.destroy();
      child.stderr!.destroy();
    }

    // Killed by close(): nothing of it is copied back (its staging goes in the finally below).
    if (closed) throw new ClosedError('sandbox');
    const err = stderr.result();
    if (joinError !== null) {
      throw new SandboxUnavailableError(
        'cgroup',
        `the sandbox could not join its cgroup: ${joinError.message}`,
        'run as a user who may write the cgroup, or set limitMechanism: "rlimit"',
        { cause: joinError },
      );
    }
    if (exit.code === 125 && err.text.startsWith(LAUNCHER_FAILURE)) {
      if (input.isolation !== null && !/cannot (join cgroup|set limit)/.test(err.text)) {
        throw input.isolation.helperInput.mode === 'idmap'
          ? new SandboxUnavailableError(
              'isolation',
              `the helper that runs commands as an unprivileged uid failed: ${err.text.trim()}`,
              'run on Linux 5.19+ with overlayfs and idmapped mounts for the workspace filesystem, or run Buckley as an unprivileged user',
            )
          : new SandboxUnavailableError(
              'isolation',
              `the helper that sets up the run's write overlay failed: ${err.text.trim()}`,
              'run on Linux 5.11+ with unprivileged user namespaces and overlayfs in them',
            );
      }
      throw new SandboxUnavailableError(
        'cgroup',
        `the sandbox launcher failed: ${err.text.trim()}`,
        'run as a user who may write the cgroup, or set limitMechanism: "rlimit"',
      );
    }
    const limitsHit: LimitHit[] = cgroup?.limitsHit() ?? [];
    if (outputKilled) limitsHit.push('output');
    if (staging !== null) {
      if (staging.full()) limitsHit.push('disk');
      if (staging.filesFull()) limitsHit.push('files');
      if (input.isolation?.writable) {
        discarded = copyBack({
          upper: staging.upper,
          merged: staging.merged,
          workspace: input.isolation.workspace,
          maxBytes: limits.maxWriteMb * MIB,
          startedAtMs,
          protectedPaths: input.isolation.protectedPaths,
          rootPaths: input.isolation.rootPaths,
        }).discarded;
        if (!limitsHit.includes('disk') && discarded.some((d) => d.reason === 'write_limit')) limitsHit.push('disk');
      }
    }
    const result: RunResult = {
      exitCode: exit.code,
      signal: exit.signal,
      stdout: stdout.result(),
      stderr: err,
      durationMs,
      timedOut,
      aborted,
      limitsHit,
      unsafe: input.unsafe,
      violation: null,
      withheldEnv: input.withheld,
      warnings: input.warnings,
      discardedWrites: discarded.map((d) => d.path),
    };
    return { result, discarded };
  } finally {
    staging?.close();
    if (cgroup !== null) await removeCgroup(cgroup);
    // The next run with the same limits finds its process already started and in its cgroup.
    // Started once this run is over, not during it: `spawn` blocks the event loop (fork and
    // exec, 1-5 ms on a loaded host) and would compete with this run's bwrap for the CPU.
    if (spareKey !== null && !closing.aborted) spares.schedule(spareKey, input);
  }
}

/**
 * Reads bwrap's info (`{"child-pid": N, ...}`) from fd 3, moves N into the cgroup and releases
 * bwrap through fd 4. Resolves with null when done or when bwrap exited before reporting a
 * child (a bad argument: its error is on stderr), and with the error when the move failed.
 */
async function joinCgroup(child: ChildProcess, cgroup: RunCgroup): Promise<Error | null> {
  const info = child.stdio[3] as Readable;
  const block = child.stdio[4] as Writable;
  block.on('error', () => {
    // bwrap exited before reading the byte; its exit status says why.
  });
  let text = '';
  const childPid = await new Promise<number | null>((r) => {
    const done = () => {
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      r(match ? Number(match[1]) : null);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (/"child-pid"\s*:\s*\d+\s*[,}\n]/.test(text)) {
        info.off('data', onData);
        info.removeAllListeners('end');
        done();
      }
    };
    info.on('data', onData);
    info.once('end', done);
    info.once('error', done);
  });
  // Keep reading to the end: bwrap still writes namespace ids, and a closed pipe would kill it (SIGPIPE).
  info.on('data', () => {});
  if (childPid === null) {
    block.destroy();
    return null;
  }
  try {
    await cgroup.join(childPid);
  } catch (error) {
    block.destroy();
    return error as Error;
  }
  block.end('1');
  return null;
}

/**
 * Waits for the isolation helper's ready byte and opens its staging; resolves with null when
 * the helper exited first (its exit status and stderr say why).
 */
async function helperReady(child: ChildProcess, stage: string): Promise<Staging | null> {
  const ready = (child.stdio as unknown as Readable[])[HELPER_READY_FD]!;
  const ok = await new Promise<boolean>((r) => {
    ready.once('data', () => r(true));
    ready.once('end', () => r(false));
    ready.once('error', () => r(false));
  });
  ready.destroy();
  if (!ok || child.pid === undefined) return null;
  try {
    return Staging.open(child.pid, stage);
  } catch (error) {
    // Killed between its ready byte and this open (an abort or a timeout right at the start):
    // its namespace is gone, and its exit status says why, as when it exits first.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw error;
  }
}

function nulJoin(words: readonly string[]): Buffer {
  return Buffer.from(words.map((w) => `${w}\0`).join(''));
}

function cgroupLimits(limits: SandboxLimits): { maxProcesses: number; maxMemoryBytes: number } {
  return { maxProcesses: limits.maxProcesses, maxMemoryBytes: limits.maxMemoryMb * MIB };
}

function rlimitsFor(limits: SandboxLimits, cgroup: boolean, switchedUser = false): Rlimit[] {
  const rlimits: Rlimit[] = [
    { flag: '-f', value: (limits.maxFileSizeMb * MIB) / 512 },
    { flag: '-t', value: limits.cpuSeconds },
  ];
  if (!cgroup) {
    // Without cgroups: address space per process stands in for the memory limit, and NPROC holds only for a non-root host user.
    rlimits.push({ flag: '-v', value: (limits.maxMemoryMb * MIB) / 1024 });
    if (process.getuid?.() !== 0 || switchedUser) rlimits.push({ flag: 'nproc', value: limits.maxProcesses });
  }
  return rlimits;
}

/**
 * A process started ahead of its run: the launcher has joined the run's cgroup (the slow part
 * on cgroup v1, where a move waits for an RCU grace period) and set the rlimits, and waits for
 * its command line on fd 3; it then execs `bwrap --args 4 -- <command>`, and bwrap reads its
 * options from fd 4. Taking it costs two pipe writes instead of a spawn and a cgroup move.
 */
interface Spare {
  readonly key: string;
  readonly child: ChildProcess;
  readonly cgroup: RunCgroup;
  /** Isolation helper spares: the opened staging, once the helper reported ready. */
  staging: Staging | null;
  /** Isolation helper spares: settles when the helper reported ready (with its staging) or died (null). */
  ready: Promise<Staging | null> | null;
  readonly isolated: boolean;
}

/**
 * The one spare of a sandbox instance: the bwrap path, cgroup support and limits of its last
 * run decide which. Owned by the instance and stopped by its `close()`.
 */
class SpareSlot {
  #spare: Spare | null = null;
  /** A spare start scheduled after a run and not yet done; release() cancels it. */
  #pending: NodeJS.Immediate | null = null;
  #closed = false;
  #counter = 0;

  /** Starts the spare for `key` once the current turn of the event loop is over. */
  schedule(key: string, input: ExecuteInput): void {
    if (this.#closed) return;
    if (this.#pending !== null) clearImmediate(this.#pending);
    this.#pending = setImmediate(() => {
      this.#pending = null;
      this.#prepare(key, input);
    });
    // A caller that is done must not be kept alive to start a process it will never use.
    this.#pending.unref();
  }

  /** Takes the spare for `key` when it is alive; an isolation helper spare still mounting is waited for (sooner than a new one). */
  async take(key: string): Promise<Spare | null> {
    const s = this.#spare;
    if (s === null || s.key !== key || s.child.exitCode !== null || s.child.signalCode !== null) return null;
    this.#spare = null;
    if (s.isolated && s.staging === null) {
      // The idle spare holds no reference on the event loop; a caller waiting for it must.
      s.child.ref();
      ((s.child.stdio as unknown as Readable[])[HELPER_READY_FD] as unknown as { ref?: () => void } | undefined)?.ref?.();
      await s.ready;
      if (s.staging === null) {
        s.child.kill('SIGKILL');
        return null;
      }
    }
    s.child.removeAllListeners('exit');
    return s;
  }

  #prepare(key: string, input: ExecuteInput): void {
    if (this.#closed || this.#spare?.key === key || input.cgroups === null) return;
    void this.release();
    let cgroup: RunCgroup;
    try {
      cgroup = RunCgroup.create(input.cgroups, `buckley-${process.pid}-s${++this.#counter}-${randomBytes(4).toString('hex')}`, cgroupLimits(input.limits));
    } catch {
      return;
    }
    const isolated = input.isolation !== null;
    const child = isolated
      ? spawn('/bin/sh', launcherArgs(cgroup.procsFiles, rlimitsFor(input.limits, true, true), input.isolation!.helper), {
          cwd: '/',
          env: {},
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
        })
      : spawn('/bin/bash', spareLauncherArgs(cgroup.procsFiles, rlimitsFor(input.limits, true), [input.program[0]!, '--args', '4']), {
          cwd: '/',
          env: {},
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
        });
    child.on('error', () => {
      // Seen as an exit; the next run starts its own process.
    });
    sendSeccompFilter(child);
    // An idle spare must not keep the caller alive; when the caller exits, fd 3 closes and the launcher exits without running anything.
    child.unref();
    for (const stream of child.stdio) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    const s: Spare = { key, child, cgroup, staging: null, ready: null, isolated };
    if (isolated) {
      s.ready = (async () => {
        let staging: Staging | null = null;
        try {
          staging = await helperReady(child, input.isolation!.helperInput.stage);
        } catch {
          // Not opened: the spare is never taken and exits with its owner.
        }
        if (staging === null) return null;
        if (child.exitCode === null && child.signalCode === null) s.staging = staging;
        else staging.close();
        return s.staging;
      })();
    }
    child.once('exit', () => {
      if (this.#spare === s) this.#spare = null;
      s.staging?.close();
      s.staging = null;
      void removeCgroup(cgroup);
    });
    this.#spare = s;
  }

  /** Stops the idle spare and removes its cgroup, or cancels its pending start; a later run starts a new one. */
  async release(): Promise<void> {
    if (this.#pending !== null) {
      clearImmediate(this.#pending);
      this.#pending = null;
    }
    const s = this.#spare;
    if (s === null) return;
    this.#spare = null;
    s.child.removeAllListeners('exit');
    const exited = new Promise<void>((r) => (s.child.exitCode !== null || s.child.signalCode !== null ? r() : s.child.once('exit', () => r())));
    // Ref it again: an unreferenced child's exit would not keep the caller's event loop waiting.
    s.child.ref();
    s.child.kill('SIGKILL');
    await exited;
    s.staging?.close();
    s.staging = null;
    await removeCgroup(s.cgroup);
  }

  /** Releases the spare and starts no other. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.release();
  }
}

/** Kills whatever is left in the cgroup and removes it, retrying while the kernel reaps the tree. */
async function removeCgroup(cgroup: RunCgroup): Promise<void> {
  // The kernel reaps a killed tree within a few milliseconds: poll at once, then every 1, 2, 3 ... ms, then back off (about 2 s in all).
  for (let attempt = 0; attempt < 80; attempt++) {
    if (cgroup.remove()) return;
    cgroup.killAll('SIGKILL');
    await new Promise((r) => (attempt < 5 ? setImmediate(r) : setTimeout(r, Math.min(50, attempt - 4))));
  }
}
