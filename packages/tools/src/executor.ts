import type { ApprovalConfig, SandboxConfig } from '@buckley/config';
import { type Attribution, type Recorder, toJsonValue, validateAttribution } from '@buckley/observability';
import { type JsResult, type JsRunner, type Sandbox, createJsRunner } from '@buckley/sandbox';
import { redact, truncateUtf8 } from '@buckley/security';
import { BuckleyError, InvalidArgumentError, TimeoutError, isRetryableError, sleep } from '@buckley/utils';
import { type ApprovalGate, type Approver, createApprovalGate } from './approval.js';
import type { ToolCall, ToolRegistry } from './registry.js';
import { type AnyTool, type JsonValue, type ToolContext, type ToolFailure, ToolFailureCode, type ToolResult, type ToolSandbox, toolFailure } from './tool.js';
import { createWorkspaceAccess } from './workspace.js';

/** Options of {@link createToolExecutor}. */
export interface ToolExecutorOptions {
  /** The tools the model may call. */
  readonly registry: ToolRegistry;
  /** The session's sandbox: every process a tool starts runs here. The executor never closes it (its creator does). */
  readonly sandbox: Sandbox;
  /** Where every `tool.run.*` event goes. */
  readonly recorder: Recorder;
  /** Asks a person; leave it out in headless use (a call that needs asking is then denied). */
  readonly approver?: Approver | undefined;
  /** The `approval` and `sandbox` sections of the config. */
  readonly config: { readonly approval: ApprovalConfig; readonly sandbox: SandboxConfig };
  /** The workspace directory (the sandbox's). */
  readonly workspace: string;
  /**
   * The caller's explicit unsafe override (`--unsafe`): runs get no namespaces and each is a
   * `sandbox.unsafe_override` event. Nothing a model sends can set it.
   */
  readonly unsafe?: boolean | undefined;
  /** The JavaScript runner of `run_js`. Default: one created on first use and closed by {@link ToolExecutor.close}. */
  readonly jsRunner?: Pick<JsRunner, 'run'> | undefined;
  /** Cap on what one result may hold, in UTF-8 bytes of its JSON (default 64 KiB); past it strings are cut and `truncated` is set. */
  readonly maxResultBytes?: number | undefined;
  /** Retries of infrastructure faults of idempotent tools: attempts in all (default 3) and the first delay (default 50 ms, doubling). */
  readonly retry?: { readonly attempts?: number; readonly delayMs?: number } | undefined;
  /** How long a timed-out call may take to stop (its process tree killed) before the executor returns anyway, in ms (default 5000). */
  readonly stopGraceMs?: number | undefined;
}

/** Per-call options of {@link ToolExecutor.execute}. */
export interface ExecuteOptions {
  /** Aborting cancels the call (its processes are killed); it then ends as `tool.run.cancelled`. */
  readonly signal?: AbortSignal | undefined;
  /** Attribution of the call's events (session, agent, task, plan, ...), on top of the recorder's current context. */
  readonly attribution?: Attribution | undefined;
}

/** Runs model tool calls through the one middleware chain (see the README for the order). */
export interface ToolExecutor extends AsyncDisposable {
  readonly registry: ToolRegistry;
  /**
   * Runs one call. Always resolves with a result the model reads (`UNKNOWN_TOOL`,
   * `INVALID_ARGUMENTS`, `APPROVAL_DENIED`, `POLICY_DENIED`, `TOOL_TIMED_OUT`,
   * `TOOL_CANCELLED`, the tool's own failures), whatever the tool's output is (too deep,
   * cyclic, huge: cut and marked `truncated`); rejects only for infrastructure faults (the
   * sandbox cannot start, the event store is down, a handler threw) after their retries.
   */
  execute(call: ToolCall, options?: ExecuteOptions): Promise<ToolResult<JsonValue>>;
  /** Closes what the executor created (the JavaScript runner). Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_MAX_RESULT_BYTES = 64 * 1024;
const CALL_ID = /^[^\s\p{Cc}]{1,200}$/u;
/** Node system error codes that say "try again" (infrastructure, not the tool's input). */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'ECONNRESET', 'ETIMEDOUT', 'JS_RUNNER_CRASHED']);

