/**
 * The agent loop: model turn -> tool calls -> results -> next turn, until the model ends its
 * turn or a limit stops it. Everything it decides on is read back from the session's stream,
 * so a new process continues a session where a crashed one stopped.
 */
import type { EventStore, Outcome, StoredEvent } from '@buckley/events';
import { isWrongExpectedVersionError } from '@buckley/events';
import type { ChatMessage, ChatResult, ModelClient } from '@buckley/model';
import { type Attribution, type Recorder, createRedactor, createStreamRedactor } from '@buckley/observability';
import type { ToolExecutor } from '@buckley/tools';
import { type Clock, systemClock, uuidv7 } from '@buckley/utils';
import { InvalidOrchestratorInputError, SessionBusyError, SessionEndedError } from './orchestrator-errors.js';
import type { Orchestrator } from './orchestrator.js';
import { type ToolCallRequest, sessionStreamId } from './session-events.js';
import type { ConversationMessage, Plan, SessionState } from './session-state.js';

/** Declarative limits of one run; each stop by a limit is a `session.limit_reached` event naming it. `Infinity` is no limit. */
export interface AgentLimits {
  /** Most model turns (an integer, default 50). */
  readonly maxSteps?: number;
  /** Most input + output tokens, as the model reported them; checked before each turn. */
  readonly maxTokens?: number;
  /** Most US dollars, from the model client's price table; checked before each turn. */
  readonly maxCostUsd?: number;
  /** Most wall time of one `run()`, in milliseconds: the model request or tool running when it passes is stopped. */
  readonly maxWallTimeMs?: number;
  /** Most times one tool call (the same name and arguments) runs (an integer, default 5). */
  readonly maxRepeatedCalls?: number;
}

/** The limit a run stopped at. */
export type AgentLimitName = 'steps' | 'tokens' | 'cost' | 'wall_time' | 'repeated_call';

/** Options of {@link createAgent}. */
export interface AgentOptions {
  readonly orchestrator: Orchestrator;
  /** The store the orchestrator and the recorder write to: the loop reads the session's stream from it. */
  readonly store: EventStore;
  /** Writes the `agent.*`, closing `tool.run.*` and `session.*` events of the loop. */
  readonly recorder: Recorder;
  readonly model: ModelClient;
  /** Runs the model's tool calls; its registry is the tool list offered to the model. */
  readonly tools: Pick<ToolExecutor, 'execute' | 'registry'>;
  /** The model id sent with each request and named by each turn; default the client's configured one. */
  readonly modelId?: string;
  /** The system message in front of the conversation (not stored: it is configuration). */
  readonly systemPrompt?: string;
  readonly limits?: AgentLimits;
  /**
   * The model's context window in tokens (default 128 000). A conversation estimated over 80 %
   * of it is shortened: see the README for the rule.
   */
  readonly contextWindowTokens?: number;
  /**
   * How long a run's hold on its session lasts without renewal, in milliseconds (default
   * 30 000; renewed every third of it while the run lives). A crashed run's hold ends then.
   */
  readonly leaseMs?: number;
  /** Longest tool call arguments stored and run, in characters (default 256 KiB); a longer call is answered as a failure. */
  readonly maxArgumentChars?: number;
  readonly clock?: Clock;
}

/** Per-run options of {@link Agent.run}. */
export interface AgentRunOptions {
  /** Aborting reaches the model request and the running tools; the run ends `cancelled`. */
  readonly signal?: AbortSignal;
  /** Overrides the agent's limits for this run (a key set to `undefined` keeps the agent's). */
  readonly limits?: AgentLimits;
  /** Each progress update, in order; a callback that throws (or returns a promise that rejects) is ignored. */
  readonly onProgress?: (update: AgentProgress) => unknown;
  /** Attribution of every event of the run, besides the session (plan, task, experiment, agent). */
  readonly attribution?: Omit<Attribution, 'sessionId'>;
}

