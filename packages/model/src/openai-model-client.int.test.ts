import { inspect } from 'node:util';
import type { ModelPrice } from '@buckley/config';
import { type FakeResponse, type FakeScript, rejected, startFakeModelServer, thrown, waitUntil } from '@buckley/testing';
import { ClosedError } from '@buckley/utils';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  type ChatRequest,
  type ChatStreamEvent,
  type ModelCallEvent,
  ModelAbortedError,
  ModelApiKeyMissingError,
  ModelAuthError,
  ModelBadRequestError,
  ModelCircuitOpenError,
  ModelConnectionError,
  ModelContextLengthError,
  ModelMalformedResponseError,
  ModelNotFoundError,
  ModelRateLimitError,
  ModelRequestError,
  ModelResponseTooLargeError,
  ModelServerError,
  ModelStreamInterruptedError,
  ModelTimeoutError,
  type OpenAiModelClientOptions,
  createOpenAiModelClient,
  isModelError,
} from './index.js';

const KEY = 'sk-planted-secret-4f7a9c2e1b';
const prices: ModelPrice[] = [
  { model: 'fake-1', input: 2, cachedInput: 0.5, output: 8 },
  { model: 'fake-1-2026-01-01', input: 1, output: 4 },
];
const hi: ChatRequest = { messages: [{ role: 'user', content: 'hi' }] };

async function setup(
  script: FakeScript,
  options: Omit<Partial<OpenAiModelClientOptions>, 'config'> & { config?: Partial<OpenAiModelClientOptions['config']> } = {},
) {
  const server = await startFakeModelServer({ script });
  const events: ModelCallEvent[] = [];
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const { config, ...rest } = options;
  const client = createOpenAiModelClient({
    env: { TEST_MODEL_KEY: KEY },
    onObservation: (e) => events.push(e),
    tracer: provider.getTracer('test'),
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    ...rest,
    config: { baseUrl: server.url, apiKeyEnv: 'TEST_MODEL_KEY', id: 'fake-1', timeoutSeconds: 5, maxRetries: 2, prices, ...config },
  });
  return {
    server,
    client,
    events,
    spans: () => exporter.getFinishedSpans(),
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
      await provider.shutdown();
    },
  };
}

