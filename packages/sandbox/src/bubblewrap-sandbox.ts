import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { SandboxConfig } from '@buckley/config';
import { InvalidArgumentError } from '@buckley/utils';
import { type CgroupDetection, type CgroupSupport, RunCgroup, detectCgroups } from './cgroup.js';
import { buildEnvironment } from './env.js';
import { SandboxUnavailableError } from './errors.js';
import { LAUNCHER_FAILURE, type Rlimit, launcherArgs } from './launcher.js';
import { bwrapArgs, isInside, planMounts } from './mounts.js';
import { CappedBuffer } from './output.js';
import { checkCommand } from './policy.js';
import type { LimitHit, RunOptions, RunResult, Sandbox, SandboxLimits, SandboxViolation } from './sandbox.js';

/** An event the sandbox asks its owner to record (observability writes them to the log). */
export type SandboxEvent =
  | {
      readonly type: 'sandbox.unsafe_override';
      readonly data: {
        /** Why the run had no namespaces. */
        readonly reason: 'mode-disabled' | 'caller-option' | 'sandbox-unavailable';
        readonly command: string | readonly string[];
        readonly cwd: string;
        /** For `sandbox-unavailable`: what was missing. */
        readonly missing?: string | undefined;
      };
    }
  | {
      readonly type: 'sandbox.violation';
      readonly data: SandboxViolation & { readonly command: string | readonly string[]; readonly cwd: string };
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
}

/** How long to keep reading stdout/stderr after the process exited before giving up on them. */
const DRAIN_MS = 250;
/** Kill a run whose one stream has produced this many times its cap (it only burns CPU after that). */
const OUTPUT_KILL_FACTOR = 64;
const MIB = 1024 * 1024;

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
export interface SandboxProbe {
  readonly bwrap: string | null;
  /** null when bubblewrap starts with user namespaces; otherwise why not. */
  readonly bwrapError: string | null;
  readonly cgroups: CgroupDetection;
}

