/**
 * The `ModelClient` port: one streamed chat call against a language model. The adapter here is
 * `createOpenAiModelClient` (any OpenAI-compatible `/v1/chat/completions` endpoint).
 */

/** A tool call the model made, as it is sent back in the conversation. */
export interface ToolCallRef {
  /** The provider's call id; the idempotency key of the tool run. */
  readonly id: string;
  readonly name: string;
  /** The arguments as the model wrote them: a JSON text. */
  readonly arguments: string;
}

/** One message of the conversation. */
export type ChatMessage =
  | { readonly role: 'system'; readonly content: string }
  | { readonly role: 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly content: string | null; readonly toolCalls?: readonly ToolCallRef[] }
  | { readonly role: 'tool'; readonly toolCallId: string; readonly content: string };

/** A tool offered to the model. */
export interface ToolSpec {
  /** Letters, digits, `_` and `-`, at most 64 characters (what OpenAI accepts). */
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments object; default `{ type: 'object', properties: {} }`. */
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** Whether the model must, may or must not call a tool; or which one it must call. */
export type ToolChoice = 'auto' | 'none' | 'required' | { readonly name: string };

/** Attribution copied into the metadata of every `model.call.*` event of the call. */
export interface ModelCallAttribution {
  readonly sessionId?: string;
  readonly planId?: string;
  readonly taskId?: string;
  readonly experimentId?: string;
  readonly agentId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
}

/** One chat call. */
export interface ChatRequest {
  readonly messages: readonly ChatMessage[];
  /** The model id; default the client's configured one (`model.id`). */
  readonly model?: string;
  readonly tools?: readonly ToolSpec[];
  readonly toolChoice?: ToolChoice;
  /** Sampling temperature in [0, 2]. */
  readonly temperature?: number;
  /** Most tokens to generate; an integer >= 1. */
  readonly maxTokens?: number;
  /** Aborting ends the call with `ModelAbortedError` (outcome `cancelled`). */
  readonly signal?: AbortSignal;
  readonly attribution?: ModelCallAttribution;
}

/** A complete tool call, assembled from its streamed pieces. */
export interface ToolCall extends ToolCallRef {
  /**
   * The parsed arguments; `{}` when the model sent none. `undefined` when the text is not JSON
   * (then `inputError` says why): the model made a mistake it can be told about.
   */
  readonly input: unknown;
  readonly inputError?: string;
}

/** Token counts of a call, as the endpoint reported them. */
export interface Usage {
  /** Every input token, cached ones included. */
  readonly inputTokens: number;
  /** Input tokens served from the provider's cache (0 when not reported). */
  readonly cachedInputTokens: number;
  /** Every output token, reasoning included. */
  readonly outputTokens: number;
  /** Output tokens spent on reasoning, when reported. */
  readonly reasoningTokens?: number;
}

/** Why the model stopped. `unknown` for a reason this client does not know. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'unknown';

/** What a finished call produced. */
export interface ChatResult {
  /** The id of the `model.call.*` events of this call (a UUIDv7). */
  readonly callId: string;
  readonly text: string;
  /** Reasoning text, when the endpoint streams it (`reasoning_content` or `reasoning` deltas). */
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCall[];
  readonly finishReason: FinishReason;
  /** The finish reason as the endpoint spelled it. */
  readonly rawFinishReason: string;
  /** `null` when the endpoint reported no usage. */
  readonly usage: Usage | null;
  /** US dollars from the price table; `null` when the model has no price or usage is missing. */
  readonly costUsd: number | null;
  /** The model as requested. */
  readonly model: string;
  /** The model as the endpoint named it in the response. */
  readonly responseModel: string | null;
  readonly responseId: string | null;
  /** Attempts made, retries included. */
  readonly attempts: number;
  /** From the call to the end of the stream, in milliseconds. */
  readonly durationMs: number;
  /** From the call to the first text, reasoning or tool-call delta, in milliseconds; `null` if none came. */
  readonly timeToFirstTokenMs: number | null;
}

/** One item of a streamed call, in the order the endpoint sent them. */
export type ChatStreamEvent =
  | { readonly type: 'text'; readonly delta: string }
  | { readonly type: 'reasoning'; readonly delta: string }
  /** A tool call, once its arguments are complete (at the end of the stream). */
  | { readonly type: 'tool_call'; readonly call: ToolCall }
  | { readonly type: 'done'; readonly result: ChatResult };

/**
 * A call in progress: iterate it for the deltas (once), or await {@link result}. The request is
 * sent when {@link ModelClient.chat} is called; a failure rejects the iteration and `result()`
 * with a `ModelError`. Leaving the loop early (`break`) cancels the call.
 */
export interface ChatStream extends AsyncIterable<ChatStreamEvent> {
  /** The whole result; reads the rest of the stream if nobody is iterating it. */
  result(): Promise<ChatResult>;
}

/** A language model behind one endpoint. */
export interface ModelClient extends AsyncDisposable {
  /** Starts a streamed chat call. An invalid request throws `ModelRequestError` (nothing is sent); a closed client throws `ClosedError`. */
  chat(request: ChatRequest): ChatStream;
  /** Cancels calls in flight and refuses new ones. Idempotent. */
  close(): Promise<void>;
}