/** A typed progress update: what terminals, the API, the SDK and ACP show. Text is redacted like the stored message. */
export type AgentProgress =
  | { readonly type: 'turn_started'; readonly turnId: string; readonly step: number }
  | { readonly type: 'text'; readonly turnId: string; readonly delta: string }
  | { readonly type: 'reasoning'; readonly turnId: string; readonly delta: string }
  | { readonly type: 'turn_finished'; readonly turnId: string; readonly toolCalls: number; readonly outcome: Outcome }
  | { readonly type: 'tool_call_started'; readonly toolCallId: string; readonly name: string }
  | { readonly type: 'tool_call_finished'; readonly toolCallId: string; readonly name: string; readonly outcome: Outcome; readonly content: string }
  | { readonly type: 'plan_changed'; readonly plan: Plan }
  | { readonly type: 'context_shortened'; readonly toolCallIds: readonly string[] }
  | { readonly type: 'limit_reached'; readonly limit: AgentLimitName; readonly max: number; readonly value: number };

/** How a run ended. */
export interface AgentRunResult {
  /** `success`: the model ended its turn; `failure`: a limit, a model or store error; `cancelled`. */
  readonly outcome: Outcome;
  /** `paused`: the session's workflow is paused (by anyone, in any process); resume it and run again. */
  readonly stopReason: 'end_turn' | 'limit' | 'cancelled' | 'paused' | 'error';
  readonly limit: AgentLimitName | null;
  /** The error's code and (redacted) message when `stopReason` is `error`. */
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Model turns since the latest user message (a resumed run counts the crashed one's turns). */
  readonly steps: number;
  /** Tokens and cost of the turns since the latest user message whose end was recorded. */
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number };
  /** The text of the last assistant message after the latest user message (`''` when there is none). */
  readonly text: string;
  readonly state: SessionState;
}

/** Runs sessions. */
export interface Agent {
  /**
   * Answers the session's conversation: model turns and tool calls until the model ends its
   * turn, a limit stops it, or the signal aborts. One run at a time holds a session (a lease in
   * its stream): another run, here or in any process, is refused with `SessionBusyError`
   * (`SESSION_BUSY`, with `retryAfterMs`). Calls left open by a crashed run are closed first
   * (`tool.run.failed` with `INTERRUPTED`, reported to the model, never re-run); calls already
   * answered are never run again. Resolves with how it ended; rejects for a session that does
   * not exist (`SessionNotFoundError`), has ended (`SessionEndedError`), has nothing to answer
   * or bad limits (`InvalidOrchestratorInputError`), or is busy. A paused session stops before
   * the next model turn or batch of tool calls with `stopReason: 'paused'`.
   */
  run(sessionId: string, options?: AgentRunOptions): Promise<AgentRunResult>;
}

const SHORTENED_KEEP_CHARS = 400;
/** Ids kept as the model gave them; others are replaced (the orchestrator's id rule, and nothing a redactor would touch). */
const SAFE_CALL_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const REDACTED = '[REDACTED]';
const TURN_END = /^agent\.turn\.(completed|failed|timed_out|cancelled|denied)$/;

/** Why the loop stopped in the middle of a step. */
class Stop {
  constructor(
    readonly kind: 'cancelled' | 'wall_time',
    readonly reason: string,
  ) {}
}

/** A tool call of the current turn as the model sent it, before it was stored. */
interface Planned {
  readonly call: ToolCallRequest;
  /** The arguments to run with: the model's own (the stored ones are redacted). */
  readonly arguments: string;
  /** Answered without running: the model's call could not be stored or run as given. */
  readonly refused?: { readonly code: string; readonly message: string };
}

/**
 * Creates the agent loop over the ports.
 *
 * @example
 * ```ts
 * const agent = createAgent({ orchestrator, store, recorder, model, tools: executor });
 * await orchestrator.addMessage(sessionId, { role: 'user', content: 'fix the failing test' });
 * const { outcome, text } = await agent.run(sessionId, { signal });
 * ```
 */
