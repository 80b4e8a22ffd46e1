import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { ClosedError, InvalidArgumentError } from '@buckley/utils';
import { type CgroupDetection, RunCgroup, detectCgroups } from './cgroup.js';
import { JsRunnerCrashedError, SandboxUnavailableError } from './sandbox-errors.js';
import { JS_WORKER_SOURCE } from './js-worker-source.js';
import { launcherArgs } from './launcher.js';

/** Limits of one run or call; set on the runner as defaults, lowered or raised per call. */
export interface JsLimits {
  /** Heap limit of each isolate in MiB (isolated-vm minimum 8; V8 may overshoot it 2-3x). Default 64. */
  readonly memoryLimitMb?: number | undefined;
  /** Wall-clock limit of one run or call, in milliseconds. Default 1000. */
  readonly timeoutMs?: number | undefined;
  /** Cap on console output per run or call, in bytes. Default 64 KiB. */
  readonly maxConsoleBytes?: number | undefined;
  /**
   * Cap on what crosses out of an isolate: a run's or call's result, and the arguments of each
   * host-function call, in approximate bytes (a string counts its length, binary data its
   * bytes, other values a few bytes each). A result past it is a `too_large` failure; host-call
   * arguments past it reject inside the isolate with a `RangeError`, and the host function is
   * not called. Default 8 MiB.
   */
  readonly maxTransferBytes?: number | undefined;
}

/** Options of {@link createJsRunner}: per-call defaults, and the runner process's own limits. */
export interface JsRunnerOptions extends JsLimits {
  /** Extra time the caller waits past `timeoutMs` before killing the child process. Default 2000. */
  readonly killGraceMs?: number | undefined;
  /**
   * Memory limit of the whole runner process (every isolate in it, WebAssembly memory, and
   * V8 itself), in MiB. Held by a cgroup when the host offers one (see `doctor()`): the kernel
   * kills the process past it, and the runs in flight fail with `memory`. Without one, by
   * `RLIMIT_DATA` with V8 in `--jitless` mode (slower, and no WebAssembly even with
   * `allowWasm`): V8 fails its allocation past it and the runs in flight fail with `memory`.
   * Default 1024.
   */
  readonly processMemoryLimitMb?: number | undefined;
  /**
   * What holds `processMemoryLimitMb`: `auto` (a cgroup when one is writable, else rlimits) or
   * `rlimit` (never a cgroup). Default `auto`.
   */
  readonly limitMechanism?: 'auto' | 'rlimit' | undefined;
  /**
   * Whether guest code gets `WebAssembly`. Off by default: its memory is not counted by the
   * isolate's heap limit (only by the process limit above). The config key is
   * `sandbox.javascript.allow_wasm`.
   */
  readonly allowWasm?: boolean | undefined;
}

/** Per-call options. */
export interface JsRunOptions extends JsLimits {
  /**
   * Data copied into the isolate as globals (structured clone: no functions, no references to
   * host objects). Nothing else is there: no `process`, `require`, timers, network or filesystem.
   */
  readonly globals?: Readonly<Record<string, unknown>> | undefined;
  /**
   * Host functions the isolate may call, by global name. Inside the isolate each is an async
   * function: its arguments are copied out (structured clone data only; a function, symbol or
   * other non-copyable argument rejects with a `TypeError`), the call travels to this process,
   * and the copied result (or `Error(message)` when the host function throws) settles the
   * promise. No host object, function or stack crosses. Calls count against the run's timeout;
   * results arriving after the run (or the module) has ended are dropped. For {@link JsRunner.load}
   * they stay available to every {@link JsModule.call} until the module is disposed.
   */
  readonly functions?: Readonly<Record<string, HostFunction>> | undefined;
}

/**
 * A host function injected into an isolate; see {@link JsRunOptions.functions}. `never[]` lets
 * any parameter list in; the isolate's copied arguments are passed as they come, unchecked.
 */