/** Ends an observed call with a failure value the model reads; the recorder stores it as `failed` (or `denied`). */
class Ended extends BuckleyError {
  readonly result: ToolFailure;
  readonly outcome: 'denied' | undefined;
  readonly rule: string | undefined;
  constructor(result: ToolFailure) {
    super(result.code, result.message);
    this.result = result;
    const rule = result.code === ToolFailureCode.PolicyDenied ? result.details?.rule : undefined;
    this.outcome = result.code === ToolFailureCode.PolicyDenied ? 'denied' : undefined;
    this.rule = typeof rule === 'string' ? rule : undefined;
  }
}

/**
 * Creates the executor: every call goes validate -> approval -> sandbox -> timeout -> retry ->
 * result size cap -> redaction -> telemetry (`tool.run.*` through the recorder, the model's
 * tool call id as `operationId` on every event).
 *
 * @example
 * ```ts
 * await using executor = createToolExecutor({ registry, sandbox, recorder, config, workspace });
 * const result = await executor.execute({ id: 'call_1', name: 'read_file', arguments: '{"path":"README.md"}' }, { attribution: { sessionId: 's1' } });
 * ```
 */
export function createToolExecutor(options: ToolExecutorOptions): ToolExecutor {
  const { registry, sandbox, recorder, config } = options;
  if (registry === undefined || typeof registry.resolve !== 'function') throw new InvalidArgumentError('registry must be a ToolRegistry');
  if (sandbox === undefined || typeof sandbox.run !== 'function') throw new InvalidArgumentError('sandbox must be a Sandbox');
  if (recorder === undefined || typeof recorder.observe !== 'function') throw new InvalidArgumentError('recorder must be a Recorder');
  const maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  if (!Number.isInteger(maxResultBytes) || maxResultBytes < 1024)
    throw new InvalidArgumentError(`maxResultBytes must be an integer >= 1024, got ${JSON.stringify(maxResultBytes)}`);
  const attempts = options.retry?.attempts ?? 3;
  const delayMs = options.retry?.delayMs ?? 50;
  if (!Number.isInteger(attempts) || attempts < 1) throw new InvalidArgumentError(`retry.attempts must be an integer >= 1, got ${JSON.stringify(attempts)}`);
  const stopGraceMs = options.stopGraceMs ?? 5000;
  const unsafe = options.unsafe === true;
  const configuredTimeoutMs = config.sandbox.timeoutSeconds * 1000;
  const workspace = createWorkspaceAccess(options.workspace, config.sandbox);
  const gate: ApprovalGate = createApprovalGate({ mode: config.approval.mode, patterns: config.approval.autoApprovePatterns, approver: options.approver });
  let ownJs: JsRunner | undefined;
  let closed = false;
  const js = (): Pick<JsRunner, 'run'> => {
    if (options.jsRunner !== undefined) return options.jsRunner;
    if (closed) throw new InvalidArgumentError('the tool executor is closed');
    ownJs ??= createJsRunner({ processMemoryLimitMb: config.sandbox.javascript.processMemoryMb, allowWasm: config.sandbox.javascript.allowWasm });
    return ownJs;
  };

  const finish = (result: ToolResult<unknown>): ToolResult<JsonValue> => {
    const { result: plain, cut } = plainResult(result);
    return redactResult(capResult(plain, maxResultBytes, cut), maxResultBytes);
  };

  const classOf = (tool: AnyTool) => (tool.approvalClass === 'shell' && config.sandbox.network ? 'network' : tool.approvalClass);

  async function execute(call: ToolCall, executeOptions: ExecuteOptions = {}): Promise<ToolResult<JsonValue>> {
    if (call === null || typeof call !== 'object' || typeof call.id !== 'string' || !CALL_ID.test(call.id)) {
      throw new InvalidArgumentError("call.id must be the model's tool call id: 1 to 200 characters without whitespace");
    }
    const t0 = performance.now();
    const attribution = validateAttribution(executeOptions.attribution ?? {});
    const name = typeof call.name === 'string' ? truncateUtf8(call.name, 128, '…') : String(call.name);
    const metadata = { ...attribution, toolName: name };
    const since = () => Math.round((performance.now() - t0) * 1000) / 1000;
    const operationId = call.id;

    // 1. validate input
    await recorder.record({ type: 'tool.run.requested', data: { operationId, name, input: toJsonValue(call.arguments) }, metadata });
    const resolved = registry.resolve(call);
    if (!resolved.ok) {
      const durationMs = since();
      await recorder.record({
        type: 'tool.run.failed',
        data: { operationId, name, durationMs, errorCode: resolved.code, message: resolved.message, retryable: false },
        metadata: { ...metadata, outcome: 'failure', durationMs },
      });
      return finish(resolved);
    }
    const { tool, input } = resolved;

    // 2. approval
    const signal = executeOptions.signal ?? new AbortController().signal;
    const command = typeof (input as { command?: unknown }).command === 'string' ? (input as { command: string }).command : undefined;
    const decision = await gate.decide(
      {
        callId: operationId,
        toolName: tool.name,
        approvalClass: classOf(tool),
        input: toJsonValue(redact(input)),
        sessionId: attribution.sessionId ?? recorder.context.current().sessionId,
        mode: config.approval.mode,
      },
      tool.approvalClass === 'shell' ? command : undefined,
      signal,
    );
    if (!decision.allowed) {
      const durationMs = since();
      await recorder.record({
        type: 'tool.run.denied',
        data: { operationId, name, durationMs, reason: decision.reason, rule: decision.rule },
        metadata: { ...metadata, outcome: 'denied', durationMs },
      });
      return finish(toolFailure(ToolFailureCode.ApprovalDenied, `tool ${tool.name} was not approved: ${decision.reason}`, { rule: decision.rule }));
    }
    await recorder.record({ type: 'tool.run.approved', data: { operationId, name, approvedBy: decision.by }, metadata });

    // 3..8 sandbox, timeout, retry, size cap, redaction, telemetry (the observed lifecycle)
    const timeoutMs = Math.min(tool.timeoutMsOf(input) ?? configuredTimeoutMs, configuredTimeoutMs);
    try {
      return await recorder.observe(
        { family: 'tool.run', name: tool.name, operationId, input, attribution, signal, output: (r: ToolResult<JsonValue>) => (r.ok ? r.output : null) },
        async (scope) => {
          const result = finish(await runWithDeadline(tool, input, operationId, scope.signal, timeoutMs, scope.attribution));
          if (!result.ok) throw new Ended(result);
          return result;
        },
      );
    } catch (error) {
      if (error instanceof Ended) return error.result;
      if (error instanceof TimeoutError && error.code === 'TIMEOUT') {
        return toolFailure(ToolFailureCode.TimedOut, `tool ${tool.name} timed out after ${timeoutMs} ms; its processes were stopped`, { timeoutMs });
      }
      if (signal.aborted) return toolFailure('TOOL_CANCELLED', `tool ${tool.name} was cancelled by the caller`);
      throw error;
    }
  }

  async function runWithDeadline(
    tool: AnyTool,
    input: unknown,
    callId: string,
    callerSignal: AbortSignal,
    timeoutMs: number,
    attribution: Attribution,
  ): Promise<ToolResult<unknown>> {
    const controller = new AbortController();
    const timeout = new TimeoutError(timeoutMs, `timed out after ${timeoutMs} ms`, { retryable: false });
    let expire!: (error: TimeoutError) => void;
    const expired = new Promise<never>((_, reject) => (expire = reject));
    expired.catch(() => undefined);
    const timer = setTimeout(() => {
      controller.abort(timeout);
      expire(timeout);
    }, timeoutMs);
    const onAbort = () => controller.abort(callerSignal.reason);
    if (callerSignal.aborted) onAbort();
    else callerSignal.addEventListener('abort', onAbort, { once: true });
    const deadline = Date.now() + timeoutMs;
    const context: ToolContext = { signal: controller.signal, callId, attribution, workspace, sandbox: toolSandbox(controller.signal, deadline) };
    try {
      for (let attempt = 1; ; attempt++) {
        const running = tool.run(input, context);
        try {
          return await Promise.race([running, expired]);
        } catch (error) {
          if (error === timeout) {
            // The abort kills the process tree; wait (bounded) until the tool has let go of it.
            await Promise.race([running.catch(() => undefined), sleep(stopGraceMs)]);
            throw error;
          }
          if (!tool.idempotent || attempt >= attempts || controller.signal.aborted || !isTransient(error)) throw error;
          await Promise.race([sleep(delayMs * 2 ** (attempt - 1), { signal: controller.signal }), expired]);
        }
      }
    } finally {
      clearTimeout(timer);
      callerSignal.removeEventListener('abort', onAbort);
    }
  }

  function toolSandbox(signal: AbortSignal, deadline: number): ToolSandbox {
    return {
      async run(command, runOptions = {}) {
        const remaining = Math.max(1, deadline - Date.now());
        const result = await sandbox.run(command, { ...runOptions, signal, unsafe, timeoutMs: remaining + 1000 });
        if (result.unsafe) {
          await recorder.record({
            type: 'sandbox.unsafe_override',
            data: {
              reason: config.sandbox.mode === 'disabled' ? 'mode_disabled' : unsafe ? 'caller_option' : 'sandbox_unavailable',
              command: typeof command === 'string' ? command : [...command],
              cwd: runOptions.cwd ?? '.',
            },
          });
        }
        if (result.timedOut || (result.aborted && signal.reason instanceof TimeoutError))
          throw signal.reason instanceof TimeoutError ? signal.reason : new TimeoutError(remaining);
        return result;
      },
      async runJs(code, runOptions = {}) {
        const remaining = Math.max(1, deadline - Date.now());
        const result: JsResult = await js().run(code, { ...runOptions, timeoutMs: Math.min(runOptions.timeoutMs ?? remaining, remaining) });
        // The isolate's limit is the call's deadline: it ends as a timeout of the call, never retried.
        if (!result.ok && result.error.kind === 'timeout') throw new TimeoutError(remaining, `timed out after ${remaining} ms`, { retryable: false });
        return result;
      },
    };
  }

  const close = async () => {
    closed = true;
    const own = ownJs;
    ownJs = undefined;
    await own?.close();
  };
  return { registry, execute, close, [Symbol.asyncDispose]: close };
}