export function createAgent(options: AgentOptions): Agent {
  const { orchestrator, store, recorder, model, tools } = options;
  const clock = options.clock ?? systemClock;
  const window = positive('contextWindowTokens', options.contextWindowTokens ?? 128_000);
  const leaseMs = positive('leaseMs', options.leaseMs ?? 30_000);
  const maxArgumentChars = positive('maxArgumentChars', options.maxArgumentChars ?? 256 * 1024);
  const redact = createRedactor({ maxStringBytes: 4 * 1024 * 1024 });
  const baseLimits = checkLimits({ maxSteps: 50, maxRepeatedCalls: 5, ...defined(options.limits ?? {}) });

  return {
    async run(sessionId, run = {}) {
      const limits = checkLimits({ ...baseLimits, ...defined(run.limits ?? {}) });
      const startedAt = clock.now();
      const attribution: Attribution = { ...run.attribution, sessionId };
      const tell = (update: AgentProgress) => {
        try {
          const back = run.onProgress?.(update);
          if (back !== null && typeof back === 'object' && typeof (back as Promise<unknown>).then === 'function')
            (back as Promise<unknown>).then(undefined, () => undefined);
        } catch {
          // A consumer's fault never stops the run.
        }
      };
      let state = await orchestrator.getSession(sessionId, run.signal ? { signal: run.signal } : {});
      if (state.status === 'ended') throw new SessionEndedError(sessionId);
      if (state.messages.length === 0) throw new InvalidOrchestratorInputError('the session has no message to answer: add a user message first');

      // One run at a time: a lease in the session's stream, claimed at the version it was decided on.
      const runId = uuidv7();
      const events = await claim(store, sessionId, runId, leaseMs, clock, attribution);
      const renewal = setInterval(() => {
        recorder.record({ type: 'agent.run.renewed', data: { runId, leaseUntil: clock.now() + leaseMs }, metadata: attribution }).catch(() => undefined);
      }, leaseMs / 3);
      renewal.unref?.();

      // The run's own deadline and the caller's signal, as one signal for the model and the tools.
      const deadline = new AbortController();
      const wallTimer =
        limits.maxWallTimeMs === Infinity
          ? undefined
          : setTimeout(() => deadline.abort(new Stop('wall_time', 'the run passed maxWallTimeMs')), limits.maxWallTimeMs);
      const signal = run.signal ? AbortSignal.any([run.signal, deadline.signal]) : deadline.signal;
      const stopOf = (): Stop | undefined =>
        !signal.aborted ? undefined : signal.reason instanceof Stop && deadline.signal.aborted ? signal.reason : new Stop('cancelled', 'the run was cancelled');

      const budget = budgetSinceLastUserMessage(events, state);
      const shortened = new Set(events.filter((e) => e.type === 'session.context_shortened').flatMap((e) => stringsOf(e.data, 'toolCallIds')));
      const signatures = new Map<string, number>();
      for (const call of answeredSinceLastUserMessage(state)) signatures.set(signatureOf(call), (signatures.get(signatureOf(call)) ?? 0) + 1);
      const originals = new Map<string, Planned>();
      let lastPlan = JSON.stringify(state.plan);

      const finish = (outcome: Outcome, stopReason: AgentRunResult['stopReason'], extra: Partial<AgentRunResult> = {}): AgentRunResult => ({
        outcome,
        stopReason,
        limit: null,
        error: null,
        steps: budget.steps,
        usage: { inputTokens: budget.inputTokens, outputTokens: budget.outputTokens, costUsd: budget.costUsd },
        text: answerText(state),
        state,
        ...extra,
      });
      const failed = (error: unknown) =>
        finish('failure', 'error', { error: { code: codeOf(error), message: redact(error instanceof Error ? error.message : String(error)) } });
      const refresh = async () => {
        state = await orchestrator.getSession(sessionId);
        const now = JSON.stringify(state.plan);
        if (now !== lastPlan && state.plan !== null) tell({ type: 'plan_changed', plan: state.plan });
        lastPlan = now;
      };
      /** Answers calls without running them, so the conversation stays answerable. */
      const close = async (calls: readonly ToolCallRequest[], type: 'failed' | 'cancelled', why: string, code = 'INTERRUPTED') => {
        if (calls.length === 0) return;
        for (const call of calls) {
          const data =
            type === 'failed'
              ? { operationId: call.id, name: call.name, durationMs: 0, errorCode: code, message: why, retryable: false }
              : { operationId: call.id, name: call.name, durationMs: 0, reason: why };
          await recorder.record({
            type: `tool.run.${type}`,
            data,
            metadata: { ...attribution, toolName: call.name, outcome: type === 'failed' ? 'failure' : 'cancelled', durationMs: 0 },
          });
        }
        await refresh();
      };
      const stopped = async (stop: Stop) => {
        await refresh();
        if (stop.kind === 'wall_time') return stopAtLimit('wall_time', limits.maxWallTimeMs, Math.round(clock.now() - startedAt));
        await close(openCalls(state).runnable, 'cancelled', 'the run was cancelled');
        return finish('cancelled', 'cancelled');
      };
      const stopAtLimit = async (limit: AgentLimitName, max: number, value: number) => {
        await recorder.record({ type: 'session.limit_reached', data: { limit, max, value }, metadata: { ...attribution, outcome: 'failure' } });
        await close(openCalls(state).runnable, 'cancelled', `the run stopped: limit ${limit} reached`);
        tell({ type: 'limit_reached', limit, max, value });
        return finish('failure', 'limit', { limit });
      };

      try {
        // Resume: a call that started and never ended was interrupted (reported, not re-run); a
        // call a later user message superseded is closed; a turn that never ended is closed.
        const startedCalls = new Set(events.filter((e) => e.type === 'tool.run.started').map((e) => String((e.data as { operationId?: unknown }).operationId)));
        const open = openCalls(state);
        await close(
          open.runnable.filter((c) => startedCalls.has(c.id)),
          'failed',
          'the process running this call stopped before it ended; it was not run again, check its effects before retrying',
        );
        await close(open.superseded, 'cancelled', 'a newer user message came before this call ran; it was not run');
        // A resumed call whose stored arguments were redacted cannot be run as the model meant it.
        await close(
          openCalls(state).runnable.filter((c) => c.arguments.includes(REDACTED)),
          'failed',
          'the arguments of this call held a secret, which is not stored; it was not run: call it again',
          'ARGUMENTS_UNAVAILABLE',
        );
        await closeOpenTurns(events, recorder, attribution);

        for (;;) {
          const stop = stopOf();
          if (stop !== undefined) return await stopped(stop);
          if (state.workflow.paused) return finish('cancelled', 'paused');
          const pending = openCalls(state).runnable;
          if (pending.length > 0) {
            const counts = new Map(signatures);
            for (const call of pending) {
              const seen = (counts.get(signatureOf(call)) ?? 0) + 1;
              counts.set(signatureOf(call), seen);
              if (seen > limits.maxRepeatedCalls) return await stopAtLimit('repeated_call', limits.maxRepeatedCalls, seen);
            }
            const refused = pending.filter((c) => originals.get(c.id)?.refused !== undefined);
            for (const call of refused) {
              const why = originals.get(call.id)!.refused!;
              await close([call], 'failed', why.message, why.code);
            }
            const runnable = pending.filter((c) => originals.get(c.id)?.refused === undefined);
            let fault: unknown;
            for (const batch of batches(runnable, (name) => tools.registry.get(name)?.readOnly === true)) {
              if (signal.aborted || fault !== undefined) break;
              const settled = await Promise.allSettled(
                batch.map(async (call) => {
                  signatures.set(signatureOf(call), (signatures.get(signatureOf(call)) ?? 0) + 1);
                  tell({ type: 'tool_call_started', toolCallId: call.id, name: call.name });
                  await tools.execute(
                    { id: call.id, name: call.name, arguments: originals.get(call.id)?.arguments ?? call.arguments },
                    { signal, attribution },
                  );
                }),
              );
              // Every call of the batch has ended before the run goes on (or stops).
              fault = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')?.reason;
              await refresh();
              for (const call of batch) {
                const answer = answerOf(state, call.id);
                if (answer !== undefined)
                  tell({ type: 'tool_call_finished', toolCallId: call.id, name: call.name, outcome: answer.outcome, content: answer.content });
              }
            }
            if (fault !== undefined && !signal.aborted) return failed(fault);
            continue;
          }
          if (!needsTurn(state)) return finish('success', 'end_turn');
          if (budget.steps >= limits.maxSteps) return await stopAtLimit('steps', limits.maxSteps, budget.steps);
          if (budget.inputTokens + budget.outputTokens >= limits.maxTokens)
            return await stopAtLimit('tokens', limits.maxTokens, budget.inputTokens + budget.outputTokens);
          if (budget.costUsd >= limits.maxCostUsd) return await stopAtLimit('cost', limits.maxCostUsd, budget.costUsd);

          const { messages, newlyShortened } = conversation(state, options.systemPrompt, window, shortened);
          if (newlyShortened.length > 0) {
            for (const id of newlyShortened) shortened.add(id);
            await recorder.record({
              type: 'session.context_shortened',
              data: { toolCallIds: newlyShortened, contextWindowTokens: window, keptChars: SHORTENED_KEEP_CHARS },
              metadata: attribution,
            });
            tell({ type: 'context_shortened', toolCallIds: newlyShortened });
          }
          const turnId = uuidv7();
          tell({ type: 'turn_started', turnId, step: budget.steps + 1 });
          const known = new Set(state.messages.flatMap((m) => (m.role === 'assistant' ? m.toolCalls.map((c) => c.id) : [])));
          const text = createStreamRedactor({ window: 512 });
          const reasoning = createStreamRedactor({ window: 512 });
          let result: ChatResult;
          budget.steps++;
          try {
            result = await recorder.observe(
              {
                family: 'agent.turn',
                name: options.modelId ?? 'model',
                operationId: turnId,
                attribution,
                signal,
                ...(options.modelId !== undefined ? { modelId: options.modelId } : {}),
                output: (r: ChatResult) => ({
                  finishReason: r.finishReason,
                  toolCalls: r.toolCalls.length,
                  inputTokens: r.usage?.inputTokens ?? 0,
                  outputTokens: r.usage?.outputTokens ?? 0,
                  costUsd: r.costUsd ?? 0,
                  modelCallId: r.callId,
                }),
              },
              async (scope) => {
                const stream = model.chat({
                  messages,
                  tools: tools.registry.specs(),
                  signal: scope.signal,
                  attribution: { ...attribution, correlationId: turnId },
                  ...(options.modelId !== undefined ? { model: options.modelId } : {}),
                });
                for await (const item of stream) {
                  const delta = item.type === 'text' ? text.write(item.delta) : item.type === 'reasoning' ? reasoning.write(item.delta) : '';
                  if (delta !== '') tell({ type: item.type === 'text' ? 'text' : 'reasoning', turnId, delta });
                }
                for (const [kind, r] of [
                  ['text', text],
                  ['reasoning', reasoning],
                ] as const) {
                  const rest = r.end();
                  if (rest !== '') tell({ type: kind, turnId, delta: rest });
                }
                const done = await stream.result();
                const planned = done.toolCalls.map((c) => plan(c, known, redact, maxArgumentChars));
                for (const p of planned) originals.set(p.call.id, p);
                // The signal is checked before the append: a turn the caller cancelled leaves no message.
                state = await orchestrator.addMessage(
                  sessionId,
                  { role: 'assistant', content: cutText(done.text), toolCalls: planned.map((p) => p.call) },
                  { signal: scope.signal, ...(run.attribution ? { attribution: run.attribution } : {}) },
                );
                return done;
              },
            );
          } catch (error) {
            const stop = stopOf();
            tell({ type: 'turn_finished', turnId, toolCalls: 0, outcome: stop === undefined ? 'failure' : 'cancelled' });
            if (stop !== undefined) return await stopped(stop);
            return failed(error);
          }
          budget.inputTokens += result.usage?.inputTokens ?? 0;
          budget.outputTokens += result.usage?.outputTokens ?? 0;
          budget.costUsd += result.costUsd ?? 0;
          tell({ type: 'turn_finished', turnId, toolCalls: result.toolCalls.length, outcome: 'success' });
        }
      } catch (error) {
        const stop = stopOf();
        if (stop !== undefined) return await stopped(stop).catch(() => finish('cancelled', 'cancelled'));
        return failed(error);
      } finally {
        clearInterval(renewal);
        clearTimeout(wallTimer);
        await recorder.record({ type: 'agent.run.released', data: { runId }, metadata: attribution }).catch(() => undefined);
      }
    },
  };
}