export type HostFunction = (...args: never[]) => unknown;

/** One console call captured inside the isolate. */
export interface JsLog {
  readonly level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  readonly text: string;
}

/** Why a run failed. */
export interface JsFailure {
  /**
   * `timeout`: the wall clock passed; `memory`: the isolate hit its heap limit, or the runner
   * process its memory limit; `error`: the code threw (or its result could not be copied out);
   * `too_large`: the result is larger than `maxTransferBytes`; `crash`: the runner process died;
   * `disposed`: a call on a module that is gone.
   */
  readonly kind: 'timeout' | 'memory' | 'error' | 'too_large' | 'crash' | 'disposed';
  readonly name?: string | undefined;
  readonly message: string;
}

/** Outcome of one run or call. Failures of the guest code are values, never exceptions. */
export type JsResult<T = unknown> = ({ readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: JsFailure }) & {
  readonly logs: readonly JsLog[];
  readonly logsTruncated: boolean;
  /** Time spent inside the runner process, in milliseconds. */
  readonly durationMs: number;
};

/** A script kept alive in its own isolate, whose global functions can be called repeatedly (the warm path). */
export interface JsModule extends AsyncDisposable {
  /**
   * Calls global function `name` with copied `args`; resolves with its copied result. In a module
   * loaded with `functions`, a returned promise is awaited under the wall clock (passing it
   * disposes the module); without them the call is synchronous (the fast path).
   */
  call<T = unknown>(name: string, args?: readonly unknown[], options?: { timeoutMs?: number }): Promise<JsResult<T>>;
  /** Disposes the isolate. */
  dispose(): Promise<void>;
}

/** The host functions of one run or loaded module, while it is alive. */
interface HostScope {
  readonly functions: Readonly<Record<string, HostFunction>>;
}

interface HostCall {
  readonly scope: string;
  readonly callId: number;
  readonly name: string;
  readonly args: unknown[];
}

interface Pending {
  readonly resolve: (result: JsResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly message: Record<string, unknown>;
  /** The process the request was sent to. */
  child: ChildProcess;
  /** The child confirmed it received the request; before that, a dead child never saw it. */
  acked: boolean;
  /** Sent again to a new process once already. */
  resent: boolean;
}

/** The runner process and what bounds it. */
interface RunnerProcess {
  readonly child: ChildProcess;
  readonly cgroup: RunCgroup | null;
}

/** Where isolated-vm is, or why it cannot be loaded. Resolved lazily: nothing loads it until a run. */
export function resolveIsolatedVm(): { ok: true; path: string } | { ok: false; reason: string } {
  try {
    return { ok: true, path: createRequire(import.meta.url).resolve('isolated-vm') };
  } catch (error) {
    return { ok: false, reason: (error as Error).message.split('\n')[0]! };
  }
}

/** Install hint for the optional peer. */
export const ISOLATED_VM_FIX = 'install the optional peer: pnpm add isolated-vm (Node 24; builds from source with a C++ toolchain when no prebuild matches)';

/**
 * Runs untrusted JavaScript in isolated-vm isolates hosted by one child process, so that a V8
 * out-of-memory or crash ends that process, never the caller. Each `run` gets a fresh isolate
 * (the cold path); `load` keeps one for repeated `call`s (the warm path). The child is started on
 * first use and restarted after a crash.
 *
 * @example
 * ```ts
 * await using js = createJsRunner({ memoryLimitMb: 32, timeoutMs: 500 });
 * const result = await js.run('input.a + input.b', { globals: { input: { a: 1, b: 2 } } });
 * // result.ok && result.value === 3
 * ```
 */
export interface JsRunner extends AsyncDisposable {
  /** Pid of the runner process while it runs (for diagnostics), else null. */
  readonly pid: number | null;
  /** Runs `code` in a fresh isolate; the value of its last expression (awaited if a promise) is copied back. */
  run<T = unknown>(code: string, options?: JsRunOptions): Promise<JsResult<T>>;
  /**
   * Evaluates `code` once in a new isolate kept for later {@link JsModule.call}s. Throws the
   * guest's failure as `InvalidArgumentError` when the code does not load.
   */
  load(code: string, options?: JsRunOptions): Promise<JsModule>;
  /** Stops the runner process and removes its cgroup; pending calls reject with `ClosedError` (`CLOSED`). Idempotent. */
  close(): Promise<void>;
}

class IsolateJsRunner implements JsRunner {
  readonly #options: Required<JsRunnerOptions>;
  #child: ChildProcess | null = null;
  #ready: Promise<RunnerProcess> | null = null;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextHandle = 1;
  #nextScope = 1;
  #scopes = new Map<string, HostScope>();
  #closed = false;
  #cgroups: CgroupDetection | undefined;
  #cgroupCounter = 0;
  /** Cgroups of runner processes that are gone but not yet removed (the kernel reaps them first). */
  #removing = new Set<Promise<void>>();
  /** Runner processes not yet seen to exit (a killed one can outlive `#child`). */
  #live = new Set<ChildProcess>();

