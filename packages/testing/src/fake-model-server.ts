import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One tool call a scripted reply streams. */
export interface FakeToolCall {
  /** The call id; `"call_<n>"` unless given. `null` leaves the id out (some local servers do). */
  readonly id?: string | null;
  readonly name: string;
  /**
   * The JSON arguments, as one string or as the pieces to stream in separate chunks.
   * `undefined` sends no `arguments` field at all (a tool with no arguments on some servers).
   */
  readonly arguments?: string | readonly string[];
}

/** Token counts of a scripted reply, in the OpenAI wire shape. */
export interface FakeUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens?: number;
  readonly prompt_tokens_details?: { readonly cached_tokens?: number };
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number };
}

/** A completion: text, reasoning and tool calls, streamed or (for `stream: false` requests) sent whole. */
export interface FakeCompletion {
  readonly type?: 'completion';
  /** Text content, as one chunk or as the chunks to send. */
  readonly text?: string | readonly string[];
  /** Reasoning deltas, sent before the text. */
  readonly reasoning?: readonly string[];
  /** The delta field reasoning travels in: `reasoning_content` (vLLM, DeepSeek) or `reasoning` (OpenRouter, Ollama). */
  readonly reasoningField?: 'reasoning_content' | 'reasoning';
  readonly toolCalls?: readonly FakeToolCall[];
  /** Default `tool_calls` when there are tool calls, else `stop`. `null` sends no finish reason. */
  readonly finishReason?: string | null;
  /**
   * Usage to report. Streamed only when the request asked with `stream_options.include_usage`
   * (as OpenAI does), in a final chunk with no choices. `null` never reports usage. Default: a
   * deterministic count (prompt: a quarter of the request's message characters; completion: one
   * per streamed piece).
   */
  readonly usage?: FakeUsage | null;
  /** `always`: put usage on the last choice chunk whether asked or not (some servers do). */
  readonly usageMode?: 'when_asked' | 'always';
  /** The model named in the response; default the request's. */
  readonly model?: string;
  /** Send the closing `data: [DONE]`. Default true. */
  readonly done?: boolean;
  /** Wait before the response headers, in milliseconds. */
  readonly headersDelayMs?: number;
  /** Wait before each chunk, in milliseconds. */
  readonly chunkDelayMs?: number;
}

