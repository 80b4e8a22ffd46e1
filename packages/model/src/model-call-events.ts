import type { ModelPrice } from '@buckley/config';
import type { FinishReason, ModelCallAttribution, Usage } from './model-client.js';

/** How a model call ended, in the event log's outcome vocabulary. */
export type ModelCallOutcome = 'success' | 'failure' | 'timeout' | 'cancelled';

/** Attribution of every `model.call.*` event: the caller's, plus the model and the trace. */
export interface ModelCallMetadata extends ModelCallAttribution {
  readonly modelId: string;
  readonly outcome?: ModelCallOutcome;
  readonly durationMs?: number;
  /** Attempts made so far (1-based). */
  readonly attempt?: number;
  /** The GenAI span of the call, when a tracer records it. */
  readonly traceId?: string;
  readonly spanId?: string;
}

/** `model.call.started`: the request is about to be sent. */
export interface ModelCallStarted {
  readonly type: 'model.call.started';
  readonly data: {
    readonly callId: string;
    readonly model: string;
    /** `gen_ai.provider.name`, e.g. `openai`. */
    readonly provider: string;
    /** Host and port of the endpoint (never credentials or the path). */
    readonly server: string;
    readonly messageCount: number;
    readonly toolCount: number;
  };
  readonly metadata: ModelCallMetadata;
}

/** `model.call.completed`: the stream finished with a finish reason. */
export interface ModelCallCompleted {
  readonly type: 'model.call.completed';
  readonly data: {
    readonly callId: string;
    readonly model: string;
    readonly responseModel: string | null;
    readonly finishReason: FinishReason;
    readonly toolCallCount: number;
    /** `null` when the endpoint reported no usage. */
    readonly inputTokens: number | null;
    readonly cachedInputTokens: number | null;
    readonly outputTokens: number | null;
    readonly reasoningTokens: number | null;
    /** US dollars; `null` for an unpriced model or missing usage. */
    readonly costUsd: number | null;
    readonly durationMs: number;
    readonly timeToFirstTokenMs: number | null;
    readonly attempts: number;
  };
  readonly metadata: ModelCallMetadata & { readonly outcome: 'success' };
}

/** `model.call.failed`: the call ended with an error (timeouts and cancellations included). */
export interface ModelCallFailed {
  readonly type: 'model.call.failed';
  readonly data: {
    readonly callId: string;
    readonly model: string;
    /** The `ModelError` code, e.g. `MODEL_RATE_LIMITED`. */
    readonly errorCode: string;
    /** The error message (never holds the API key). */
    readonly message: string;
    /** HTTP status, when the endpoint answered with one. */
    readonly status: number | null;
    readonly durationMs: number;
    readonly attempts: number;
  };
  readonly metadata: ModelCallMetadata & { readonly outcome: Exclude<ModelCallOutcome, 'success'> };
}

/** The `model.call.*` event family. */
export type ModelCallEvent = ModelCallStarted | ModelCallCompleted | ModelCallFailed;

/** The `model.call.*` event types, in lifecycle order. */
export const MODEL_CALL_EVENT_TYPES = ['model.call.started', 'model.call.completed', 'model.call.failed'] as const;

/** Totals over `model.call.*` events: what {@link foldModelCalls} projects. */
export interface ModelCallTotals {
  readonly started: number;
  readonly completed: number;
  readonly failed: number;
  /** Failures by error code. */
  readonly failuresByCode: Readonly<Record<string, number>>;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Sum of known costs, in US dollars. */
  readonly costUsd: number;
  /** Completed calls whose cost is unknown (no price or no usage): `costUsd` leaves them out. */
  readonly unpricedCalls: number;
}

/** The empty totals, the start of {@link foldModelCalls}. */
export const initialModelCallTotals: ModelCallTotals = {
  started: 0,
  completed: 0,
  failed: 0,
  failuresByCode: {},
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  unpricedCalls: 0,
};

/**
 * Folds `model.call.*` events into totals: calls, failures by code, tokens and cost.
 *
 * @example
 * ```ts
 * const totals = events.reduce(foldModelCalls, initialModelCallTotals);
 * ```
 */
export function foldModelCalls(totals: ModelCallTotals, event: ModelCallEvent): ModelCallTotals {
  switch (event.type) {
    case 'model.call.started':
      return { ...totals, started: totals.started + 1 };
    case 'model.call.completed':
      return {
        ...totals,
        completed: totals.completed + 1,
        inputTokens: totals.inputTokens + (event.data.inputTokens ?? 0),
        outputTokens: totals.outputTokens + (event.data.outputTokens ?? 0),
        costUsd: totals.costUsd + (event.data.costUsd ?? 0),
        unpricedCalls: totals.unpricedCalls + (event.data.costUsd === null ? 1 : 0),
      };
    case 'model.call.failed': {
      const code = event.data.errorCode;
      return { ...totals, failed: totals.failed + 1, failuresByCode: { ...totals.failuresByCode, [code]: (totals.failuresByCode[code] ?? 0) + 1 } };
    }
  }
}

/** The price row for a call: the response's model first (it may be a dated variant), then the requested one. */
export function findPrice(prices: readonly ModelPrice[], model: string, responseModel: string | null): ModelPrice | undefined {
  return (responseModel === null ? undefined : prices.find((p) => p.model === responseModel)) ?? prices.find((p) => p.model === model);
}

/**
 * The cost of `usage` at `price`, in US dollars: uncached input at `input`, cached input at
 * `cachedInput` (or `input` when the table has none), output at `output`, all per million
 * tokens. `null` when either is missing: an unknown cost is never guessed.
 */
export function costOf(usage: Usage | null, price: ModelPrice | undefined): number | null {
  if (usage === null || price === undefined) return null;
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const uncached = usage.inputTokens - cached;
  return (uncached * price.input + cached * (price.cachedInput ?? price.input) + usage.outputTokens * price.output) / 1_000_000;
}