  constructor(options: JsRunnerOptions = {}) {
    this.#options = {
      memoryLimitMb: options.memoryLimitMb ?? 64,
      timeoutMs: options.timeoutMs ?? 1000,
      maxConsoleBytes: options.maxConsoleBytes ?? 64 * 1024,
      maxTransferBytes: options.maxTransferBytes ?? 8 * MIB,
      killGraceMs: options.killGraceMs ?? 2000,
      processMemoryLimitMb: options.processMemoryLimitMb ?? 1024,
      allowWasm: options.allowWasm ?? false,
      limitMechanism: options.limitMechanism ?? 'auto',
    };
    if (this.#options.limitMechanism !== 'auto' && this.#options.limitMechanism !== 'rlimit') {
      throw new InvalidArgumentError(`limitMechanism must be "auto" or "rlimit", got ${JSON.stringify(this.#options.limitMechanism)}`);
    }
    checkOptions(this.#options);
    if (typeof this.#options.allowWasm !== 'boolean')
      throw new InvalidArgumentError(`allowWasm must be a boolean, got ${JSON.stringify(this.#options.allowWasm)}`);
    const processMb = this.#options.processMemoryLimitMb;
    if (!Number.isInteger(processMb) || processMb < 64)
      throw new InvalidArgumentError(`processMemoryLimitMb must be an integer >= 64, got ${JSON.stringify(processMb)}`);
  }

  /** Pid of the runner process while it runs (for diagnostics), else null. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Runs `code` in a fresh isolate; the value of its last expression (awaited if a promise) is copied back. */
  async run<T = unknown>(code: string, options: JsRunOptions = {}): Promise<JsResult<T>> {
    const o = this.#merge(options);
    const functions = checkFunctions(options);
    if (functions === undefined) return (await this.#request({ op: 'run', code, globals: options.globals, ...o }, o.timeoutMs)) as JsResult<T>;
    const scope = `r${this.#nextScope++}`;
    this.#scopes.set(scope, { functions });
    try {
      return (await this.#request({ op: 'run', code, globals: options.globals, scope, functions: Object.keys(functions), ...o }, o.timeoutMs)) as JsResult<T>;
    } finally {
      // From here on, answers of host calls still running are dropped.
      this.#scopes.delete(scope);
    }
  }

  /**
   * Evaluates `code` once in a new isolate kept for later {@link JsModule.call}s. Throws the
   * guest's failure as {@link InvalidArgumentError} when the code does not load.
   */
  async load(code: string, options: JsRunOptions = {}): Promise<JsModule> {
    const o = this.#merge(options);
    const functions = checkFunctions(options);
    const handle = this.#nextHandle++;
    const scope = `m${handle}`;
    const hostFields = functions === undefined ? {} : { scope, functions: Object.keys(functions) };
    if (functions !== undefined) this.#scopes.set(scope, { functions });
    let loaded: JsResult;
    try {
      loaded = await this.#request({ op: 'load', handle, code, globals: options.globals, ...hostFields, ...o }, o.timeoutMs);
    } catch (error) {
      this.#scopes.delete(scope);
      throw error;
    }
    if (!loaded.ok) {
      this.#scopes.delete(scope);
      throw new InvalidArgumentError(`code did not load: ${loaded.error.kind}: ${loaded.error.message}`);
    }
    const child = this.#child;
    const dispose = async (): Promise<void> => {
      this.#scopes.delete(scope);
      if (this.#child === child && !this.#closed) await this.#request({ op: 'unload', handle }, 1000);
    };
    return {
      call: async <T>(name: string, args: readonly unknown[] = [], callOptions: { timeoutMs?: number } = {}) => {
        if (this.#child !== child) {
          this.#scopes.delete(scope);
          return {
            ok: false,
            error: { kind: 'disposed', message: 'the runner process restarted; load the module again' },
            logs: [],
            logsTruncated: false,
            durationMs: 0,
          } as JsResult<T>;
        }
        const timeoutMs = callOptions.timeoutMs ?? o.timeoutMs;
        return (await this.#request({ op: 'call', handle, name, args, timeoutMs, maxTransferBytes: o.maxTransferBytes }, timeoutMs)) as JsResult<T>;
      },
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  }

  /** Stops the runner process and removes its cgroup; pending calls reject with `ClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scopes.clear();
    this.#fail(new ClosedError('the JavaScript runner'));
    await this.#ready?.catch(() => null);
    await Promise.all(
      [...this.#live].map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        // The child is unref'd while idle; hold the loop open until its exit is seen.
        child.ref();
        child.kill('SIGKILL');
        return exited;
      }),
    );
    await Promise.all(this.#removing);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #merge(options: JsLimits): Required<JsLimits> {
    const merged = {
      ...this.#options,
      memoryLimitMb: options.memoryLimitMb ?? this.#options.memoryLimitMb,
      timeoutMs: options.timeoutMs ?? this.#options.timeoutMs,
      maxConsoleBytes: options.maxConsoleBytes ?? this.#options.maxConsoleBytes,
      maxTransferBytes: options.maxTransferBytes ?? this.#options.maxTransferBytes,
    };
    checkOptions(merged);
    return {
      memoryLimitMb: merged.memoryLimitMb,
      timeoutMs: merged.timeoutMs,
      maxConsoleBytes: merged.maxConsoleBytes,
      maxTransferBytes: merged.maxTransferBytes,
    };
  }

  async #request(message: Record<string, unknown>, timeoutMs: number): Promise<JsResult> {
    if (this.#closed) throw new ClosedError('the JavaScript runner');
    const { child } = await this.#start();
    const id = this.#nextId++;
    return new Promise<JsResult>((resolve, reject) => {
      // The isolate's own timeout should fire first; this one catches a wedged or dying process.
      const timer = setTimeout(() => {
        const pending = this.#pending.get(id);
        this.#pending.delete(id);
        resolve({
          ok: false,
          error: { kind: 'timeout', message: `no answer from the runner process within ${timeoutMs + this.#options.killGraceMs} ms; it was killed` },
          logs: [],
          logsTruncated: false,
          durationMs: timeoutMs + this.#options.killGraceMs,
        });
        this.#kill(pending?.child ?? child);
      }, timeoutMs + this.#options.killGraceMs);
      this.#pending.set(id, { resolve, reject, timer, message, child, acked: false, resent: false });
      this.#send(id, child);
    });
  }

  #send(id: number, child: ChildProcess): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    child.channel?.ref();
    child.send({ id, ...pending.message }, (error) => {
      if (!error) return;
      // A child that died before it read the request (a broken pipe, even while `connected` still
      // says true because its exit is not processed yet) is handled by its exit: the request is
      // sent again to a new process. Make sure it does exit.
      const code = (error as NodeJS.ErrnoException).code;
      if (!child.connected || code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_IPC_CHANNEL_CLOSED') {
        this.#kill(child);
        return;
      }
      this.#settle(id, (p) => p.reject(new JsRunnerCrashedError(`cannot send to the runner process: ${error.message}`, { cause: error })));
    });
  }

  /**
   * Kills a runner process and stops using it at once: the next request starts a new one
   * instead of being sent to a process that is still dying.
   */
  #kill(child: ChildProcess): void {
    if (this.#child === child) {
      this.#child = null;
      this.#ready = null;
    }
    child.kill('SIGKILL');
  }

  /**
   * A runner process is gone. Requests it had confirmed fail (`memory` when its cgroup's
   * limit killed it, else `crash`); requests it never saw (it was killed before it read them)
   * go to a new process, once.
   */
  #onExit(runner: RunnerProcess, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    const { child, cgroup } = runner;
    if (this.#child === child) {
      this.#child = null;
      this.#ready = null;
    }
    // Without a cgroup the data limit makes V8 fail an allocation, which it reports before it aborts.
    const overLimit = cgroup === null ? /out of memory|Allocation failed|is_heap_oom = 1/i.test(stderr) : cgroup.limitsHit().includes('memory');
    const failure: JsFailure = overLimit
      ? {
          kind: 'memory',
          message: `the runner process went over its memory limit of ${this.#options.processMemoryLimitMb} MiB (processMemoryLimitMb${cgroup === null ? ', held by RLIMIT_DATA' : ''}) and was killed`,
        }
      : { kind: 'crash', message: `the runner process died (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim().slice(-300)}` : ''}` };
    const unseen: number[] = [];
    for (const [id, pending] of this.#pending) {
      if (pending.child !== child) continue;
      const resendable = !pending.acked && (pending.message.op === 'run' || pending.message.op === 'load') && !this.#closed;
      if (resendable && !pending.resent) unseen.push(id);
      else this.#settle(id, (p) => p.resolve({ ok: false, error: failure, logs: [], logsTruncated: false, durationMs: 0 }));
    }
    if (cgroup !== null) {
      const removal = removeCgroup(cgroup).finally(() => this.#removing.delete(removal));
      this.#removing.add(removal);
    }
    if (unseen.length === 0) return;
    void this.#resend(unseen);
  }

  async #resend(ids: readonly number[]): Promise<void> {
    let next: RunnerProcess;
    try {
      next = await this.#start();
    } catch (error) {
      for (const id of ids) this.#settle(id, (p) => p.reject(error as Error));
      return;
    }
    for (const id of ids) {
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      pending.child = next.child;
      pending.resent = true;
      this.#send(id, next.child);
    }
  }

  /** Runs one host call for the child and sends back a copied result or an error message. */
  #hostCall(child: ChildProcess, call: HostCall): void {
    const scope = this.#scopes.get(call.scope);
    if (scope === undefined) return;
    const answer = (result: { ok: true; value: unknown } | { ok: false; message: string }): void => {
      // The run or module ended (timeout, dispose, crash) while the host worked: drop the answer.
      if (this.#scopes.get(call.scope) !== scope || this.#child !== child || !child.connected) return;
      const message = { op: 'hostResult', scope: call.scope, callId: call.callId, ...result };
      try {
        child.send(message, () => {});
      } catch (error) {
        if (!result.ok) return;
        child.send(
          {
            op: 'hostResult',
            scope: call.scope,
            callId: call.callId,
            ok: false,
            message: `the result of ${call.name}() cannot be copied (structured clone data only): ${messageOf(error)}`,
          },
          () => {},
        );
      }
    };
    const fn = Object.hasOwn(scope.functions, call.name) ? scope.functions[call.name] : undefined;
    if (fn === undefined) {
      answer({ ok: false, message: `${call.name} is not a host function of this run` });
      return;
    }
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(fn(...(call.args as never[])));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (value) => answer({ ok: true, value }),
      (error: unknown) => answer({ ok: false, message: messageOf(error) }),
    );
  }

  #settle(id: number, fn: (p: Pending) => void): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (this.#pending.size === 0) this.#child?.channel?.unref();
    fn(pending);
  }

  #fail(error: Error | JsFailure): void {
    for (const id of this.#pending.keys()) {
      this.#settle(id, (p) => {
        if (error instanceof Error) p.reject(error);
        else p.resolve({ ok: false, error, logs: [], logsTruncated: false, durationMs: 0 });
      });
    }
  }

  #start(): Promise<RunnerProcess> {
    if (this.#ready !== null) return this.#ready;
    const ivm = resolveIsolatedVm();
    if (!ivm.ok) {
      return Promise.reject(new SandboxUnavailableError('isolated-vm', `isolated-vm cannot be loaded (${ivm.reason})`, ISOLATED_VM_FIX));
    }
    this.#cgroups ??= this.#options.limitMechanism === 'rlimit' ? { ok: false, reason: 'cgroups turned off by limitMechanism "rlimit"' } : detectCgroups();
    let cgroup: RunCgroup | null = null;
    if (this.#cgroups.ok) {
      try {
        const name = `buckley-${process.pid}-js${++this.#cgroupCounter}-${randomBytes(4).toString('hex')}`;
        cgroup = RunCgroup.create(this.#cgroups.support, name, { maxProcesses: RUNNER_MAX_THREADS, maxMemoryBytes: this.#options.processMemoryLimitMb * MIB });
      } catch {
        // Not writable after all: the runner runs without a process limit, as on a host without cgroups.
      }
    }
    const ready = new Promise<RunnerProcess>((resolve, reject) => {
      // --no-node-snapshot: isolated-vm asks for it on Node >= 20, where the startup snapshot can crash new isolates.
      const processMb = this.#options.processMemoryLimitMb;
      // Without a cgroup: RLIMIT_DATA (private writable memory: isolate heaps, buffers, thread
      // stacks) holds the whole process, with V8 in --jitless mode. With its JIT on, V8 maps a
      // 512 MiB writable code range per isolate that it barely touches, so a data limit (or an
      // address-space limit) would count reservations, not memory. --jitless also removes WebAssembly.
      const rlimits = cgroup === null ? [{ flag: '-d' as const, value: processMb * 1024 }] : [];
      const heap = cgroup === null ? ['--jitless'] : [];
      const node = [process.execPath, '--no-node-snapshot', ...heap, '-e', JS_WORKER_SOURCE];
      // The launcher joins the cgroup before it execs node, so every thread and byte of the runner is counted from the start.
      const child = spawn('/bin/sh', launcherArgs(cgroup?.procsFiles ?? [], rlimits, node), {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { BUCKLEY_IVM_PATH: ivm.path, ...(this.#options.allowWasm ? { BUCKLEY_JS_WASM: '1' } : {}) },
        serialization: 'advanced',
      });
      const runner: RunnerProcess = { child, cgroup };
      this.#live.add(child);
      child.once('exit', () => this.#live.delete(child));
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (cgroup !== null) void removeCgroup(cgroup);
        reject(new JsRunnerCrashedError(`the runner process exited during startup (code ${code}, signal ${signal}): ${stderr.trim().slice(0, 500)}`));
      };
      child.once('exit', onEarlyExit);
      child.once('error', (error) => reject(new JsRunnerCrashedError(`cannot start the runner process: ${error.message}`, { cause: error })));
      child.on('message', (msg: { id?: number; ack?: number; ready?: boolean; hostCall?: HostCall } & JsResult) => {
        if (msg.ack !== undefined) {
          const pending = this.#pending.get(msg.ack);
          if (pending?.child === child) pending.acked = true;
          return;
        }
        if (msg.hostCall !== undefined) {
          this.#hostCall(child, msg.hostCall);
          return;
        }
        if (msg.ready === true) {
          child.off('exit', onEarlyExit);
          child.once('exit', (code, signal) => this.#onExit(runner, code, signal, stderr));
          this.#child = child;
          child.channel?.unref();
          child.unref();
          resolve(runner);
          return;
        }
        const { id, ...result } = msg;
        if (id !== undefined) this.#settle(id, (p) => p.resolve(result as JsResult));
      });
    });
    this.#ready = ready;
    ready.catch(() => {
      if (this.#ready === ready) this.#ready = null;
    });
    return ready;
  }
}

/** `pids.max` of the runner's cgroup: node and isolated-vm threads, one count each. */
const RUNNER_MAX_THREADS = 256;
const MIB = 1024 * 1024;

/** Kills what is left in a cgroup and removes it, retrying while the kernel reaps the process. */
async function removeCgroup(cgroup: RunCgroup): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    if (cgroup.remove()) return;
    cgroup.killAll('SIGKILL');
    await new Promise((r) => setTimeout(r, Math.min(50, 1 + attempt)));
  }
}

function checkOptions(o: Required<JsLimits> & { killGraceMs: number }): void {
  if (!Number.isFinite(o.memoryLimitMb) || o.memoryLimitMb < 8)
    throw new InvalidArgumentError(`memoryLimitMb must be >= 8 (isolated-vm minimum), got ${JSON.stringify(o.memoryLimitMb)}`);
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0)
    throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${JSON.stringify(o.timeoutMs)}`);
  if (!Number.isInteger(o.maxConsoleBytes) || o.maxConsoleBytes < 0)
    throw new InvalidArgumentError(`maxConsoleBytes must be an integer >= 0, got ${JSON.stringify(o.maxConsoleBytes)}`);
  if (!Number.isInteger(o.maxTransferBytes) || o.maxTransferBytes < 1024)
    throw new InvalidArgumentError(`maxTransferBytes must be an integer >= 1024, got ${JSON.stringify(o.maxTransferBytes)}`);
  if (!Number.isFinite(o.killGraceMs) || o.killGraceMs < 0) throw new InvalidArgumentError(`killGraceMs must be >= 0, got ${JSON.stringify(o.killGraceMs)}`);
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const RESERVED_NAMES = new Set(['console', 'globalThis', '__proto__', 'constructor']);

function checkFunctions(options: JsRunOptions): Readonly<Record<string, HostFunction>> | undefined {
  const functions = options.functions;
  if (functions === undefined) return undefined;
  if (functions === null || typeof functions !== 'object')
    throw new InvalidArgumentError(`functions must be an object of functions, got ${JSON.stringify(functions)}`);
  const names = Object.keys(functions);
  if (names.length === 0) return undefined;
  for (const name of names) {
    if (!IDENTIFIER.test(name) || RESERVED_NAMES.has(name) || name.startsWith('__buckley'))
      throw new InvalidArgumentError(
        `functions: name must be an identifier other than console, globalThis, constructor and __buckley*, got ${JSON.stringify(name)}`,
      );
    if (typeof functions[name] !== 'function')
      throw new InvalidArgumentError(`functions.${name} must be a function, got ${JSON.stringify(typeof functions[name])}`);
    if (options.globals !== undefined && Object.hasOwn(options.globals, name))
      throw new InvalidArgumentError(`functions: ${JSON.stringify(name)} is also in globals`);
  }
  return { ...functions };
}

// Only the message crosses into the isolate: never the error object, its stack or its cause.
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'the host function failed';
  }
}

/** Creates a {@link JsRunner}. isolated-vm is loaded only when the first run starts. */
export function createJsRunner(options: JsRunnerOptions = {}): JsRunner {
  return new IsolateJsRunner(options);
}