/**
 * Claims the session for one run: appends `agent.run.claimed` at the version it read, after
 * checking no other run holds a lease that has not run out. Returns the stream as read.
 */
async function claim(store: EventStore, sessionId: string, runId: string, leaseMs: number, clock: Clock, attribution: Attribution): Promise<StoredEvent[]> {
  for (let attempt = 0; ; attempt++) {
    const events = await store.read(sessionStreamId(sessionId));
    const held = new Map<string, number>();
    for (const e of events) {
      const id = String((e.data as { runId?: unknown }).runId);
      if (e.type === 'agent.run.claimed' || e.type === 'agent.run.renewed') held.set(id, Number((e.data as { leaseUntil?: unknown }).leaseUntil));
      else if (e.type === 'agent.run.released') held.delete(id);
    }
    const now = clock.now();
    const holder = [...held.values()].find((until) => until > now);
    if (holder !== undefined) throw new SessionBusyError(sessionId, holder - now);
    try {
      await store.append(
        sessionStreamId(sessionId),
        [{ type: 'agent.run.claimed', data: { runId, leaseUntil: now + leaseMs }, metadata: { ...attribution } }],
        { expectedVersion: events.at(-1)!.version },
      );
      return events;
    } catch (error) {
      // Someone appended since the read (telemetry, or another run's claim): read again.
      if (!isWrongExpectedVersionError(error) || attempt >= 20) throw error;
    }
  }
}