function isTransient(error: unknown): boolean {
  if (isRetryableError(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** Token-like characters (`A-Z a-z 0-9 _ - + / = .`): a cut through a run of them may be a cut through a secret. */
function isTokenChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f ||
    c === 0x2d ||
    c === 0x2b ||
    c === 0x2f ||
    c === 0x3d ||
    c === 0x2e
  );
}

/** The longest secret a cut is assumed to go through: of a longer run at the cut only this many characters go. */
const MAX_SECRET_CHARS = 1024;

/**
 * Cuts `text` to `maxBytes` of UTF-8 and marks it. A cut through a run of token characters
 * must not leave 8 or more characters of a secret's prefix: the run's part before the cut goes,
 * but at most its last {@link MAX_SECRET_CHARS} (a secret starts within them), so a huge single
 * line keeps its head. Linear: only that tail is looked at, backwards.
 */
function cutString(text: string, maxBytes: number): string {
  const cut = truncateUtf8(text, maxBytes, '');
  if (cut.length === text.length) return text;
  let run = 0;
  if (isTokenChar(text.charCodeAt(cut.length))) {
    while (run < MAX_SECRET_CHARS && run < cut.length && isTokenChar(cut.charCodeAt(cut.length - 1 - run))) run++;
  }
  return `${run >= 8 ? cut.slice(0, cut.length - run) : cut}…[truncated]`;
}

/** How deep a result may nest (the result object is level 0); deeper values become {@link TOO_DEEP}. `redact()` cuts at the same depth. */
const MAX_RESULT_DEPTH = 32;
const TOO_DEEP = '[Truncated: too deep]';
/** Values one result may hold before the rest become {@link TOO_MANY}: a bound on the work for a shared subtree repeated exponentially often. */
const MAX_RESULT_NODES = 1_000_000;
const TOO_MANY = '[Truncated: too many values]';

/**
 * A tool's result as plain JSON data, whatever the tool returned, so that nothing after it
 * (the size cap, redaction, the recorder) can throw on it: values nested deeper than
 * {@link MAX_RESULT_DEPTH} and cycles become markers (`cut: true`, reported as `truncated`),
 * a BigInt its decimal string, and otherwise `JSON.stringify`'s rules apply (`toJSON`, dropped
 * `undefined` and functions, non-finite numbers as `null`). A getter that throws is `[Unreadable]`.
 * The walk is recursive but never deeper than the cap.
 */
function plainResult(result: ToolResult<unknown>): { result: ToolResult<unknown>; cut: boolean } {
  let cut = false;
  let nodes = 0;
  const ancestors = new Set<object>();
  const plain = (input: unknown, key: string, depth: number): unknown => {
    let value = input;
    try {
      if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function')
        value = (value as { toJSON(key: string): unknown }).toJSON(key);
    } catch {
      return '[Unreadable]';
    }
    if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number') return Number.isFinite(value) ? value : null;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value !== 'object') return undefined;
    if (ancestors.has(value)) return ((cut = true), '[Circular]');
    if (depth >= MAX_RESULT_DEPTH) return ((cut = true), TOO_DEEP);
    if (++nodes > MAX_RESULT_NODES) return ((cut = true), TOO_MANY);
    ancestors.add(value);
    try {
      if (Array.isArray(value)) return Array.from(value, (v, i) => plain(v, String(i), depth + 1) ?? null);
      const out: [string, unknown][] = [];
      for (const k of Object.keys(value)) {
        let v: unknown;
        try {
          v = plain((value as Record<string, unknown>)[k], k, depth + 1);
        } catch {
          v = '[Unreadable]';
        }
        if (v !== undefined) out.push([k, v]);
      }
      return Object.fromEntries(out);
    } finally {
      ancestors.delete(value);
    }
  };
  const at = (value: unknown, key: string) => plain(value, key, 1);
  const plainOf: ToolResult<unknown> = result.ok
    ? { ok: true, output: at(result.output, 'output') ?? null, ...(result.truncated === true && { truncated: true as const }) }
    : {
        ok: false,
        code: String(result.code),
        message: String(result.message),
        ...(result.issues !== undefined && { issues: at(result.issues, 'issues') as ToolFailure['issues'] }),
        ...(result.details !== undefined && { details: at(result.details, 'details') as ToolFailure['details'] }),
      };
  return { result: plainOf, cut };
}

/**
 * Cuts a result (plain JSON data) to `maxBytes` of JSON: strings first (each to its share), else
 * the whole output becomes a cut string. `cut` says an earlier step already cut it: it is marked
 * `truncated` either way.
 */
function capResult(result: ToolResult<unknown>, maxBytes: number, cut: boolean): ToolResult<unknown> {
  const json = JSON.stringify(result) ?? '';
  if (Buffer.byteLength(json) <= maxBytes) return cut ? truncated(result) : result;
  const strings: number[] = [];
  const count = (value: unknown, depth: number) => {
    if (typeof value === 'string') strings.push(Buffer.byteLength(value));
    else if (value !== null && typeof value === 'object' && depth < 32) for (const v of Object.values(value)) count(v, depth + 1);
  };
  count(result, 0);
  const share = Math.max(256, Math.floor((maxBytes * 0.8) / Math.max(1, strings.length)));
  const shrink = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return Buffer.byteLength(value) > share ? cutString(value, share) : value;
    if (value === null || typeof value !== 'object' || depth >= 32) return value;
    if (Array.isArray(value)) return value.map((v) => shrink(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shrink(v, depth + 1)]));
  };
  let capped = shrink(result, 0) as ToolResult<unknown>;
  if (Buffer.byteLength(JSON.stringify(capped)) > maxBytes) {
    // Too many small values (a huge array): keep a prefix of the JSON text.
    const body = result.ok ? JSON.stringify(result.output) : JSON.stringify(result.details ?? null);
    const text = cutString(body, Math.floor(maxBytes * 0.8));
    capped = result.ok ? { ok: true, output: text } : { ok: false, code: result.code, message: cutString(result.message, 1024), details: { truncated: text } };
  }
  return truncated(capped);
}

function truncated(result: ToolResult<unknown>): ToolResult<unknown> {
  return result.ok ? { ...result, truncated: true } : { ...result, details: { ...result.details, truncated: true } };
}

function redactResult(result: ToolResult<unknown>, maxBytes: number): ToolResult<JsonValue> {
  return toJsonValue(redact(result, { maxStringBytes: maxBytes, maxEntries: 100_000 })) as unknown as ToolResult<JsonValue>;
}