async function collect(stream: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const out: ChatStreamEvent[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

describe('streaming', () => {
  it('streams text deltas in order, then done; sends the key, the model and include_usage', async () => {
    await using t = await setup([{ text: ['Hel', 'lo', ' world'] }]);
    const events = await collect(t.client.chat(hi));
    expect(events.map((e) => e.type)).toEqual(['text', 'text', 'text', 'done']);
    expect(events.slice(0, 3).map((e) => (e.type === 'text' ? e.delta : ''))).toEqual(['Hel', 'lo', ' world']);
    const done = events.at(-1)!;
    if (done.type !== 'done') throw new Error('no done');
    expect(done.result).toMatchObject({ text: 'Hello world', finishReason: 'stop', model: 'fake-1', responseModel: 'fake-1', attempts: 1, toolCalls: [] });
    expect(done.result.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    const sent = t.server.requests[0]!;
    expect(sent.headers['authorization']).toBe(`Bearer ${KEY}`);
    expect(sent.body).toMatchObject({ model: 'fake-1', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  });

  it('assembles tool-call arguments split across many chunks', async () => {
    const args = JSON.stringify({ path: 'src/index.ts', lines: [1, 20], note: 'ünïcode ✓' });
    const split = args.match(/.{1,3}/gsu)!;
    await using t = await setup([{ toolCalls: [{ id: 'call_a', name: 'read_file', arguments: split }] }]);
    const result = await t.client.chat(hi).result();
    expect(split.length).toBeGreaterThan(15);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.toolCalls).toEqual([{ id: 'call_a', name: 'read_file', arguments: args, input: JSON.parse(args) }]);
  });

  it('a tool with no arguments (no field, or an empty string) has input {}', async () => {
    await using t = await setup([{ toolCalls: [{ name: 'git_status' }, { name: 'now', arguments: '' }] }]);
    const result = await t.client.chat(hi).result();
    expect(result.toolCalls.map((c) => [c.name, c.arguments, c.input])).toEqual([
      ['git_status', '', {}],
      ['now', '', {}],
    ]);
  });

  it('text and several tool calls in one turn: text deltas first, each call once complete', async () => {
    await using t = await setup([
      {
        text: ['Let me ', 'look.'],
        toolCalls: [
          { name: 'read_file', arguments: ['{"path":', '"a"}'] },
          { name: 'list_files', arguments: ['{}'] },
        ],
      },
    ]);
    const events = await collect(t.client.chat(hi));
    expect(events.map((e) => e.type)).toEqual(['text', 'text', 'tool_call', 'tool_call', 'done']);
    const done = events.at(-1);
    if (done?.type !== 'done') throw new Error('no done');
    expect(done.result.text).toBe('Let me look.');
    expect(done.result.toolCalls.map((c) => [c.id, c.name, c.input])).toEqual([
      ['call_0', 'read_file', { path: 'a' }],
      ['call_1', 'list_files', {}],
    ]);
  });

  it('arguments that are not JSON give a readable inputError, not a throw', async () => {
    await using t = await setup([{ toolCalls: [{ name: 'edit', arguments: ['{"path": "a"'] }] }]);
    const [call] = (await t.client.chat(hi).result()).toolCalls;
    expect(call!.input).toBeUndefined();
    expect(call!.inputError).toMatch(/^the arguments are not valid JSON/);
    expect(call!.arguments).toBe('{"path": "a"');
  });

  it('calls without ids get stable generated ids; several whole calls at index 0 stay separate', async () => {
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'x', model: 'fake-1', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    await using t = await setup([
      { toolCalls: [{ id: null, name: 'a', arguments: '{}' }] },
      {
        type: 'raw',
        chunks: [
          chunk({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'first', arguments: '{"n":1}' } }] }),
          chunk({ tool_calls: [{ index: 0, id: 'c2', type: 'function', function: { name: 'second', arguments: '{"n":2}' } }] }),
          chunk({}, 'tool_calls'),
          'data: [DONE]\n\n',
        ],
      },
    ]);
    const first = await t.client.chat(hi).result();
    expect(first.toolCalls[0]!.id).toBe(`call_${first.callId}_0`);
    const second = await t.client.chat(hi).result();
    expect(second.toolCalls.map((c) => [c.id, c.name, c.input])).toEqual([
      ['c1', 'first', { n: 1 }],
      ['c2', 'second', { n: 2 }],
    ]);
  });

  it('a stream that ends without [DONE] but with a finish reason completes', async () => {
    await using t = await setup([{ text: ['a', 'b'], done: false }]);
    expect((await t.client.chat(hi).result()).text).toBe('ab');
  });

  it('a stream that ends with neither a finish reason nor [DONE] is an interrupted stream', async () => {
    await using t = await setup([{ text: ['a'], finishReason: null, done: false }], { config: { maxRetries: 0 } });
    const error = await rejected(t.client.chat(hi).result());
    expect(error).toBeInstanceOf(ModelStreamInterruptedError);
    expect((error as ModelStreamInterruptedError).code).toBe('MODEL_STREAM_INTERRUPTED');
  });

  it('streams reasoning deltas from reasoning_content and from reasoning', async () => {
    await using t = await setup([
      { reasoning: ['think ', 'hard'], text: 'ok' },
      { reasoning: ['other'], reasoningField: 'reasoning', text: 'ok' },
    ]);
    const events = await collect(t.client.chat(hi));
    expect(events.map((e) => e.type)).toEqual(['reasoning', 'reasoning', 'text', 'done']);
    expect(events[0]).toEqual({ type: 'reasoning', delta: 'think ' });
    expect((await t.client.chat(hi).result()).reasoning).toBe('other');
  });

  it('result() without iterating reads the whole stream; a stream reads only once', async () => {
    await using t = await setup([{ text: ['x', 'y'] }, { text: 'z' }]);
    expect((await t.client.chat(hi).result()).text).toBe('xy');
    const stream = t.client.chat(hi);
    await collect(stream);
    await expect(collect(stream)).rejects.toThrow('a chat stream can be read only once');
    expect((await stream.result()).text).toBe('z');
  });

  it('sends tools, tool choice, options and the tool results of the conversation as the API expects', async () => {
    await using t = await setup([{ text: 'done' }]);
    await t.client
      .chat({
        model: 'other-model',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'read a' },
          { role: 'assistant', content: null, toolCalls: [{ id: 'call_9', name: 'read_file', arguments: '{"path":"a"}' }] },
          { role: 'tool', toolCallId: 'call_9', content: 'contents of a' },
        ],
        tools: [{ name: 'read_file', description: 'reads', parameters: { type: 'object', properties: { path: { type: 'string' } } } }, { name: 'now' }],
        toolChoice: { name: 'read_file' },
        temperature: 0.2,
        maxTokens: 100,
      })
      .result();
    expect(t.server.requests[0]!.body).toMatchObject({
      model: 'other-model',
      temperature: 0.2,
      max_tokens: 100,
      tool_choice: { type: 'function', function: { name: 'read_file' } },
      tools: [
        { type: 'function', function: { name: 'read_file', description: 'reads', parameters: { type: 'object', properties: { path: { type: 'string' } } } } },
        { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } },
      ],
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'read a' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'read_file', arguments: '{"path":"a"}' } }] },
        { role: 'tool', tool_call_id: 'call_9', content: 'contents of a' },
      ],
    });
  });
});