/** An HTTP error response. */
export interface FakeError {
  readonly type: 'error';
  readonly status: number;
  /** The body: a JSON value or a string sent as is. Default an OpenAI-style `{ error: { message, type, code } }`. */
  readonly body?: unknown;
  /** The body as a function of the request, to echo what the client sent; wins over `body`. */
  readonly bodyFrom?: (request: FakeModelRequest) => unknown;
  /** Extra response headers, e.g. `{ 'retry-after': '1' }`. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly headersDelayMs?: number;
}

/** Raw bytes written verbatim after 200 headers: malformed chunks, endless streams. */
export interface FakeRaw {
  readonly type: 'raw';
  /** The pieces to write; an iterable may be endless (it stops when the client disconnects). */
  readonly chunks: Iterable<string> | AsyncIterable<string>;
  readonly contentType?: string;
  readonly status?: number;
  readonly headersDelayMs?: number;
  readonly chunkDelayMs?: number;
}

/** Never answers: the connection stays open until the client gives up. */
export interface FakeHang {
  readonly type: 'hang';
}

/** Drops the connection without a response (optionally after sending `afterChunks` of a completion). */
export interface FakeDisconnect {
  readonly type: 'disconnect';
  /** A completion to start streaming before the drop. */
  readonly completion?: FakeCompletion;
  /** How many chunks of `completion` to send before the drop. Default 0 (before the headers). */
  readonly afterChunks?: number;
}

/** One scripted response. */
export type FakeResponse = FakeCompletion | FakeError | FakeRaw | FakeHang | FakeDisconnect;

/** A request the server received, for assertions on what the client sent. */
export interface FakeModelRequest {
  /** 0-based order of arrival. */
  readonly index: number;
  readonly method: string;
  readonly path: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawBody: string;
  /** The parsed JSON body; `undefined` when it was not JSON. */
  readonly body: FakeChatBody | undefined;
}

/** The fields of a chat completions request the fake server reads; the rest is kept as sent. */
export interface FakeChatBody {
  readonly model?: string;
  readonly messages?: ReadonlyArray<Record<string, unknown>>;
  readonly tools?: ReadonlyArray<Record<string, unknown>>;
  readonly stream?: boolean;
  readonly stream_options?: { readonly include_usage?: boolean };
  readonly [key: string]: unknown;
}

/**
 * What the server replies with: a list used in order (one response per chat request; past its
 * end every request gets a 500 that says the script ran out), or a function of the request.
 */
export type FakeScript = readonly FakeResponse[] | ((request: FakeModelRequest) => FakeResponse);

/** Options of {@link startFakeModelServer}. */
export interface FakeModelServerOptions {
  readonly script: FakeScript;
  /** Path prefix of the API. Default `/v1`. */
  readonly basePath?: string;
  /** Keep at most this many requests in {@link FakeModelServer.requests} (benchmarks). Default unlimited. */
  readonly maxRecordedRequests?: number;
}

/** A running fake OpenAI-compatible server. */
export interface FakeModelServer extends AsyncDisposable {
  /** The base URL to configure a client with, e.g. `http://127.0.0.1:40123/v1`. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order of arrival (chat requests and any other path). */
  readonly requests: readonly FakeModelRequest[];
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

function pieces(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

function defaultUsage(request: FakeModelRequest, completionPieces: number): FakeUsage {
  const chars = JSON.stringify(request.body?.messages ?? []).length;
  const prompt = Math.ceil(chars / 4);
  return { prompt_tokens: prompt, completion_tokens: completionPieces, total_tokens: prompt + completionPieces };
}

/** The streamed chunks (as JSON objects) of a completion. */
function completionChunks(reply: FakeCompletion, request: FakeModelRequest, id: string): Array<Record<string, unknown>> {
  const model = reply.model ?? request.body?.model ?? 'fake-model';
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  });
  const out: Array<Record<string, unknown>> = [];
  const field = reply.reasoningField ?? 'reasoning_content';
  let count = 0;
  for (const piece of reply.reasoning ?? []) {
    out.push(chunk({ ...(out.length === 0 ? { role: 'assistant' } : {}), [field]: piece }));
    count++;
  }
  for (const piece of pieces(reply.text)) {
    out.push(chunk({ ...(out.length === 0 ? { role: 'assistant' } : {}), content: piece }));
    count++;
  }
  for (const [index, call] of (reply.toolCalls ?? []).entries()) {
    const args: Array<string | undefined> = call.arguments === undefined ? [undefined] : pieces(call.arguments);
    if (args.length === 0) args.push('');
    for (const [n, piece] of args.entries()) {
      const fn: Record<string, unknown> = n === 0 ? { name: call.name } : {};
      if (piece !== undefined) fn['arguments'] = piece;
      const head = n === 0 ? { ...(call.id === null ? {} : { id: call.id ?? `call_${index}` }), type: 'function' } : {};
      out.push(chunk({ ...(out.length === 0 ? { role: 'assistant' } : {}), tool_calls: [{ index, ...head, function: fn }] }));
      count++;
    }
  }
  const finish = reply.finishReason === undefined ? ((reply.toolCalls?.length ?? 0) > 0 ? 'tool_calls' : 'stop') : reply.finishReason;
  const usage = reply.usage === undefined ? defaultUsage(request, count) : reply.usage;
  const always = reply.usageMode === 'always';
  out.push(chunk(out.length === 0 ? { role: 'assistant', content: '' } : {}, finish, always && usage ? { usage } : {}));
  if (!always && usage && request.body?.stream_options?.include_usage === true) {
    out.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  }
  return out;
}

/** The whole (non-streamed) completion object. */
function completionBody(reply: FakeCompletion, request: FakeModelRequest, id: string): Record<string, unknown> {
  const calls = (reply.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? `call_${index}`,
    type: 'function',
    function: { name: call.name, arguments: pieces(call.arguments).join('') },
  }));
  const text = pieces(reply.text).join('');
  const reasoning = (reply.reasoning ?? []).join('');
  const finish = reply.finishReason === undefined ? (calls.length > 0 ? 'tool_calls' : 'stop') : reply.finishReason;
  const usage = reply.usage === undefined ? defaultUsage(request, 1) : reply.usage;
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? request.body?.model ?? 'fake-model',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && calls.length > 0 ? null : text,
          ...(reasoning ? { [reply.reasoningField ?? 'reasoning_content']: reasoning } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        finish_reason: finish,
      },
    ],
    ...(usage ? { usage } : {}),
  };
}

