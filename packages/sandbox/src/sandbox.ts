import type { Finding } from '@buckley/security';

/**
 * The `Sandbox` port: run one command confined by policy and by the operating system, and get
 * everything that happened back as a value.
 */

/** Resource limits of one run. Each is a ceiling for the whole process tree unless noted. */
export interface SandboxLimits {
  /** Most processes and threads alive at once (cgroup `pids.max`; rlimit fallback only when not root). */
  readonly maxProcesses: number;
  /** Memory of the whole tree, in MiB (cgroup memory limit; rlimit address space per process as fallback). */
  readonly maxMemoryMb: number;
  /** Largest file any process may write, in MiB (`RLIMIT_FSIZE`; also the size of the private `/tmp`). */
  readonly maxFileSizeMb: number;
  /** CPU seconds per process (`RLIMIT_CPU`); the wall-clock timeout bounds the tree. */
  readonly cpuSeconds: number;
  /**
   * Total a run may write into the workspace, in MiB (the size of the tmpfs holding the run's
   * writes until they are copied back).
   */
  readonly maxWriteMb: number;
  /**
   * Most files, directories, symlinks and deletions a run may leave in the workspace (the inode
   * count of that tmpfs; past it creating a file fails with `ENOSPC`).
   */
  readonly maxFiles: number;
}

/** Options of one {@link Sandbox.run}. */
export interface RunOptions {
  /** Working directory; must be inside the workspace. Defaults to the workspace. */
  readonly cwd?: string | undefined;
  /**
   * Extra environment variables, applied after the allow-list. Names must be valid identifiers and
   * secret-named ones (`*_KEY`, `*_TOKEN`, `AWS_*`, ...) are dropped even here.
   */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Wall-clock limit in milliseconds; defaults to the config's `timeoutSeconds`. */
  readonly timeoutMs?: number | undefined;
  /** Aborting kills the whole tree; the result then has `aborted: true`. */
  readonly signal?: AbortSignal | undefined;
  /** Bytes written to the command's stdin, which is then closed. No stdin means an empty one. */
  readonly stdin?: string | Uint8Array | undefined;
  /** Per-run limits: each may only lower the config's (a higher value is clamped to the configured one). */
  readonly limits?: Partial<SandboxLimits> | undefined;
  /** Cap on each of stdout and stderr in bytes; defaults to the config's `maxOutputBytes`. */
  readonly maxOutputBytes?: number | undefined;
  /** Run without namespaces for this call (the unsafe override); the result is marked `unsafe`. */
  readonly unsafe?: boolean | undefined;
}

/**
 * Why a run was refused before anything started, or (`protected_path`, `path_outside_workspace`,
 * `write_limit`, `write_conflict`, in `sandbox.violation` events with a `discardedWrites` entry)
 * why one of its writes was not applied to the workspace.
 */
export type ViolationRule =
  | 'empty_command'
  | 'invalid_command'
  | 'cwd_outside_workspace'
  | 'command_not_allowed'
  | 'write_in_read_only_mode'
  | 'path_outside_workspace'
  | 'protected_path'
  | 'write_limit'
  | 'write_conflict'
  | 'network_disabled'
  | 'dangerous_command'
  | 'mode_disabled_needs_unsafe';

/** A policy refusal, returned as a value (never thrown) and never silent. */
export interface SandboxViolation {
  /** Stable rule id. */
  readonly rule: ViolationRule;
  /** Human-readable reason, a lower-case fragment. */
  readonly message: string;
  /** The token, path or program that triggered it, when there is one. */
  readonly subject?: string | undefined;
  /** The `@buckley/security` finding behind it (for `dangerous_command`, path escapes). */
  readonly finding?: Finding | undefined;
}

/** The captured bytes of one output stream. */
export interface CapturedOutput {
  /** The first `maxOutputBytes` bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  readonly text: string;
  /** Total bytes the command wrote to the stream, captured or not. */
  readonly totalBytes: number;
  /** Whether `totalBytes` exceeded the cap. */
  readonly truncated: boolean;
}

/** Which limit the run hit, as far as the kernel reports it. */
export type LimitHit = 'memory' | 'processes' | 'output' | 'disk' | 'files';

/** What happened to one command. */
export interface RunResult {
  /** Exit code, or `null` when the run was refused or the process was killed by a signal. */
  readonly exitCode: number | null;
  /** Signal that ended the process, when it was killed (timeout, abort, output limit). */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: CapturedOutput;
  readonly stderr: CapturedOutput;
  /** Wall time from spawn to exit, in milliseconds. */
  readonly durationMs: number;
  /** The wall-clock limit passed and the tree was killed. */
  readonly timedOut: boolean;
  /** The caller's signal aborted the run and the tree was killed. */
  readonly aborted: boolean;
  /** Limits the kernel reports as hit (cgroup counters); empty when none or unknown. */
  readonly limitsHit: readonly LimitHit[];
  /** The run had no namespaces (the unsafe override was in effect). */
  readonly unsafe: boolean;
  /** Set when policy refused the run; nothing was started then. */
  readonly violation: SandboxViolation | null;
  /** Environment variable names that were asked for but withheld because they look like secrets. */
  readonly withheldEnv: readonly string[];
  /**
   * High-severity findings of the lexical analysis that did not refuse the run (reading
   * `~/.ssh`, `kill -1`, ...): the OS layer confines them; they are reported for review.
   */
  readonly warnings: readonly Finding[];
  /**
   * Workspace-relative paths the run wrote (or deleted) that were not applied to the workspace:
   * git metadata (`.git` anywhere, the inside of a directory git would take for a
   * repository), `.buckley`, `protected_paths` entries, fifos, sockets and devices (rule
   * `protected_path`, in any letter case); symlinks that lead out of the workspace
   * (`path_outside_workspace`); files past the write limit (`write_limit`); deletions of entries someone
   * else changed on the host during the run, and directories moved or swapped on the host while
   * the copy ran (`write_conflict`). Each is also a `sandbox.violation` event.
   */
  readonly discardedWrites: readonly string[];
}

/**
 * The command sandbox port. It holds processes (one kept ready for the next run, and the runs
 * in flight): close it when done, or create it with `await using`.
 */
export interface Sandbox extends AsyncDisposable {
  /**
   * Runs `command` (a shell string, run by `bash -c` inside the sandbox, or an argv array run
   * as is). Policy refusals come back as `violation`; infrastructure failures (sandbox cannot
   * start) reject with `SandboxUnavailableError`; a run after {@link Sandbox.close}, or one
   * still going when it is called, rejects with `ClosedError` of `@buckley/utils` (`CLOSED`, `resource: 'sandbox'`).
   */
  run(command: string | readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Stops the process kept ready for the next run and kills every run still going at once
   * (SIGKILL, no grace; their writes are not copied back), then resolves when no process,
   * mount or cgroup of this sandbox is left. Idempotent: every call returns the same promise.
   */
  close(): Promise<void>;
  /** Same as {@link Sandbox.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}