describe('usage and cost', () => {
  it('usage comes when include_usage is sent; cost from the price table, cached input at its own price', async () => {
    const usage = {
      prompt_tokens: 1000,
      completion_tokens: 500,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 100 },
    };
    await using t = await setup([{ text: 'a', usage }]);
    const result = await t.client.chat(hi).result();
    expect(result.usage).toEqual({ inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500, reasoningTokens: 100 });
    // 600 uncached at $2, 400 cached at $0.5, 500 output at $8, per million tokens.
    expect(result.costUsd).toBeCloseTo((600 * 2 + 400 * 0.5 + 500 * 8) / 1e6, 12);
  });

  it('without stream_options the endpoint reports no usage: usage and cost are null', async () => {
    await using t = await setup([{ text: 'a', usage: { prompt_tokens: 10, completion_tokens: 5 } }], { streamUsage: false });
    const result = await t.client.chat(hi).result();
    expect(t.server.requests[0]!.body?.stream_options).toBeUndefined();
    expect(result.usage).toBeNull();
    expect(result.costUsd).toBeNull();
    const completed = t.events.find((e) => e.type === 'model.call.completed');
    expect(completed?.data).toMatchObject({ inputTokens: null, outputTokens: null, costUsd: null });
  });

  it('an endpoint that never reports usage (even when asked): null, never a guess', async () => {
    await using t = await setup([{ text: 'a', usage: null }]);
    expect(await t.client.chat(hi).result()).toMatchObject({ usage: null, costUsd: null });
  });

  it('usage on the last choice chunk (servers that send it unasked) is read too', async () => {
    await using t = await setup([{ text: 'a', usage: { prompt_tokens: 10, completion_tokens: 5 }, usageMode: 'always' }], { streamUsage: false });
    expect((await t.client.chat(hi).result()).usage).toEqual({ inputTokens: 10, cachedInputTokens: 0, outputTokens: 5 });
  });

  it('an unpriced model costs null; a dated response model is priced by its own row; no cachedInput bills at input', async () => {
    const usage = { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, prompt_tokens_details: { cached_tokens: 500_000 } };
    await using t = await setup([
      { text: 'a', usage },
      { text: 'a', usage, model: 'fake-1-2026-01-01' },
    ]);
    const unknown = await t.client.chat({ ...hi, model: 'no-price-model' }).result();
    expect(unknown.usage?.inputTokens).toBe(1_000_000);
    expect(unknown.costUsd).toBeNull();
    const dated = await t.client.chat(hi).result();
    expect(dated.responseModel).toBe('fake-1-2026-01-01');
    expect(dated.costUsd).toBeCloseTo(1 + 4, 12);
  });
});