/** Turns that started and never ended (their process crashed): closed as failed, `INTERRUPTED`. */
async function closeOpenTurns(events: readonly StoredEvent[], recorder: Recorder, attribution: Attribution) {
  const open = new Map<string, string>();
  for (const e of events) {
    const id = String((e.data as { operationId?: unknown }).operationId);
    if (e.type === 'agent.turn.started') open.set(id, String((e.data as { name?: unknown }).name));
    else if (TURN_END.test(e.type)) open.delete(id);
  }
  for (const [operationId, name] of open) {
    await recorder.record({
      type: 'agent.turn.failed',
      data: { operationId, name, durationMs: 0, errorCode: 'INTERRUPTED', message: 'the process running this turn stopped before it ended', retryable: false },
      metadata: { ...attribution, outcome: 'failure', durationMs: 0 },
    });
  }
}

/** A model tool call made storable: a fresh id when its own is unsafe or taken, refused when it cannot be run as given. */
function plan(call: { id: string; name: string; arguments: string }, known: Set<string>, redact: <T>(v: T) => T, maxArgumentChars: number): Planned {
  const id = SAFE_CALL_ID.test(call.id) && !known.has(call.id) && redact(call.id) === call.id ? call.id : `call_${uuidv7()}`;
  known.add(id);
  const nameOk = TOOL_NAME.test(call.name);
  const name = nameOk ? call.name : 'invalid_tool_name';
  const tooLong = call.arguments.length > maxArgumentChars;
  const stored = { id, name, arguments: tooLong ? '{}' : call.arguments };
  if (!nameOk)
    return {
      call: stored,
      arguments: call.arguments,
      refused: {
        code: 'UNKNOWN_TOOL',
        message: `the tool name is not a valid tool name (1 to 64 letters, digits, "_" or "-"), got ${call.name.length} characters`,
      },
    };
  if (tooLong)
    return {
      call: stored,
      arguments: call.arguments,
      refused: {
        code: 'ARGUMENTS_TOO_LARGE',
        message: `the arguments are ${call.arguments.length} characters, over the ${maxArgumentChars} this agent runs; nothing was run`,
      },
    };
  return { call: stored, arguments: call.arguments };
}

