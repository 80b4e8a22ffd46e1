/**
 * The agent loop: model turn -> tool calls -> results -> next turn, until the model ends its
 * turn or a limit stops it. Everything it decides on is read back from the session's stream,
 * so a new process continues a session where a crashed one stopped.
 */
import type { EventStore, Outcome, StoredEvent } from '@buckley/events';
import type { ChatMessage, ChatResult, ModelClient } from '@buckley/model';
import type { Attribution, Recorder } from '@buckley/observability';
import type { ToolExecutor } from '@buckley/tools';
import { type Clock, systemClock, uuidv7 } from '@buckley/utils';
import { InvalidOrchestratorInputError, SessionEndedError } from './orchestrator-errors.js';
import type { Orchestrator } from './orchestrator.js';
import { type ToolCallRequest, sessionStreamId } from './session-events.js';
import type { ConversationMessage, Plan, SessionState } from './session-state.js';

/** Declarative limits of one run; each stop by a limit is a `session.limit_reached` event naming it. */
export interface AgentLimits {
  /** Most model turns (default 50). */
  readonly maxSteps?: number;
  /** Most input + output tokens, as the model reported them. */
  readonly maxTokens?: number;
  /** Most US dollars, from the model client's price table. */
  readonly maxCostUsd?: number;
  /** Most wall time of one `run()`, in milliseconds. */
  readonly maxWallTimeMs?: number;
  /** Most times one tool call (the same name and arguments) runs (default 5). */
  readonly maxRepeatedCalls?: number;
}

/** The limit a run stopped at. */
export type AgentLimitName = 'steps' | 'tokens' | 'cost' | 'wall_time' | 'repeated_call';

/** Options of {@link createAgent}. */
export interface AgentOptions {
  readonly orchestrator: Orchestrator;
  /** The store the orchestrator and the recorder write to: the loop reads the session's stream from it. */
  readonly store: EventStore;
  /** Writes the `agent.turn.*`, interrupted `tool.run.failed` and `session.*` events of the loop. */
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
  readonly clock?: Clock;
}

/** Per-run options of {@link Agent.run}. */
export interface AgentRunOptions {
  /** Aborting reaches the model request and the running tools; the run ends `cancelled`. */
  readonly signal?: AbortSignal;
  /** Overrides the agent's limits for this run. */
  readonly limits?: AgentLimits;
  /** Each progress update, in order; a throwing callback is ignored. */
  readonly onProgress?: (update: AgentProgress) => void;
  /** Attribution of every event of the run, besides the session (plan, task, experiment, agent). */
  readonly attribution?: Omit<Attribution, 'sessionId'>;
}

/** A typed progress update: what terminals, the API, the SDK and ACP show. */
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
  /** The error's code and message when `stopReason` is `error`. */
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Model turns since the latest user message (a resumed run counts the crashed one's turns). */
  readonly steps: number;
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number };
  /** The text of the last assistant message. */
  readonly text: string;
  readonly state: SessionState;
}

/** Runs sessions. */
export interface Agent {
  /**
   * Answers the session's conversation: model turns and tool calls until the model ends its
   * turn, a limit stops it, or the signal aborts. Calls left open by a crashed process are
   * closed first (`tool.run.failed` with `INTERRUPTED`, reported to the model, never re-run);
   * calls already answered are never run again. Resolves with how it ended; rejects only for
   * a session that does not exist (`SessionNotFoundError`), has ended (`SessionEndedError`) or
   * has nothing to answer (`InvalidOrchestratorInputError`). A paused session is not run: it
   * stops before the next model turn or batch of tool calls with `stopReason: 'paused'`.
   */
  run(sessionId: string, options?: AgentRunOptions): Promise<AgentRunResult>;
}

