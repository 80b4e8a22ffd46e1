import type { ModelConfig } from '@buckley/config';
import { BoundedQueue, CircuitBreaker, CircuitOpenError, ClosedError, type Clock, backoffDelay, sleep, systemClock, uuidv7 } from '@buckley/utils';
import { type Span, SpanKind, SpanStatusCode, type Tracer, context, trace } from '@opentelemetry/api';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { costOf, findPrice, type ModelCallEvent, type ModelCallMetadata } from './model-call-events.js';
import type { ChatMessage, ChatRequest, ChatResult, ChatStream, ChatStreamEvent, FinishReason, ModelClient, ToolCall, Usage } from './model-client.js';
import {
  ModelAbortedError,
  ModelApiKeyMissingError,
  ModelAuthError,
  ModelBadRequestError,
  ModelCircuitOpenError,
  ModelConnectionError,
  ModelContextLengthError,
  ModelError,
  ModelMalformedResponseError,
  ModelNotFoundError,
  ModelRateLimitError,
  ModelRequestError,
  ModelResponseTooLargeError,
  ModelServerError,
  ModelStreamInterruptedError,
  ModelTimeoutError,
  quotableVariableName,
} from './model-errors.js';

/** Options of {@link createOpenAiModelClient}. */
export interface OpenAiModelClientOptions {
  /**
   * The `model` section of the config: `baseUrl` and `apiKeyEnv` are required; `id` is the
   * default model, `timeoutSeconds` the limit of one attempt (default 120), `maxRetries` the
   * retries of a retryable failure (default 2), `prices` the price table.
   */
  readonly config: Pick<ModelConfig, 'baseUrl' | 'apiKeyEnv'> & Partial<Pick<ModelConfig, 'id' | 'timeoutSeconds' | 'maxRetries' | 'prices'>>;
  /** Where the API key variable is read from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `gen_ai.provider.name` on spans and events. Default `openai`. */
  readonly provider?: string;
  /** Receives every `model.call.*` event; a throwing observer is ignored. */
  readonly onObservation?: (event: ModelCallEvent) => void;
  /** Tracer for the GenAI span of each call. Default the global tracer provider's `@buckley/model`. */
  readonly tracer?: Tracer;
  /** Backoff of retries without `Retry-After`, and the longest `Retry-After` honoured (longer fails at once). */
  readonly retry?: { readonly baseDelayMs?: number; readonly maxDelayMs?: number; readonly maxRetryAfterMs?: number };
  /** The circuit breaker over provider failures (5xx, connection, timeout, malformed). */
  readonly circuitBreaker?: { readonly failureThreshold?: number; readonly resetTimeoutMs?: number };
  /** Caps on one response: bytes read (default 32 MiB) and chunks (default 100,000). */
  readonly limits?: { readonly maxResponseBytes?: number; readonly maxChunks?: number };
  /** Send `stream_options.include_usage` (usage is reported only when asked). Default true. */
  readonly streamUsage?: boolean;
  /** Time source of backoff waits and durations. */
  readonly clock?: Clock;
}

const OPENAI_FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
};

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MODEL_ID = /^[^\s\p{Cc}]{1,256}$/u;

/** A bad value as an error states it: numbers as they are, strings and the rest by type and length (a string may be a secret). */
const shape = (value: unknown): string =>
  typeof value === 'number'
    ? String(value)
    : typeof value === 'string'
      ? `a string of ${value.length} characters`
      : `a ${value === null ? 'null' : typeof value} value`;
const CONTEXT_LENGTH = /context[ _-]?(length|size|window)|maximum context|too many tokens|prompt is too long|exceeds? the (model'?s )?(maximum|context)/i;
/** Shorter keys are placeholders for servers that need none; scrubbing them would garble messages. */
const MIN_SCRUBBED_KEY = 6;

interface ToolCallBuilder {
  id: string | undefined;
  name: string;
  args: string;
}

function positive(name: string, value: number | undefined, fallback: number, integer = true): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new ModelRequestError(`${name} ${shape(value)} must be ${integer ? 'an integer' : 'a number'} >= 0`);
  }
  return v;
}