const MAX_TEXT_CHARS = 256 * 1024;
function cutText(text: string): string {
  if (text.length <= MAX_TEXT_CHARS) return text;
  return `${safeSlice(text, MAX_TEXT_CHARS)}\n…[cut by the agent: ${text.length - MAX_TEXT_CHARS} more characters]`;
}

/** `text.slice(0, n)` without splitting a surrogate pair. */
function safeSlice(text: string, n: number): string {
  const code = text.charCodeAt(n - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || value === Infinity)
    throw new InvalidOrchestratorInputError(`${name} must be a finite number > 0, got ${typeof value === 'number' ? String(value) : typeof value}`);
  return value;
}

/** The keys of `limits` whose value is not `undefined`. */
function defined(limits: AgentLimits): AgentLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as AgentLimits;
}

type CheckedLimits = { readonly [K in keyof AgentLimits]-?: number };

function checkLimits(limits: AgentLimits): CheckedLimits {
  const out: Record<string, number> = {};
  for (const key of ['maxSteps', 'maxTokens', 'maxCostUsd', 'maxWallTimeMs', 'maxRepeatedCalls'] as const) {
    const value: unknown = limits[key] ?? Infinity;
    const integer = key === 'maxSteps' || key === 'maxRepeatedCalls';
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (integer && value !== Infinity && !Number.isInteger(value)))
      throw new InvalidOrchestratorInputError(
        `limits.${key} must be ${integer ? 'an integer' : 'a number'} > 0 (or Infinity), got ${typeof value === 'number' ? String(value) : typeof value}`,
      );
    out[key] = value;
  }
  return out as CheckedLimits;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN';
}