function errorBody(status: number): unknown {
  const known: Record<number, [string, string | null]> = {
    400: ['invalid_request_error', null],
    401: ['invalid_request_error', 'invalid_api_key'],
    404: ['invalid_request_error', 'model_not_found'],
    429: ['rate_limit_error', 'rate_limit_exceeded'],
  };
  const [type, code] = known[status] ?? ['server_error', null];
  return { error: { message: `fake model server: scripted ${status}`, type, param: null, code } };
}

/**
 * Starts an OpenAI-compatible chat completions server on a free loopback port that answers from
 * a script: streamed text, reasoning and tool calls (arguments split as the script says), HTTP
 * errors with any status, headers (`Retry-After`) and body, slow streams, raw bytes (malformed
 * chunks, streams without `[DONE]`, endless streams), hangs and dropped connections. Every
 * request is recorded in {@link FakeModelServer.requests}.
 *
 * @example
 * ```ts
 * await using server = await startFakeModelServer({ script: [{ text: ['Hel', 'lo'] }] });
 * const res = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [], stream: true }) });
 * ```
 */
export async function startFakeModelServer(options: FakeModelServerOptions): Promise<FakeModelServer> {
  const basePath = (options.basePath ?? '/v1').replace(/\/$/, '');
  const requests: FakeModelRequest[] = [];
  const sockets = new Set<Socket>();
  let received = 0;
  let scripted = 0;
  let closed = false;

  const next = (request: FakeModelRequest): FakeResponse | undefined => {
    if (typeof options.script === 'function') return options.script(request);
    return options.script[scripted++];
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const rawBody = Buffer.concat(parts).toString('utf8');
    let body: FakeChatBody | undefined;
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as FakeChatBody;
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const request: FakeModelRequest = { index: received++, method: req.method ?? 'GET', path, headers: { ...req.headers }, rawBody, body };
    requests.push(request);
    if (options.maxRecordedRequests !== undefined && requests.length > options.maxRecordedRequests) requests.shift();

    if (req.method !== 'POST' || path !== `${basePath}/chat/completions`) {
      sendJson(res, 404, { error: { message: `fake model server: no route ${req.method} ${path}`, type: 'invalid_request_error', code: null } });
      return;
    }
    const reply = next(request);
    if (reply === undefined) {
      sendJson(res, 500, { error: { message: `fake model server: script exhausted after ${scripted - 1} response(s)`, type: 'server_error', code: null } });
      return;
    }
    await respond(reply, request, req, res);
  };

  const respond = async (reply: FakeResponse, request: FakeModelRequest, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = `chatcmpl-fake-${request.index}`;
    switch (reply.type) {
      case 'hang':
        return;
      case 'disconnect': {
        if (reply.completion && (reply.afterChunks ?? 0) > 0) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          const chunks = completionChunks(reply.completion, request, id).slice(0, reply.afterChunks);
          for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
          await sleep(5);
        }
        req.socket.destroy();
        return;
      }
      case 'error': {
        await sleep(reply.headersDelayMs ?? 0);
        const raw = reply.bodyFrom ? reply.bodyFrom(request) : reply.body;
        const payload = raw === undefined ? errorBody(reply.status) : raw;
        const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
        res.writeHead(reply.status, {
          'content-type': typeof payload === 'string' ? 'text/plain' : 'application/json',
          'content-length': Buffer.byteLength(text),
          ...reply.headers,
        });
        res.end(text);
        return;
      }
      case 'raw': {
        await sleep(reply.headersDelayMs ?? 0);
        res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for await (const piece of reply.chunks) {
          if (res.destroyed || closed) return;
          await sleep(reply.chunkDelayMs ?? 0);
          if (!res.write(piece)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
        res.end();
        return;
      }
      default: {
        await sleep(reply.headersDelayMs ?? 0);
        if (request.body?.stream !== true) {
          sendJson(res, 200, completionBody(reply, request, id));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const chunk of completionChunks(reply, request, id)) {
          if (res.destroyed || closed) return;
          await sleep(reply.chunkDelayMs ?? 0);
          if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
        if (reply.done !== false) res.write('data: [DONE]\n\n');
        res.end();
      }
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake model server: ${String(error)}`, type: 'server_error', code: null } });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const close = async () => {
    if (closed) return;
    closed = true;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await done;
  };

  return {
    url: `http://127.0.0.1:${port}${basePath}`,
    port,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