/** `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in milliseconds. */
function retryAfterMs(headers: Headers | undefined, now: number): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function validate(request: ChatRequest, model: string | undefined): string {
  const fail = (message: string): never => {
    throw new ModelRequestError(message);
  };
  const id = request.model ?? model;
  if (id === undefined || id === null || id === '') fail('no model: pass request.model or set model.id in the config');
  // Model ids are quoted in errors (an unknown model is worth naming): only id-shaped ones reach them.
  if (typeof id !== 'string' || !MODEL_ID.test(id)) fail(`the model id (${shape(id)}) must be 1-256 characters without whitespace or control characters`);
  if (!Array.isArray(request.messages) || request.messages.length === 0) fail('messages must be a non-empty array');
  for (const [i, m] of request.messages.entries()) {
    if (!['system', 'user', 'assistant', 'tool'].includes((m as { role?: unknown }).role as string)) {
      fail(`messages[${i}].role (${shape((m as { role?: unknown }).role)}) must be system, user, assistant or tool`);
    }
    if (m.role === 'tool' && (typeof m.toolCallId !== 'string' || m.toolCallId === ''))
      fail(`messages[${i}].toolCallId must be the id of the tool call it answers`);
    if (m.role !== 'assistant' && typeof m.content !== 'string') fail(`messages[${i}].content must be a string`);
  }
  for (const [i, tool] of (request.tools ?? []).entries()) {
    if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) fail(`tools[${i}].name (${shape(tool.name)}) must be 1-64 letters, digits, "_" or "-"`);
  }
  const names = new Set((request.tools ?? []).map((t) => t.name));
  if (names.size !== (request.tools?.length ?? 0)) fail('tools must have distinct names');
  if (typeof request.toolChoice === 'object' && !names.has(request.toolChoice.name)) {
    fail(`toolChoice.name (${shape(request.toolChoice.name)}) names no tool among the tools offered`);
  }
  if (request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 2)) {
    fail(`temperature ${shape(request.temperature)} must be a number in [0, 2]`);
  }
  if (request.maxTokens !== undefined && !(Number.isInteger(request.maxTokens) && request.maxTokens >= 1)) {
    fail(`maxTokens ${shape(request.maxTokens)} must be an integer >= 1`);
  }
  return id as string;
}

function toWire(message: ChatMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  switch (message.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        ...(message.toolCalls && message.toolCalls.length > 0
          ? { tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
          : {}),
      };
    default:
      return { role: message.role, content: message.content };
  }
}

function parseArguments(text: string): { input: unknown; inputError?: string } {
  if (text.trim() === '') return { input: {} };
  try {
    return { input: JSON.parse(text) as unknown };
  } catch (error) {
    return { input: undefined, inputError: `the arguments are not valid JSON: ${(error as Error).message}` };
  }
}

function usageOf(raw: unknown): Usage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const u = raw as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  };
  if (typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number') return null;
  const cached = u.prompt_tokens_details?.cached_tokens;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  return {
    inputTokens: u.prompt_tokens,
    cachedInputTokens: typeof cached === 'number' ? cached : 0,
    outputTokens: u.completion_tokens,
    ...(typeof reasoning === 'number' ? { reasoningTokens: reasoning } : {}),
  };
}

/**
 * A `ModelClient` for any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI,
 * OpenRouter, Ollama, vLLM, llama.cpp), on the official `openai` client with its own retries
 * off. Every call streams; tool-call pieces are assembled into complete calls; usage is asked
 * for with `stream_options.include_usage`; cost comes from `config.prices` (`null` for an
 * unpriced model). Retryable failures (429, 5xx, connection, timeout) are retried with backoff,
 * honouring `Retry-After`, only while nothing has been delivered to the consumer; a circuit
 * breaker stops calling an endpoint that keeps failing. Each call emits `model.call.*` events
 * and a GenAI span. The API key is read from the variable `config.apiKeyEnv` names and never
 * appears in an event, span or error.
 *
 * @throws {ModelApiKeyMissingError} the variable is not set
 * @example
 * ```ts
 * const model = createOpenAiModelClient({ config: loadConfig().config.model, onObservation: (e) => events.push(e) });
 * for await (const event of model.chat({ messages: [{ role: 'user', content: 'hi' }] })) {
 *   if (event.type === 'text') process.stdout.write(event.delta);
 * }
 * ```
 */