const SHORTENED_KEEP_CHARS = 400;

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
  checkLimits(options.limits ?? {});

  return {
    async run(sessionId, run = {}) {
      const limits = { maxSteps: 50, maxRepeatedCalls: 5, ...options.limits, ...run.limits };
      checkLimits(limits);
      const startedAt = clock.now();
      const attribution: Attribution = { ...run.attribution, sessionId };
      const tell = (update: AgentProgress) => {
        try {
          run.onProgress?.(update);
        } catch {
          // A consumer's fault never stops the run.
        }
      };
      let state = await orchestrator.getSession(sessionId, run.signal ? { signal: run.signal } : {});
      if (state.status === 'ended') throw new SessionEndedError(sessionId);
      if (state.messages.length === 0) throw new InvalidOrchestratorInputError('the session has no message to answer: add a user message first');
      const events = await store.read(sessionStreamId(sessionId));
      const budget = budgetSinceLastUserMessage(events);
      const shortened = new Set(events.filter((e) => e.type === 'session.context_shortened').flatMap((e) => stringsOf(e.data, 'toolCallIds')));
      const signatures = new Map<string, number>();
      for (const call of callsSinceLastUserMessage(state)) signatures.set(signatureOf(call), (signatures.get(signatureOf(call)) ?? 0) + 1);
      const planVersion = () => JSON.stringify(state.plan);
      let lastPlan = planVersion();

      const finish = (outcome: Outcome, stopReason: AgentRunResult['stopReason'], extra: Partial<AgentRunResult> = {}): AgentRunResult => ({
        outcome,
        stopReason,
        limit: null,
        error: null,
        steps: budget.steps,
        usage: { inputTokens: budget.inputTokens, outputTokens: budget.outputTokens, costUsd: budget.costUsd },
        text: lastAssistantText(state),
        state,
        ...extra,
      });
      const refresh = async () => {
        state = await orchestrator.getSession(sessionId);
        const now = planVersion();
        if (now !== lastPlan && state.plan !== null) tell({ type: 'plan_changed', plan: state.plan });
        lastPlan = now;
      };
      /** Closes calls of the last assistant message that will not run, so the conversation stays answerable. */
      const closeOpen = async (type: 'failed' | 'cancelled', why: string, code = 'INTERRUPTED') => {
        for (const call of openCalls(state)) {
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
      const stopAtLimit = async (limit: AgentLimitName, max: number, value: number) => {
        await recorder.record({ type: 'session.limit_reached', data: { limit, max, value }, metadata: { ...attribution, outcome: 'failure' } });
        await closeOpen('cancelled', `the run stopped: limit ${limit} reached`);
        tell({ type: 'limit_reached', limit, max, value });
        return finish('failure', 'limit', { limit });
      };

      try {
        // Resume: a call that started and never ended was interrupted; it is reported, not re-run.
        const started = new Set(events.filter((e) => e.type === 'tool.run.started').map((e) => String((e.data as { operationId?: unknown }).operationId)));
        const interrupted = openCalls(state).filter((c) => started.has(c.id));
        if (interrupted.length > 0) {
          for (const call of interrupted) {
            await recorder.record({
              type: 'tool.run.failed',
              data: {
                operationId: call.id,
                name: call.name,
                durationMs: 0,
                errorCode: 'INTERRUPTED',
                message: 'the process running this call stopped before it ended; it was not run again, check its effects before retrying',
                retryable: false,
              },
              metadata: { ...attribution, toolName: call.name, outcome: 'failure', durationMs: 0 },
            });
          }
          await refresh();
        }

        for (;;) {
          if (run.signal?.aborted) {
            await closeOpen('cancelled', 'the run was cancelled');
            return finish('cancelled', 'cancelled');
          }
          if (state.workflow.paused) return finish('cancelled', 'paused');
          if (limits.maxWallTimeMs !== undefined && clock.now() - startedAt >= limits.maxWallTimeMs)
            return await stopAtLimit('wall_time', limits.maxWallTimeMs, Math.round(clock.now() - startedAt));
          const pending = openCalls(state);
          if (pending.length > 0) {
            for (const call of pending) {
              const seen = (signatures.get(signatureOf(call)) ?? 0) + 1;
              if (seen > limits.maxRepeatedCalls) return await stopAtLimit('repeated_call', limits.maxRepeatedCalls, seen);
            }
            for (const batch of batches(pending, (name) => tools.registry.get(name)?.readOnly === true)) {
              if (run.signal?.aborted) break;
              await Promise.all(
                batch.map(async (call) => {
                  signatures.set(signatureOf(call), (signatures.get(signatureOf(call)) ?? 0) + 1);
                  tell({ type: 'tool_call_started', toolCallId: call.id, name: call.name });
                  await tools.execute({ id: call.id, name: call.name, arguments: call.arguments }, { signal: run.signal, attribution });
                }),
              );
              await refresh();
              for (const call of batch) {
                const answer = state.messages.find((m): m is Extract<ConversationMessage, { role: 'tool' }> => m.role === 'tool' && m.toolCallId === call.id);
                if (answer !== undefined)
                  tell({ type: 'tool_call_finished', toolCallId: call.id, name: call.name, outcome: answer.outcome, content: answer.content });
              }
            }
            continue;
          }
          const last = state.messages.at(-1);
          if (last?.role === 'assistant') return finish('success', 'end_turn');
          if (budget.steps >= limits.maxSteps) return await stopAtLimit('steps', limits.maxSteps, budget.steps);
          if (limits.maxTokens !== undefined && budget.inputTokens + budget.outputTokens >= limits.maxTokens)
            return await stopAtLimit('tokens', limits.maxTokens, budget.inputTokens + budget.outputTokens);
          if (limits.maxCostUsd !== undefined && budget.costUsd >= limits.maxCostUsd) return await stopAtLimit('cost', limits.maxCostUsd, budget.costUsd);

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
          let result: ChatResult;
          try {
            result = await recorder.observe(
              {
                family: 'agent.turn',
                name: options.modelId ?? 'model',
                operationId: turnId,
                attribution,
                ...(options.modelId !== undefined ? { modelId: options.modelId } : {}),
                ...(run.signal ? { signal: run.signal } : {}),
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
                  if (item.type === 'text') tell({ type: 'text', turnId, delta: item.delta });
                  else if (item.type === 'reasoning') tell({ type: 'reasoning', turnId, delta: item.delta });
                }
                const done = await stream.result();
                // Tool call ids key the tool runs: one the session already has (some servers reuse `call_0`) gets a new one.
                const toolCalls: ToolCallRequest[] = done.toolCalls.map((c) => ({
                  id: known.has(c.id) || c.id === '' ? `call_${uuidv7()}` : c.id,
                  name: c.name,
                  arguments: c.arguments,
                }));
                state = await orchestrator.addMessage(
                  sessionId,
                  { role: 'assistant', content: done.text, toolCalls },
                  run.attribution ? { attribution: run.attribution } : {},
                );
                return done;
              },
            );
          } catch (error) {
            budget.steps++;
            if (run.signal?.aborted) {
              tell({ type: 'turn_finished', turnId, toolCalls: 0, outcome: 'cancelled' });
              return finish('cancelled', 'cancelled');
            }
            tell({ type: 'turn_finished', turnId, toolCalls: 0, outcome: 'failure' });
            return finish('failure', 'error', { error: { code: codeOf(error), message: error instanceof Error ? error.message : String(error) } });
          }
          budget.steps++;
          budget.inputTokens += result.usage?.inputTokens ?? 0;
          budget.outputTokens += result.usage?.outputTokens ?? 0;
          budget.costUsd += result.costUsd ?? 0;
          tell({ type: 'turn_finished', turnId, toolCalls: result.toolCalls.length, outcome: 'success' });
        }
      } catch (error) {
        if (run.signal?.aborted) return finish('cancelled', 'cancelled');
        return finish('failure', 'error', { error: { code: codeOf(error), message: error instanceof Error ? error.message : String(error) } });
      }
    },
  };
}