describe('errors', () => {
  it('401 is ModelAuthError naming the variable, not retried', async () => {
    await using t = await setup([{ type: 'error', status: 401 }]);
    const error = await rejected(t.client.chat(hi).result());
    expect(error).toBeInstanceOf(ModelAuthError);
    expect(error).toMatchObject({ code: 'MODEL_AUTH_FAILED', status: 401, providerCode: 'invalid_api_key', retryable: false });
    expect((error as Error).message).toContain('TEST_MODEL_KEY');
    expect(t.server.requests).toHaveLength(1);
  });

  it('404 is ModelNotFoundError with the model', async () => {
    await using t = await setup([{ type: 'error', status: 404, body: { error: { message: 'The model `nope` does not exist', code: 'model_not_found' } } }]);
    const error = await rejected(t.client.chat({ ...hi, model: 'nope' }).result());
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect(error).toMatchObject({ code: 'MODEL_NOT_FOUND', model: 'nope', status: 404, providerCode: 'model_not_found' });
    expect((error as Error).message).toContain('"nope"');
  });

  it('429 is retried after the Retry-After the server sent', async () => {
    await using t = await setup([{ type: 'error', status: 429, headers: { 'retry-after': '1' } }, { text: 'ok' }]);
    const start = performance.now();
    const result = await t.client.chat(hi).result();
    expect(performance.now() - start).toBeGreaterThanOrEqual(950);
    expect(result).toMatchObject({ text: 'ok', attempts: 2 });
    expect(t.server.requests).toHaveLength(2);
  });

  it('429 with a Retry-After past maxRetryAfterMs fails at once with the wait in the error', async () => {
    await using t = await setup([{ type: 'error', status: 429, headers: { 'retry-after-ms': '90000' } }], { retry: { maxRetryAfterMs: 1000 } });
    const error = await rejected(t.client.chat(hi).result());
    expect(error).toBeInstanceOf(ModelRateLimitError);
    expect(error).toMatchObject({ code: 'MODEL_RATE_LIMITED', retryAfterMs: 90_000, retryable: true });
    expect(t.server.requests).toHaveLength(1);
  });

  it('5xx is retried with backoff until it succeeds, or until maxRetries, as ModelServerError', async () => {
    await using ok = await setup([{ type: 'error', status: 502 }, { type: 'error', status: 503 }, { text: 'ok' }]);
    expect((await ok.client.chat(hi).result()).attempts).toBe(3);
    await using bad = await setup([
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
    ]);
    const error = await rejected(bad.client.chat(hi).result());
    expect(error).toBeInstanceOf(ModelServerError);
    expect(error).toMatchObject({ code: 'MODEL_SERVER_ERROR', status: 500 });
    expect(bad.server.requests).toHaveLength(3);
    const failed = bad.events.find((e) => e.type === 'model.call.failed');
    expect(failed?.data).toMatchObject({ errorCode: 'MODEL_SERVER_ERROR', status: 500, attempts: 3 });
  });

  it('context length exceeded, by provider code or by the wording of vLLM and llama.cpp', async () => {
    await using t = await setup([
      { type: 'error', status: 400, body: { error: { message: 'too long', code: 'context_length_exceeded' } } },
      {
        type: 'error',
        status: 400,
        body: { object: 'error', message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens." },
      },
      { type: 'error', status: 400, body: { error: { message: 'the request exceeds the available context size', type: 'exceed_context_size_error' } } },
      { type: 'error', status: 400, body: { error: { message: 'temperature must be a number' } } },
    ]);
    for (let i = 0; i < 3; i++) {
      const error = await rejected(t.client.chat(hi).result());
      expect(error).toBeInstanceOf(ModelContextLengthError);
      expect((error as ModelContextLengthError).code).toBe('MODEL_CONTEXT_LENGTH_EXCEEDED');
    }
    const other = await rejected(t.client.chat(hi).result());
    expect(other).toBeInstanceOf(ModelBadRequestError);
    expect((other as Error).message).toContain('temperature must be a number');
    expect(t.server.requests).toHaveLength(4);
  });

  it('a malformed chunk is ModelMalformedResponseError; an error event inside the stream is ModelServerError', async () => {
    await using t = await setup(
      [
        { type: 'raw', chunks: ['data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n', 'data: {this is not json\n\n'] },
        { type: 'raw', chunks: ['data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'] },
        { type: 'raw', chunks: ['data: {"id":"x","object":"chat.completion.chunk"}\n\n', 'data: [DONE]\n\n'] },
      ],
      { config: { maxRetries: 0 } },
    );
    const bad = await rejected(t.client.chat(hi).result());
    expect(bad).toBeInstanceOf(ModelMalformedResponseError);
    expect((bad as ModelMalformedResponseError).code).toBe('MODEL_MALFORMED_RESPONSE');
    const inStream = await rejected(t.client.chat(hi).result());
    expect(inStream).toBeInstanceOf(ModelServerError);
    expect((inStream as Error).message).toContain('overloaded');
    const noChoices = await rejected(t.client.chat(hi).result());
    expect(noChoices).toBeInstanceOf(ModelMalformedResponseError);
    expect((noChoices as Error).message).toContain('no "choices" array');
  });

  it('an attempt that hangs past the timeout is ModelTimeoutError (outcome timeout), retried', async () => {
    await using t = await setup([{ type: 'hang' }, { type: 'hang' }], { config: { timeoutSeconds: 0.2, maxRetries: 1 } });
    const error = await rejected(t.client.chat(hi).result());
    expect(error).toBeInstanceOf(ModelTimeoutError);
    expect(error).toMatchObject({ code: 'MODEL_TIMEOUT', timeoutMs: 200 });
    expect(t.server.requests).toHaveLength(2);
    expect(t.events.at(-1)).toMatchObject({ type: 'model.call.failed', metadata: { outcome: 'timeout' } });
  });

  it('a stream slower than the timeout times out mid-stream and is not retried once text was delivered', async () => {
    await using t = await setup([{ text: ['a', 'b', 'c', 'd', 'e'], chunkDelayMs: 100 }], { config: { timeoutSeconds: 0.25 } });
    const seen: string[] = [];
    const error = await rejected(
      (async () => {
        for await (const e of t.client.chat(hi)) if (e.type === 'text') seen.push(e.delta);
      })(),
    );
    expect(error).toBeInstanceOf(ModelTimeoutError);
    expect(seen.length).toBeGreaterThan(0);
    expect(t.server.requests).toHaveLength(1);
  });

  it("the caller's signal aborts the call: ModelAbortedError, outcome cancelled", async () => {
    await using t = await setup([{ text: ['a', 'b', 'c'], chunkDelayMs: 200 }]);
    const controller = new AbortController();
    const stream = t.client.chat({ ...hi, signal: controller.signal });
    const result = stream.result();
    // Abort once the server has the request (a fixed delay raced the request on a loaded machine).
    await waitUntil(() => t.server.requests.length === 1);
    controller.abort();
    const error = await rejected(result);
    expect(error).toBeInstanceOf(ModelAbortedError);
    expect((error as ModelAbortedError).code).toBe('MODEL_ABORTED');
    expect(t.events.at(-1)).toMatchObject({ type: 'model.call.failed', metadata: { outcome: 'cancelled' } });
    expect(t.server.requests).toHaveLength(1);
  });

  it('leaving the loop early cancels the call', async () => {
    await using t = await setup([{ text: ['a', 'b', 'c', 'd'], chunkDelayMs: 20 }]);
    const stream = t.client.chat(hi);
    for await (const event of stream) if (event.type === 'text') break;
    await expect(stream.result()).rejects.toBeInstanceOf(ModelAbortedError);
    expect(t.events.at(-1)).toMatchObject({ type: 'model.call.failed', data: { errorCode: 'MODEL_ABORTED' }, metadata: { outcome: 'cancelled' } });
  });

  it('a refused connection is ModelConnectionError, retried; a drop mid-stream after text is not retried', async () => {
    const dead = await startFakeModelServer({ script: [] });
    await dead.close();
    await using t = await setup([{ type: 'disconnect' }, { text: 'ok' }, { type: 'disconnect', completion: { text: ['a', 'b', 'c'] }, afterChunks: 2 }]);
    expect((await t.client.chat(hi).result()).attempts).toBe(2);
    const dropped = await rejected(t.client.chat(hi).result());
    expect(dropped).toBeInstanceOf(ModelStreamInterruptedError);
    expect(t.server.requests).toHaveLength(3);
    const client = createOpenAiModelClient({
      config: { baseUrl: dead.url, apiKeyEnv: 'K', maxRetries: 1, id: 'm' },
      env: { K: KEY },
      retry: { baseDelayMs: 1 },
    });
    const refused = await rejected(client.chat(hi).result());
    expect(refused).toBeInstanceOf(ModelConnectionError);
    expect(refused).toMatchObject({ code: 'MODEL_CONNECTION_FAILED', retryable: true });
    expect((refused as Error).message).toContain('127.0.0.1');
  });

  it('an endless stream is cut at maxResponseBytes, a stream of tiny chunks at maxChunks', async () => {
    function* endless() {
      for (;;)
        yield `data: ${JSON.stringify({ id: 'x', model: 'fake-1', choices: [{ index: 0, delta: { content: 'x'.repeat(1000) }, finish_reason: null }] })}\n\n`;
    }
    function* tiny() {
      for (;;) yield 'data: {"id":"x","choices":[{"index":0,"delta":{}}]}\n\n';
    }
    await using t = await setup(
      [
        { type: 'raw', chunks: endless() },
        { type: 'raw', chunks: tiny() },
      ],
      { limits: { maxResponseBytes: 256 * 1024, maxChunks: 1000 } },
    );
    const bytes = await rejected(t.client.chat(hi).result());
    expect(bytes).toBeInstanceOf(ModelResponseTooLargeError);
    expect(bytes).toMatchObject({ code: 'MODEL_RESPONSE_TOO_LARGE', limit: 'bytes', max: 256 * 1024 });
    const chunks = await rejected(t.client.chat(hi).result());
    expect(chunks).toMatchObject({ code: 'MODEL_RESPONSE_TOO_LARGE', limit: 'chunks', max: 1000 });
  });

  it('the circuit opens after repeated provider failures and refuses calls without sending them', async () => {
    await using t = await setup((r) => (r.index < 2 ? { type: 'error', status: 500 } : { text: 'ok' }), {
      config: { maxRetries: 0 },
      circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 300 },
    });
    await expect(t.client.chat(hi).result()).rejects.toBeInstanceOf(ModelServerError);
    await expect(t.client.chat(hi).result()).rejects.toBeInstanceOf(ModelServerError);
    const open = await rejected(t.client.chat(hi).result());
    expect(open).toBeInstanceOf(ModelCircuitOpenError);
    expect((open as ModelCircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    expect(t.server.requests).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await t.client.chat(hi).result()).text).toBe('ok');
  });

  it('4xx errors do not open the circuit', async () => {
    await using t = await setup((r) => (r.index < 3 ? { type: 'error', status: 401 } : { text: 'ok' }), { circuitBreaker: { failureThreshold: 2 } });
    for (let i = 0; i < 3; i++) await expect(t.client.chat(hi).result()).rejects.toBeInstanceOf(ModelAuthError);
    expect((await t.client.chat(hi).result()).text).toBe('ok');
  });
});