export function createOpenAiModelClient(options: OpenAiModelClientOptions): ModelClient {
  return new OpenAiModelClient(options);
}

class OpenAiModelClient implements ModelClient {
  readonly #client: OpenAI;
  readonly #apiKey: string;
  readonly #options: OpenAiModelClientOptions;
  readonly #breaker: CircuitBreaker;
  readonly #clock: Clock;
  readonly #tracer: Tracer;
  readonly #provider: string;
  readonly #server: { address: string; port: number };
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxBytes: number;
  readonly #maxChunks: number;
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  constructor(options: OpenAiModelClientOptions) {
    const { config } = options;
    const env = options.env ?? process.env;
    const key = env[config.apiKeyEnv];
    if (key === undefined || key === '') throw new ModelApiKeyMissingError(config.apiKeyEnv);
    this.#apiKey = key;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#provider = options.provider ?? 'openai';
    this.#timeoutMs = positive('config.timeoutSeconds', config.timeoutSeconds, 120, false) * 1000;
    this.#maxRetries = positive('config.maxRetries', config.maxRetries, 2);
    this.#maxBytes = positive('limits.maxResponseBytes', options.limits?.maxResponseBytes, 32 * 1024 * 1024);
    this.#maxChunks = positive('limits.maxChunks', options.limits?.maxChunks, 100_000);
    const url = new URL(config.baseUrl);
    this.#server = { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
    this.#tracer = options.tracer ?? trace.getTracer('@buckley/model');
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.circuitBreaker?.failureThreshold ?? 5,
      resetTimeoutMs: options.circuitBreaker?.resetTimeoutMs ?? 30_000,
      clock: this.#clock,
      isFailure: (error) =>
        error instanceof ModelServerError ||
        error instanceof ModelConnectionError ||
        error instanceof ModelTimeoutError ||
        error instanceof ModelStreamInterruptedError ||
        error instanceof ModelMalformedResponseError,
    });
    const maxBytes = this.#maxBytes;
    this.#client = new OpenAI({
      apiKey: key,
      baseURL: config.baseUrl,
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: this.#timeoutMs,
      logLevel: 'off',
      // Counts the bytes of every response so an endless or huge body is cut before it fills memory.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (!response.body) return response;
        let seen = 0;
        const counted = response.body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              seen += chunk.byteLength;
              if (seen > maxBytes) controller.error(new ModelResponseTooLargeError('bytes', maxBytes));
              else controller.enqueue(chunk);
            },
          }),
        );
        return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
      },
    });
  }

  chat(request: ChatRequest): ChatStream {
    if (this.#closed) throw new ClosedError('model client');
    const model = validate(request, this.#options.config.id ?? undefined);
    return new Call(this, request, model);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const controller of this.#inFlight) controller.abort(new ModelAbortedError('the model client was closed'));
    this.#inFlight.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Internals used by Call; `#` members are not reachable from it, so these stay module-private by convention.
  get internals() {
    return {
      client: this.#client,
      breaker: this.#breaker,
      clock: this.#clock,
      tracer: this.#tracer,
      provider: this.#provider,
      server: this.#server,
      timeoutMs: this.#timeoutMs,
      maxRetries: this.#maxRetries,
      maxChunks: this.#maxChunks,
      inFlight: this.#inFlight,
      options: this.#options,
      scrub: (text: string) => this.#scrub(text),
    };
  }

  #scrub(text: string): string {
    return this.#apiKey.length >= MIN_SCRUBBED_KEY ? text.split(this.#apiKey).join('[REDACTED]') : text;
  }
}

/** One chat call: runs the attempts, feeds the queue the consumer reads, and reports. */
class Call implements ChatStream {
  readonly #queue = new BoundedQueue<ChatStreamEvent>({ capacity: 256 });
  readonly #controller = new AbortController();
  readonly #result: Promise<ChatResult>;
  readonly #deps: OpenAiModelClient['internals'];
  #iterating = false;
  #delivered = false;
  #failure: ModelError | undefined;

  constructor(owner: OpenAiModelClient, request: ChatRequest, model: string) {
    this.#deps = owner.internals;
    this.#deps.inFlight.add(this.#controller);
    this.#result = this.#run(request, model);
    // The result is also delivered through the stream; an unread rejection is not unhandled.
    this.#result.catch(() => undefined);
  }

  result(): Promise<ChatResult> {
    if (!this.#iterating) {
      this.#iterating = true;
      void (async () => {
        for await (const item of this.#queue) if (item.type === 'done') break;
      })();
    }
    return this.#result;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ChatStreamEvent> {
    if (this.#iterating) throw new ModelRequestError('a chat stream can be read only once');
    this.#iterating = true;
    let finished = false;
    try {
      for await (const item of this.#queue) {
        yield item;
        if (item.type === 'done') {
          finished = true;
          return;
        }
      }
      if (this.#failure) throw this.#failure;
    } finally {
      if (!finished) this.#controller.abort(new ModelAbortedError('the consumer stopped reading the stream'));
    }
  }

  async #run(request: ChatRequest, model: string): Promise<ChatResult> {
    const d = this.#deps;
    const callId = uuidv7();
    const started = d.clock.now();
    const signal = AbortSignal.any([this.#controller.signal, ...(request.signal ? [request.signal] : [])]);
    const span = d.tracer.startSpan(
      `chat ${model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': d.provider,
          'gen_ai.request.model': model,
          'server.address': d.server.address,
          'server.port': d.server.port,
          ...(request.temperature !== undefined ? { 'gen_ai.request.temperature': request.temperature } : {}),
          ...(request.maxTokens !== undefined ? { 'gen_ai.request.max_tokens': request.maxTokens } : {}),
        },
      },
      context.active(),
    );
    const spanContext = span.spanContext();
    const traced = span.isRecording() ? { traceId: spanContext.traceId, spanId: spanContext.spanId } : {};
    const metadata = (extra: Partial<ModelCallMetadata>): ModelCallMetadata => ({ ...request.attribution, modelId: model, ...traced, ...extra });
    this.#observe({
      type: 'model.call.started',
      data: {
        callId,
        model,
        provider: d.provider,
        server: `${d.server.address}:${d.server.port}`,
        messageCount: request.messages.length,
        toolCount: request.tools?.length ?? 0,
      },
      metadata: metadata({}),
    });

    let attempts = 0;
    let result: Omit<ChatResult, 'durationMs'>;
    try {
      for (;;) {
        attempts++;
        try {
          result = await this.#attemptGuarded(request, model, signal, callId, started, attempts, span);
          break;
        } catch (raw) {
          const error = this.#toModelError(raw, model, signal);
          const wait = this.#retryWait(error, attempts);
          if (wait === undefined) throw error;
          span.addEvent('gen_ai.retry', { attempt: attempts, 'error.type': error.code, delay_ms: wait });
          await sleep(wait, { signal, clock: d.clock }).catch((e: unknown) => {
            throw this.#toModelError(e, model, signal);
          });
        }
      }
    } catch (raw) {
      const error = this.#toModelError(raw, model, signal);
      const durationMs = d.clock.now() - started;
      const outcome = error instanceof ModelTimeoutError ? 'timeout' : error instanceof ModelAbortedError ? 'cancelled' : 'failure';
      this.#observe({
        type: 'model.call.failed',
        data: { callId, model, errorCode: error.code, message: error.message, status: error.status ?? null, durationMs, attempts },
        metadata: { ...metadata({ durationMs, attempt: attempts }), outcome },
      });
      span.setAttribute('error.type', error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.end();
      this.#failure = error;
      this.#queue.close();
      d.inFlight.delete(this.#controller);
      throw error;
    }
    const durationMs = d.clock.now() - started;
    const done: ChatResult = { ...result, durationMs };
    this.#observe({
      type: 'model.call.completed',
      data: {
        callId,
        model,
        responseModel: done.responseModel,
        finishReason: done.finishReason,
        toolCallCount: done.toolCalls.length,
        inputTokens: done.usage?.inputTokens ?? null,
        cachedInputTokens: done.usage?.cachedInputTokens ?? null,
        outputTokens: done.usage?.outputTokens ?? null,
        reasoningTokens: done.usage?.reasoningTokens ?? null,
        costUsd: done.costUsd,
        durationMs,
        timeToFirstTokenMs: done.timeToFirstTokenMs,
        attempts,
      },
      metadata: { ...metadata({ durationMs, attempt: attempts }), outcome: 'success' },
    });
    span.setAttributes({
      ...(done.responseModel ? { 'gen_ai.response.model': done.responseModel } : {}),
      ...(done.responseId ? { 'gen_ai.response.id': done.responseId } : {}),
      'gen_ai.response.finish_reasons': [done.rawFinishReason],
      ...(done.usage ? { 'gen_ai.usage.input_tokens': done.usage.inputTokens, 'gen_ai.usage.output_tokens': done.usage.outputTokens } : {}),
    });
    span.end();
    d.inFlight.delete(this.#controller);
    // The call is complete; a consumer that left before reading `done` changes nothing.
    await this.#queue.push({ type: 'done', result: done }, { signal: this.#controller.signal }).catch(() => undefined);
    this.#queue.close();
    return done;
  }

  /** How long to wait before the next attempt, or `undefined` to give up. */
  #retryWait(error: ModelError, attempts: number): number | undefined {
    const d = this.#deps;
    if (!error.retryable || this.#delivered || attempts > d.maxRetries) return undefined;
    const retry = d.options.retry ?? {};
    const after = error instanceof ModelRateLimitError || error instanceof ModelServerError ? error.retryAfterMs : undefined;
    if (after !== undefined) return after <= (retry.maxRetryAfterMs ?? 60_000) ? after : undefined;
    const base = retry.baseDelayMs ?? 500;
    return backoffDelay(attempts, { baseDelayMs: base, maxDelayMs: Math.max(base, retry.maxDelayMs ?? 8_000) }, Math.random());
  }

  async #attemptGuarded(
    request: ChatRequest,
    model: string,
    signal: AbortSignal,
    callId: string,
    started: number,
    attempt: number,
    span: Span,
  ): Promise<Omit<ChatResult, 'durationMs'>> {
    try {
      // Mapped inside, so the breaker counts provider failures by their ModelError class.
      return await this.#deps.breaker.execute(() =>
        this.#attempt(request, model, signal, callId, started, attempt).catch((error: unknown) => {
          throw this.#toModelError(error, model, signal);
        }),
      );
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        span.addEvent('gen_ai.circuit_open');
        throw new ModelCircuitOpenError(error.retryAfterMs, error.consecutiveFailures);
      }
      throw error;
    }
  }

  async #attempt(
    request: ChatRequest,
    model: string,
    outer: AbortSignal,
    callId: string,
    started: number,
    attempt: number,
  ): Promise<Omit<ChatResult, 'durationMs'>> {
    const d = this.#deps;
    const attemptController = new AbortController();
    const timer = d.clock.setTimeout(() => attemptController.abort(new ModelTimeoutError(d.timeoutMs)), d.timeoutMs);
    const signal = AbortSignal.any([outer, attemptController.signal]);
    try {
      const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming = {
        model,
        messages: request.messages.map(toWire),
        stream: true,
        ...(d.options.streamUsage === false ? {} : { stream_options: { include_usage: true } }),
        ...(request.tools && request.tools.length > 0
          ? {
              tools: request.tools.map((t) => ({
                type: 'function' as const,
                function: {
                  name: t.name,
                  ...(t.description !== undefined ? { description: t.description } : {}),
                  parameters: (t.parameters ?? { type: 'object', properties: {} }) as Record<string, unknown>,
                },
              })),
            }
          : {}),
        ...(request.toolChoice !== undefined
          ? { tool_choice: typeof request.toolChoice === 'object' ? { type: 'function', function: { name: request.toolChoice.name } } : request.toolChoice }
          : {}),
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      };
      const stream = await d.client.chat.completions.create(body, { signal, maxRetries: 0 });
      let text = '';
      let reasoning = '';
      const calls: ToolCallBuilder[] = [];
      let finish: string | null = null;
      let usage: Usage | null = null;
      let responseModel: string | null = null;
      let responseId: string | null = null;
      let chunks = 0;
      let firstTokenAt: number | null = null;
      const first = () => {
        if (firstTokenAt === null) firstTokenAt = d.clock.now() - started;
      };
      for await (const chunk of stream) {
        if (++chunks > d.maxChunks) throw new ModelResponseTooLargeError('chunks', d.maxChunks);
        if (typeof chunk !== 'object' || chunk === null)
          throw new ModelMalformedResponseError(`a stream chunk of model ${JSON.stringify(model)} is not a JSON object`);
        if (typeof chunk.model === 'string' && chunk.model !== '') responseModel = chunk.model;
        if (typeof chunk.id === 'string' && chunk.id !== '') responseId = chunk.id;
        const reported = usageOf((chunk as { usage?: unknown }).usage);
        if (reported) usage = reported;
        if (!Array.isArray(chunk.choices)) {
          if (reported) continue;
          throw new ModelMalformedResponseError(`a stream chunk of model ${JSON.stringify(model)} has no "choices" array`);
        }
        const choice = chunk.choices[0];
        if (!choice) continue;
        const delta = (choice.delta ?? {}) as Record<string, unknown>;
        const reasoningDelta =
          typeof delta['reasoning_content'] === 'string' ? delta['reasoning_content'] : typeof delta['reasoning'] === 'string' ? delta['reasoning'] : '';
        if (reasoningDelta !== '') {
          first();
          reasoning += reasoningDelta;
          await this.#push({ type: 'reasoning', delta: reasoningDelta });
        }
        if (typeof delta['content'] === 'string' && delta['content'] !== '') {
          first();
          text += delta['content'];
          await this.#push({ type: 'text', delta: delta['content'] });
        }
        const toolDeltas = delta['tool_calls'];
        if (Array.isArray(toolDeltas)) {
          first();
          for (const [position, raw] of toolDeltas.entries()) this.#addToolDelta(calls, raw, position);
        }
        const reason = choice.finish_reason as string | null | undefined;
        if (typeof reason === 'string' && reason !== '') finish = reason;
      }
      // An abort (ours or the caller's) ends the openai iterator quietly; it is still a failure.
      if (signal.aborted) throw signal.reason;
      if (finish === null) {
        throw new ModelStreamInterruptedError(
          chunks === 0
            ? `the stream of model ${JSON.stringify(model)} ended without any chunk`
            : `the stream of model ${JSON.stringify(model)} ended after ${chunks} chunk(s) without a finish reason`,
        );
      }
      const toolCalls: ToolCall[] = calls.map((c, i) => ({
        id: c.id ?? `call_${callId}_${i}`,
        name: c.name,
        arguments: c.args,
        ...parseArguments(c.args),
      }));
      for (const call of toolCalls) await this.#push({ type: 'tool_call', call });
      return {
        callId,
        text,
        reasoning,
        toolCalls,
        finishReason: OPENAI_FINISH[finish] ?? 'unknown',
        rawFinishReason: finish,
        usage,
        costUsd: costOf(usage, findPrice(d.options.config.prices ?? [], model, responseModel)),
        model,
        responseModel,
        responseId,
        attempts: attempt,
        timeToFirstTokenMs: firstTokenAt,
      };
    } catch (error) {
      if (signal.aborted && !(error instanceof ModelError)) throw signal.reason;
      throw error;
    } finally {
      timer();
    }
  }

  #addToolDelta(calls: ToolCallBuilder[], raw: unknown, position: number): void {
    if (typeof raw !== 'object' || raw === null) return;
    const delta = raw as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    const index = typeof delta.index === 'number' ? delta.index : position;
    const id = typeof delta.id === 'string' && delta.id !== '' ? delta.id : undefined;
    const name = typeof delta.function?.name === 'string' ? delta.function.name : '';
    const args = typeof delta.function?.arguments === 'string' ? delta.function.arguments : '';
    let call = calls[index];
    // Some servers send every call whole at index 0: a new id there starts a new call.
    if (call && id !== undefined && call.id !== undefined && call.id !== id) {
      calls.push({ id, name, args });
      return;
    }
    if (!call) {
      call = { id, name: '', args: '' };
      calls[index] = call;
    }
    if (id !== undefined) call.id = id;
    if (name !== '') call.name = call.name === '' ? name : call.name;
    call.args += args;
  }

  async #push(event: ChatStreamEvent): Promise<void> {
    if (event.type !== 'tool_call') this.#delivered = true;
    await this.#queue.push(event, { signal: this.#controller.signal }).catch(() => {
      throw this.#controller.signal.reason;
    });
  }

  #observe(event: ModelCallEvent): void {
    try {
      this.#deps.options.onObservation?.(event);
    } catch {
      // A faulty observer must not fail the call.
    }
  }

  #toModelError(raw: unknown, model: string, signal: AbortSignal): ModelError {
    const d = this.#deps;
    if (raw instanceof ModelError) return raw;
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof ModelError) return reason;
      return new ModelAbortedError();
    }
    if (raw instanceof APIUserAbortError) return new ModelAbortedError();
    if (raw instanceof APIConnectionTimeoutError) return new ModelTimeoutError(d.timeoutMs);
    if (raw instanceof APIConnectionError) {
      const cause = (raw as { cause?: unknown }).cause;
      const detail =
        cause instanceof Error
          ? (cause as { cause?: unknown }).cause instanceof Error
            ? (cause as { cause: Error }).cause.message
            : cause.message
          : raw.message;
      return new ModelConnectionError(d.scrub(`cannot reach the model endpoint ${d.server.address}:${d.server.port}: ${detail}`));
    }
    if (raw instanceof APIError) {
      const body = raw.error as { message?: unknown; code?: unknown; type?: unknown } | undefined;
      const providerCode = typeof raw.code === 'string' ? raw.code : typeof body?.type === 'string' ? body.type : undefined;
      const said = typeof body?.message === 'string' ? body.message : body === undefined ? '' : JSON.stringify(body);
      const text = d.scrub(said).slice(0, 500);
      const status = raw.status;
      const opts = { ...(status !== undefined ? { status } : {}), ...(providerCode !== undefined ? { providerCode: d.scrub(providerCode) } : {}) };
      const quote = text === '' ? '' : `: ${text}`;
      const after = retryAfterMs(raw.headers, Date.now());
      if (status === undefined) return new ModelServerError(`the stream of model ${JSON.stringify(model)} carried an error${quote}`, undefined, opts);
      if (status === 401 || status === 403)
        return new ModelAuthError(
          `the model endpoint refused the API key from ${quotableVariableName(d.options.config.apiKeyEnv) ?? 'model.api_key_env'} (${status})${quote}`,
          opts,
        );
      if (status === 404) {
        return new ModelNotFoundError(
          model,
          `the model endpoint does not know model ${JSON.stringify(model)} (404), or the base URL is not the API root (expected one ending in /v1)${quote}`,
          opts,
        );
      }
      if (status === 429)
        return new ModelRateLimitError(
          `model ${JSON.stringify(model)} is rate limited (429)${after !== undefined ? `; retry after ${after} ms` : ''}${quote}`,
          after,
          opts,
        );
      if (status >= 500) return new ModelServerError(`the model endpoint failed (${status})${quote}`, after, opts);
      if (providerCode === 'context_length_exceeded' || CONTEXT_LENGTH.test(said) || status === 413) {
        return new ModelContextLengthError(`the request does not fit the context window of model ${JSON.stringify(model)} (${status})${quote}`, opts);
      }
      return new ModelBadRequestError(`the model endpoint refused the request (${status})${quote}`, opts);
    }
    if (raw instanceof SyntaxError || (raw instanceof Error && /malformed|parse/i.test(raw.message))) {
      return new ModelMalformedResponseError(d.scrub(`the response of model ${JSON.stringify(model)} is not valid server-sent JSON: ${raw.message}`));
    }
    if (raw instanceof TypeError && /terminated|fetch failed|socket|ECONN/i.test(`${raw.message} ${String((raw as { cause?: unknown }).cause)}`)) {
      return new ModelStreamInterruptedError(d.scrub(`the connection to the model endpoint broke mid-stream: ${raw.message}`));
    }
    const message = raw instanceof Error ? raw.message : String(raw);
    return new ModelMalformedResponseError(d.scrub(`unexpected failure reading the response of model ${JSON.stringify(model)}: ${message}`));
  }
}