function stringsOf(data: unknown, key: string): string[] {
  const value = (data as Record<string, unknown> | null)?.[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Turns, tokens and cost since the latest user message: turns are the larger of ended turns and assistant messages (a crashed turn left only its message). */
function budgetSinceLastUserMessage(events: readonly StoredEvent[], state: SessionState) {
  let from = 0;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'session.message_added' && (e.data as { role?: unknown }).role === 'user') {
      from = i;
      break;
    }
  }
  const budget = { steps: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const e of events.slice(from)) {
    if (!TURN_END.test(e.type)) continue;
    budget.steps++;
    const output = (e.data as { output?: Record<string, unknown> }).output;
    if (e.type === 'agent.turn.completed' && output !== undefined && output !== null) {
      budget.inputTokens += typeof output.inputTokens === 'number' ? output.inputTokens : 0;
      budget.outputTokens += typeof output.outputTokens === 'number' ? output.outputTokens : 0;
      budget.costUsd += typeof output.costUsd === 'number' ? output.costUsd : 0;
    }
  }
  let assistants = 0;
  for (let i = state.messages.length - 1; i >= 0 && state.messages[i]!.role !== 'user'; i--) if (state.messages[i]!.role === 'assistant') assistants++;
  budget.steps = Math.max(budget.steps, assistants);
  return budget;
}

function answeredSinceLastUserMessage(state: SessionState): ToolCallRequest[] {
  const calls: ToolCallRequest[] = [];
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'user') break;
    if (m.role === 'assistant') calls.push(...m.toolCalls.filter((c) => answerOf(state, c.id) !== undefined));
  }
  return calls;
}

const answerOf = (state: SessionState, id: string) =>
  state.messages.find((m): m is Extract<ConversationMessage, { role: 'tool' }> => m.role === 'tool' && m.toolCallId === id);

/**
 * The tool calls without an answer: `runnable` are those of the last assistant message when no
 * user or system message came after it; `superseded` every other one (a newer message came first).
 */
function openCalls(state: SessionState): { runnable: ToolCallRequest[]; superseded: ToolCallRequest[] } {
  const answered = new Set(state.messages.flatMap((m) => (m.role === 'tool' ? [m.toolCallId] : [])));
  let lastAssistant = -1;
  let lastOther = -1;
  state.messages.forEach((m, i) => {
    if (m.role === 'assistant') lastAssistant = i;
    else if (m.role !== 'tool') lastOther = i;
  });
  const runnable: ToolCallRequest[] = [];
  const superseded: ToolCallRequest[] = [];
  const seen = new Set<string>();
  state.messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    for (const c of m.toolCalls) {
      if (answered.has(c.id) || seen.has(c.id)) continue;
      seen.add(c.id);
      (i === lastAssistant && lastOther < i ? runnable : superseded).push(c);
    }
  });
  return { runnable, superseded };
}

/** True when the conversation ends with something the model has not answered (a user message, or tool results). */
function needsTurn(state: SessionState): boolean {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') return m.toolCalls.length > 0;
    if (m.role === 'user' || m.role === 'system') return true;
  }
  return false;
}