describe('requests and lifecycle', () => {
  it('a missing API key variable fails at creation, naming the variable', async () => {
    const error = (() => {
      try {
        createOpenAiModelClient({ config: { baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: 'NOT_SET_KEY' }, env: {} });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ModelApiKeyMissingError);
    expect(error).toMatchObject({ code: 'MODEL_API_KEY_MISSING', variable: 'NOT_SET_KEY' });
  });

  it('an invalid request throws ModelRequestError and sends nothing', async () => {
    await using t = await setup([]);
    const bad: Array<[ChatRequest, string]> = [
      [{ messages: [] }, 'messages must be a non-empty array'],
      [{ ...hi, tools: [{ name: 'has space' }] }, 'tools[0].name (a string of 9 characters)'],
      [{ ...hi, tools: [{ name: 'a' }, { name: 'a' }] }, 'distinct names'],
      [{ ...hi, toolChoice: { name: 'missing' } }, 'names no tool among the tools offered'],
      [{ ...hi, temperature: 3 }, 'temperature 3 must be a number in [0, 2]'],
      [{ ...hi, model: 'two words' }, 'the model id (a string of 9 characters) must be 1-256 characters'],
      [{ ...hi, model: 'm'.repeat(10_000) }, 'the model id (a string of 10000 characters)'],
      [{ ...hi, maxTokens: 0 }, 'maxTokens 0'],
      [{ messages: [{ role: 'tool', toolCallId: '', content: 'x' }] }, 'toolCallId'],
    ];
    for (const [request, message] of bad) {
      expect(() => t.client.chat(request)).toThrow(ModelRequestError);
      expect(() => t.client.chat(request)).toThrow(message);
    }
    const noModel = createOpenAiModelClient({ config: { baseUrl: t.server.url, apiKeyEnv: 'K' }, env: { K: KEY } });
    expect(() => noModel.chat(hi)).toThrow('no model: pass request.model or set model.id');
    expect(t.server.requests).toHaveLength(0);
  });

  it('close() cancels calls in flight and refuses new ones', async () => {
    await using t = await setup([{ type: 'hang' }]);
    const pending = t.client.chat(hi).result();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.client.close();
    const error = await rejected(pending);
    expect(error).toBeInstanceOf(ModelAbortedError);
    expect((error as Error).message).toContain('closed');
    expect(() => t.client.chat(hi)).toThrow(ClosedError);
  });
});

describe('observations and spans', () => {
  it('model.call.started and completed carry tokens, cost, duration, outcome and the attribution', async () => {
    await using t = await setup([{ text: 'a', usage: { prompt_tokens: 100, completion_tokens: 10 } }]);
    const result = await t.client.chat({ ...hi, attribution: { sessionId: 's1', taskId: 't1' } }).result();
    expect(t.events.map((e) => e.type)).toEqual(['model.call.started', 'model.call.completed']);
    const [started, completed] = t.events;
    expect(started).toMatchObject({
      data: { callId: result.callId, model: 'fake-1', provider: 'openai', server: `127.0.0.1:${t.server.port}`, messageCount: 1, toolCount: 0 },
      metadata: { sessionId: 's1', taskId: 't1', modelId: 'fake-1' },
    });
    expect(completed).toMatchObject({
      data: { callId: result.callId, inputTokens: 100, outputTokens: 10, costUsd: (100 * 2 + 10 * 8) / 1e6, finishReason: 'stop', attempts: 1 },
      metadata: { sessionId: 's1', modelId: 'fake-1', outcome: 'success', attempt: 1 },
    });
    if (completed?.type !== 'model.call.completed') throw new Error('no completed event');
    expect(completed.data.durationMs).toBe(result.durationMs);
    expect(completed.metadata.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a GenAI span per call with the semantic-convention attributes; error.type on failure', async () => {
    await using t = await setup([
      { text: 'a', usage: { prompt_tokens: 12, completion_tokens: 3 }, model: 'fake-1-2026-01-01' },
      { type: 'error', status: 401 },
    ]);
    await t.client.chat({ ...hi, temperature: 0.5, maxTokens: 50 }).result();
    await rejected(t.client.chat(hi).result());
    const [ok, failed] = t.spans();
    expect(ok!.name).toBe('chat fake-1');
    expect(ok!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'fake-1',
      'gen_ai.request.temperature': 0.5,
      'gen_ai.request.max_tokens': 50,
      'gen_ai.response.model': 'fake-1-2026-01-01',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 3,
      'server.address': '127.0.0.1',
      'server.port': t.server.port,
    });
    expect(ok!.attributes['error.type']).toBeUndefined();
    expect(failed!.attributes['error.type']).toBe('MODEL_AUTH_FAILED');
    expect(failed!.status.code).toBe(SpanStatusCode.ERROR);
    expect(t.events.find((e) => e.type === 'model.call.completed')?.metadata.spanId).toBe(ok!.spanContext().spanId);
  });

  it('a throwing observer does not fail the call', async () => {
    await using t = await setup([{ text: 'a' }], {
      onObservation: () => {
        throw new Error('observer broke');
      },
    });
    expect((await t.client.chat(hi).result()).text).toBe('a');
  });
});

describe('the API key never leaks', () => {
  it('not in errors, events or spans, even when the endpoint echoes it in every kind of failure', async () => {
    const echo = (r: { headers: Readonly<Record<string, string | string[] | undefined>> }) => ({
      error: { message: `Incorrect API key provided: ${String(r.headers['authorization'])}`, code: `bad_${KEY}`, type: KEY },
    });
    const script: FakeResponse[] = [
      { type: 'error', status: 401, bodyFrom: echo },
      { type: 'error', status: 404, bodyFrom: echo },
      { type: 'error', status: 400, bodyFrom: echo },
      { type: 'error', status: 429, bodyFrom: echo, headers: { 'retry-after': '3600' } },
      { type: 'error', status: 500, bodyFrom: echo },
      { type: 'raw', chunks: [`data: {"error":{"message":"key ${KEY} is over quota"}}\n\n`] },
      { type: 'raw', chunks: [`data: {"oops ${KEY}\n\n`] },
      { type: 'error', status: 418, body: `teapot says Bearer ${KEY}` },
    ];
    await using t = await setup(script, { config: { maxRetries: 0 }, retry: { maxRetryAfterMs: 10 } });
    const errors: unknown[] = [];
    for (let i = 0; i < script.length; i++) errors.push(await rejected(t.client.chat(hi).result()));
    expect(errors.every((e) => isModelError(e))).toBe(true);
    // The echo reached the client: the scrubbed text is in the messages.
    expect(String((errors[0] as Error).message)).toContain('Incorrect API key provided: Bearer [REDACTED]');
    expect(t.server.requests.every((r) => r.headers['authorization'] === `Bearer ${KEY}`)).toBe(true);
    const everything = [
      ...errors.map((e) => inspect(e, { depth: 20, showHidden: true })),
      ...errors.map((e) => JSON.stringify(e, Object.getOwnPropertyNames(e))),
      JSON.stringify(t.events),
      inspect(t.spans(), { depth: 20 }),
    ].join('\n');
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(KEY.slice(3));
    expect(t.events.filter((e) => e.type === 'model.call.failed')).toHaveLength(script.length);
  });

  it('not in the error when model.api_key_env holds the key itself, nor when a request field does', async () => {
    const errors: unknown[] = [];
    for (const env of [{}, { [KEY]: 'x' }] as Array<Record<string, string>>) {
      // The second: an environment that has a variable named like the key (the factory reads it, the 401 names the setting).
      try {
        const client = createOpenAiModelClient({ config: { baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: KEY, id: 'fake-1', maxRetries: 0 }, env });
        errors.push(await rejected(client.chat(hi).result()));
      } catch (error) {
        errors.push(error);
      }
    }
    expect(errors[0]).toBeInstanceOf(ModelApiKeyMissingError);
    expect(errors[0]).toMatchObject({ variable: undefined });
    expect((errors[0] as Error).message).toContain(`model.api_key_env (a string of ${KEY.length} characters) is not an upper-case environment variable name`);
    expect(errors[1]).toBeInstanceOf(ModelConnectionError);
    await using t = await setup([{ type: 'error', status: 401, body: { error: { message: 'no' } } }], {
      config: { apiKeyEnv: 'lower_case_key' },
      env: { lower_case_key: KEY },
    });
    const auth = await rejected(t.client.chat(hi).result());
    expect(auth).toBeInstanceOf(ModelAuthError);
    expect((auth as Error).message).toContain('the API key from model.api_key_env (401)');
    errors.push(auth);
    const secret = `${KEY} x`;
    for (const request of [
      { messages: [{ role: secret, content: 'x' }] },
      { ...hi, tools: [{ name: secret }] },
      { ...hi, tools: [{ name: 'a' }], toolChoice: { name: secret } },
      { ...hi, model: secret },
      { ...hi, temperature: secret },
      { ...hi, maxTokens: secret },
    ] as unknown as ChatRequest[]) {
      errors.push(thrown(() => t.client.chat(request)));
    }
    expect(errors.slice(3).every((e) => e instanceof ModelRequestError)).toBe(true);
    const everything = errors.map((e) => inspect(e, { depth: 20, showHidden: true })).join('\n');
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(KEY.slice(3));
  });
});