function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new InvalidOrchestratorInputError(`${name} must be a finite number > 0, got ${typeof value === 'number' ? String(value) : typeof value}`);
  return value;
}

function checkLimits(limits: AgentLimits): void {
  for (const key of ['maxSteps', 'maxTokens', 'maxCostUsd', 'maxWallTimeMs', 'maxRepeatedCalls'] as const) {
    if (limits[key] !== undefined) positive(`limits.${key}`, limits[key]);
  }
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN';
}

function stringsOf(data: unknown, key: string): string[] {
  const value = (data as Record<string, unknown> | null)?.[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Turns, tokens and cost of the `agent.turn.*` events after the latest user message. */
function budgetSinceLastUserMessage(events: readonly StoredEvent[]) {
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
    if (!e.type.startsWith('agent.turn.') || e.type === 'agent.turn.started') continue;
    budget.steps++;
    const output = (e.data as { output?: Record<string, unknown> }).output;
    if (e.type === 'agent.turn.completed' && output !== undefined && output !== null) {
      budget.inputTokens += typeof output.inputTokens === 'number' ? output.inputTokens : 0;
      budget.outputTokens += typeof output.outputTokens === 'number' ? output.outputTokens : 0;
      budget.costUsd += typeof output.costUsd === 'number' ? output.costUsd : 0;
    }
  }
  return budget;
}

function callsSinceLastUserMessage(state: SessionState): ToolCallRequest[] {
  const calls: ToolCallRequest[] = [];
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'user') break;
    if (m.role === 'assistant') calls.push(...m.toolCalls.filter((c) => answered(state, c.id)));
  }
  return calls;
}