const signatureOf = (call: ToolCallRequest) => `${call.name}\u0000${call.arguments}`;

/** Consecutive read-only calls together (they run in parallel); every other call alone, in order. */
function batches(calls: readonly ToolCallRequest[], readOnly: (name: string) => boolean): ToolCallRequest[][] {
  const out: ToolCallRequest[][] = [];
  for (const call of calls) {
    const previous = out.at(-1);
    if (readOnly(call.name) && previous !== undefined && readOnly(previous[0]!.name)) previous.push(call);
    else out.push([call]);
  }
  return out;
}

function answerText(state: SessionState): string {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') return m.content;
    if (m.role === 'user') return '';
  }
  return '';
}

/** A rough token count: four ASCII characters a token, one for any other character, a few for each message's framing. */
function estimate(text: string): number {
  let ascii = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) ascii++;
  return Math.ceil(ascii / 4) + (text.length - ascii) + 4;
}

/**
 * The conversation as the model is sent it: each assistant message followed by the answers to
 * its calls (whatever order they were stored in). Over 80 % of the window, the oldest tool
 * outputs (never those of the last assistant message, never ones of 800 characters or less)
 * keep their first {@link SHORTENED_KEEP_CHARS} characters and a note of what was left out, one
 * by one, until it fits; an output shortened once stays shortened. Nothing else is shortened.
 */
function conversation(
  state: SessionState,
  systemPrompt: string | undefined,
  window: number,
  shortened: ReadonlySet<string>,
): { messages: ChatMessage[]; newlyShortened: string[] } {
  const answers = new Map<string, Extract<ConversationMessage, { role: 'tool' }>>();
  for (const m of state.messages) if (m.role === 'tool' && !answers.has(m.toolCallId)) answers.set(m.toolCallId, m);
  const latest = new Set(lastAssistantCalls(state));
  const cut = (content: string) =>
    `${safeSlice(content, SHORTENED_KEEP_CHARS)}\n…[shortened by the agent to fit the context window: ${content.length - SHORTENED_KEEP_CHARS} characters of this old tool output left out]`;
  const contentOf = new Map<string, string>();
  for (const [id, m] of answers) contentOf.set(id, shortened.has(id) && m.content.length > SHORTENED_KEEP_CHARS ? cut(m.content) : m.content);
  let tokens = estimate(systemPrompt ?? '');
  for (const m of state.messages) {
    if (m.role === 'tool') continue;
    tokens += estimate(m.content);
    if (m.role === 'assistant') for (const c of m.toolCalls) tokens += estimate(c.arguments) + estimate(c.name);
  }
  for (const content of contentOf.values()) tokens += estimate(content);
  const newlyShortened: string[] = [];
  for (const [id, m] of answers) {
    if (tokens <= window * 0.8) break;
    if (latest.has(id) || shortened.has(id) || m.content.length <= SHORTENED_KEEP_CHARS * 2) continue;
    const short = cut(m.content);
    tokens += estimate(short) - estimate(contentOf.get(id)!);
    contentOf.set(id, short);
    newlyShortened.push(id);
  }
  const messages: ChatMessage[] = systemPrompt !== undefined && systemPrompt !== '' ? [{ role: 'system', content: systemPrompt }] : [];
  for (const m of state.messages) {
    if (m.role === 'tool') continue;
    if (m.role === 'assistant') {
      messages.push({
        role: 'assistant',
        content: m.content === '' && m.toolCalls.length > 0 ? null : m.content,
        ...(m.toolCalls.length > 0 ? { toolCalls: m.toolCalls } : {}),
      });
      for (const c of m.toolCalls) {
        const content = contentOf.get(c.id);
        if (content !== undefined) messages.push({ role: 'tool', toolCallId: c.id, content });
      }
    } else if (m.role === 'system') messages.push({ role: 'system', content: m.content });
    else messages.push({ role: 'user', content: m.content });
  }
  return { messages, newlyShortened };
}

/** The tool call ids of the last assistant message: their outputs are never shortened. */
function lastAssistantCalls(state: SessionState): string[] {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') return m.toolCalls.map((c) => c.id);
  }
  return [];
}