/** Runs bubblewrap once with the namespaces every run uses; resolves with bwrap's error text, or null on success. */
export function probeBwrap(bwrap: string): Promise<string | null> {
  return new Promise((resolvePromise) => {
    const child = spawn(
      bwrap,
      ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', 'true'],
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

/**
 * The command sandbox on bubblewrap (Linux). Every run gets its own user, PID, IPC, UTS and (unless
 * the config allows the network) network namespace, a read-only view of the host with the
 * workspace writable and credentials hidden, a cleared environment, and a cgroup whose
 * `pids.max` and memory limit hold even when the host user is root. Runs that cannot be confined
 * fail closed unless the unsafe override is on.
 *
 * @example
 * ```ts
 * const sandbox = createSandbox({ config: defaultConfig().sandbox, workspace: process.cwd() });
 * const result = await sandbox.run('ls -la', { timeoutMs: 5_000 });
 * ```
 */
export class BubblewrapSandbox implements Sandbox {
  readonly #options: SandboxOptions;
  readonly #config: SandboxConfig;
  readonly #workspace: string;
  readonly #home: string;
  #probe: Promise<SandboxProbe> | undefined;
  #counter = 0;

  constructor(options: SandboxOptions) {
    this.#options = options;
    this.#config = options.config;
    try {
      this.#workspace = realpathSync(options.workspace);
    } catch (error) {
      throw new InvalidArgumentError(`workspace must be an existing directory, got ${JSON.stringify(options.workspace)}`, { cause: error });
    }
    this.#home = options.home ?? homedir();
  }

  /** The real path of the workspace. */
  get workspace(): string {
    return this.#workspace;
  }

  /** What the host offers (bubblewrap, user namespaces, cgroups); probed once and cached. */
  probe(): Promise<SandboxProbe> {
    this.#probe ??= (async () => {
      const bwrap = findExecutable(this.#options.bwrapPath ?? 'bwrap');
      const bwrapError = bwrap === null ? 'bwrap not found' : await probeBwrap(bwrap);
      const cgroups: CgroupDetection =
        this.#options.limitMechanism === 'rlimit' ? { ok: false, reason: 'cgroups turned off by limitMechanism "rlimit"' } : detectCgroups();
      return { bwrap, bwrapError, cgroups };
    })();
    return this.#probe;
  }

  async run(command: string | readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? this.#config.timeoutSeconds * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(options.timeoutMs)}`);
    }
    const maxOutputBytes = options.maxOutputBytes ?? this.#config.maxOutputBytes;
    if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0) {
      throw new InvalidArgumentError(`maxOutputBytes must be an integer >= 0, got ${JSON.stringify(options.maxOutputBytes)}`);
    }
    const limits: SandboxLimits = { ...this.#config.limits, ...options.limits };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`limits.${name} must be a positive number, got ${JSON.stringify(value)}`);
    }
    const cwd = options.cwd === undefined ? this.#workspace : resolve(this.#workspace, options.cwd);
    const { env, withheld } = buildEnvironment(this.#options.parentEnv ?? process.env, this.#config.envAllow, options.env);

    const refuse = (violation: SandboxViolation): RunResult => {
      this.#emit({ type: 'sandbox.violation', data: { ...violation, command, cwd } });
      return emptyResult({ violation, withheld, unsafe: false });
    };

    const overridden = this.#config.allowUnsafe || this.#options.unsafe === true || options.unsafe === true;
    if (this.#config.mode === 'disabled' && !overridden) {
      return refuse({ rule: 'mode-disabled-needs-unsafe', message: 'sandbox.mode "disabled" needs the unsafe override (sandbox.allow_unsafe, BUCKLEY_UNSAFE=1 or --unsafe)' });
    }
    let realCwd: string;
    try {
      realCwd = realpathSync(cwd);
    } catch {
      return refuse({ rule: 'cwd-outside-workspace', message: `cwd ${JSON.stringify(options.cwd)} does not exist`, subject: cwd });
    }
    if (!isInside(this.#workspace, realCwd)) {
      return refuse({ rule: 'cwd-outside-workspace', message: `cwd ${JSON.stringify(options.cwd)} is outside the workspace ${JSON.stringify(this.#workspace)}`, subject: realCwd });
    }
    const violation = checkCommand(command, { mode: this.#config.mode, allowedCommands: this.#config.allowedCommands, workspace: this.#workspace, cwd: realCwd, home: this.#home });
    if (violation !== null) return refuse(violation);

    const probe = await this.probe();
    let unsafeReason: 'mode-disabled' | 'caller-option' | 'sandbox-unavailable' | null = null;
    let missing: string | undefined;
    if (this.#config.mode === 'disabled') unsafeReason = 'mode-disabled';
    else if (options.unsafe === true) unsafeReason = 'caller-option';
    else if (probe.bwrap === null || probe.bwrapError !== null) {
      missing = probe.bwrap === null ? 'bwrap' : 'user-namespaces';
      if (!overridden) {
        throw probe.bwrap === null
          ? new SandboxUnavailableError('bwrap', 'bubblewrap (bwrap) is not installed, so commands cannot be sandboxed', BWRAP_FIX)
          : new SandboxUnavailableError('user-namespaces', `bubblewrap cannot create namespaces here (${probe.bwrapError})`, USERNS_FIX);
      }
      unsafeReason = 'sandbox-unavailable';
    }
    if (unsafeReason !== null) {
      this.#emit({ type: 'sandbox.unsafe_override', data: { reason: unsafeReason, command, cwd: realCwd, missing } });
    }

    const argv = typeof command === 'string' ? [shellPath(), ...(shellPath().endsWith('bash') ? ['--noprofile', '--norc'] : []), '-c', command] : [...command];
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
      });
      program = [probe.bwrap!, ...bwrapArgs({ plan, env, cwd: realCwd, argv, hostUid: process.getuid?.() ?? 0, resolvConf: resolvConfUnderRun() })];
      spawnEnv = {};
      spawnCwd = this.#workspace;
    } else {
      program = argv;
      spawnEnv = env;
      spawnCwd = realCwd;
    }

    return execute({
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
    });
  }

  #emit(event: SandboxEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // An event sink failure must not change the outcome of a run.
    }
  }
}

/** Creates the command sandbox. See {@link BubblewrapSandbox}. */
export function createSandbox(options: SandboxOptions): BubblewrapSandbox {
  return new BubblewrapSandbox(options);
}

function shellPath(): string {
  return isExecutable('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

function resolvConfUnderRun(): string | null {
  try {
    const target = realpathSync('/etc/resolv.conf');
    return isInside('/run', target) ? target : null;
  } catch {
    return null;
  }
}

function emptyResult(input: { violation: SandboxViolation | null; withheld: string[]; unsafe: boolean }): RunResult {
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
  };
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
}

/** Spawns `program` through the launcher, enforces time and output limits, kills the tree and cleans up. */
async function execute(input: ExecuteInput): Promise<RunResult> {
  const { limits } = input;
  const cgroup = input.cgroups === null ? null : RunCgroup.create(input.cgroups, input.cgroupName, { maxProcesses: limits.maxProcesses, maxMemoryBytes: limits.maxMemoryMb * MIB });
  const rlimits: Rlimit[] = [
    { flag: '-f', value: (limits.maxFileSizeMb * MIB) / 512 },
    { flag: '-t', value: limits.cpuSeconds },
  ];
  if (cgroup === null) {
    // Without cgroups: address space per process stands in for the memory limit, and NPROC holds only for a non-root host user.
    rlimits.push({ flag: '-v', value: (limits.maxMemoryMb * MIB) / 1024 });
    if (process.getuid?.() !== 0) rlimits.push({ flag: 'nproc', value: limits.maxProcesses });
  }

  const stdout = new CappedBuffer(input.maxOutputBytes);
  const stderr = new CappedBuffer(input.maxOutputBytes);
  const killBytes = Math.max(input.maxOutputBytes * OUTPUT_KILL_FACTOR, 128 * MIB);
  let timedOut = false;
  let aborted = false;
  let outputKilled = false;

  try {
    if (input.signal?.aborted) return { ...emptyResult({ violation: null, withheld: input.withheld, unsafe: input.unsafe }), aborted: true };
    const started = performance.now();
    const child = spawn('/bin/sh', launcherArgs(cgroup?.procsFiles ?? [], rlimits, input.program), {
      cwd: input.cwd,
      env: input.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const pid = child.pid;

    let stopping = false;
    let graceTimer: NodeJS.Timeout | undefined;
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

    const collect = (buffer: CappedBuffer) => (chunk: Buffer) => {
      buffer.push(chunk);
      if (buffer.totalBytes > killBytes && !stopping) {
        outputKilled = true;
        stop();
      }
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    const stdoutClosed = new Promise<void>((r) => child.stdout.once('close', () => r()));
    const stderrClosed = new Promise<void>((r) => child.stderr.once('close', () => r()));

    child.stdin.on('error', () => {
      // The command may exit without reading its input (EPIPE); that is its choice.
    });
    if (input.stdin !== undefined) child.stdin.end(input.stdin);
    else child.stdin.end();

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((r) => {
      child.once('error', (error) => r({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => r({ code, signal }));
    });
    const durationMs = performance.now() - started;
    clearTimeout(timer);
    input.signal?.removeEventListener('abort', onAbort);
    if (exit.error) throw exit.error;

    // Anything left (a daemonised grandchild under the unsafe override) dies with the run.
    killTree('SIGKILL');
    clearTimeout(graceTimer);
    const drained = await Promise.race([
      Promise.all([stdoutClosed, stderrClosed]).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), DRAIN_MS).unref()),
    ]);
    if (!drained) {
      child.stdout.destroy();
      child.stderr.destroy();
    }

    const err = stderr.result();
    if (exit.code === 125 && err.text.startsWith(LAUNCHER_FAILURE)) {
      throw new SandboxUnavailableError('cgroup', `the sandbox launcher failed: ${err.text.trim()}`, 'run as a user who may write the cgroup, or set limitMechanism: "rlimit"');
    }
    const limitsHit: LimitHit[] = cgroup?.limitsHit() ?? [];
    if (outputKilled) limitsHit.push('output');
    return {
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
    };
  } finally {
    if (cgroup !== null) await removeCgroup(cgroup);
  }
}

/** Kills whatever is left in the cgroup and removes it, retrying while the kernel reaps the tree. */
async function removeCgroup(cgroup: RunCgroup): Promise<void> {
  // The kernel reaps a killed tree within a few milliseconds; poll fast first, then back off (about 2 s in all).
  for (let attempt = 0; attempt < 60; attempt++) {
    if (cgroup.remove()) return;
    cgroup.killAll('SIGKILL');
    await new Promise((r) => (attempt < 10 ? setImmediate(r) : setTimeout(r, Math.min(50, attempt))));
  }
}