const answered = (state: SessionState, id: string) => state.messages.some((m) => m.role === 'tool' && m.toolCallId === id);

/** The tool calls of the last assistant message without a `tool.run.*` end event. */
function openCalls(state: SessionState): ToolCallRequest[] {
  let last: Extract<ConversationMessage, { role: 'assistant' }> | undefined;
  for (let i = state.messages.length - 1; i >= 0 && last === undefined; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') last = m;
    else if (m.role !== 'tool') return [];
  }
  if (last === undefined) return [];
  const done = new Set(state.messages.flatMap((m) => (m.role === 'tool' ? [m.toolCallId] : [])));
  return last.toolCalls.filter((c) => !done.has(c.id));
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

function lastAssistantText(state: SessionState): string {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') return m.content;
  }
  return '';
}

/** A rough token count: four characters a token, plus a few for each message's framing. */
const estimate = (chars: number, messages: number) => Math.ceil(chars / 4) + messages * 4;

/**
 * The conversation as the model is sent it. Over 80 % of the window, the oldest tool outputs
 * (never those of the last assistant message) keep their first {@link SHORTENED_KEEP_CHARS}
 * characters and a note of what was left out, one by one, until it fits; an output shortened
 * once stays shortened.
 */
function conversation(
  state: SessionState,
  systemPrompt: string | undefined,
  window: number,
  shortened: ReadonlySet<string>,
): { messages: ChatMessage[]; newlyShortened: string[] } {
  const latest = new Set(openOrLatestCalls(state));
  const cut = (content: string) =>
    `${content.slice(0, SHORTENED_KEEP_CHARS)}\n…[shortened by the agent to fit the context window: ${content.length - SHORTENED_KEEP_CHARS} characters of this old tool output left out]`;
  const contents = state.messages.map((m) =>
    m.role === 'tool' && shortened.has(m.toolCallId) && m.content.length > SHORTENED_KEEP_CHARS ? cut(m.content) : m.content,
  );
  let chars = contents.reduce((n, c) => n + c.length, systemPrompt?.length ?? 0);
  const budget = window * 0.8;
  const newlyShortened: string[] = [];
  for (let i = 0; i < state.messages.length && estimate(chars, state.messages.length) > budget; i++) {
    const m = state.messages[i]!;
    if (m.role !== 'tool' || latest.has(m.toolCallId) || shortened.has(m.toolCallId) || m.content.length <= SHORTENED_KEEP_CHARS * 2) continue;
    const short = cut(m.content);
    chars += short.length - contents[i]!.length;
    contents[i] = short;
    newlyShortened.push(m.toolCallId);
  }
  const messages: ChatMessage[] = systemPrompt !== undefined && systemPrompt !== '' ? [{ role: 'system', content: systemPrompt }] : [];
  state.messages.forEach((m, i) => {
    if (m.role === 'tool') messages.push({ role: 'tool', toolCallId: m.toolCallId, content: contents[i]! });
    else if (m.role === 'assistant')
      messages.push({
        role: 'assistant',
        content: m.content === '' && m.toolCalls.length > 0 ? null : m.content,
        ...(m.toolCalls.length > 0 ? { toolCalls: m.toolCalls } : {}),
      });
    else if (m.role === 'system') messages.push({ role: 'system', content: m.content });
    else messages.push({ role: 'user', content: m.content });
  });
  return { messages, newlyShortened };
}

/** The tool call ids of the last assistant message: their outputs are never shortened. */
function openOrLatestCalls(state: SessionState): string[] {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!;
    if (m.role === 'assistant') return m.toolCalls.map((c) => c.id);
  }
  return [];
}
