import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { redact } from '@buckley/security';
import { z } from 'zod';
import { type AnyTool, defineTool, toolFailure } from './tool.js';
import { McpServerError, type McpToolSkipReason, McpToolSkippedError } from './tools-errors.js';

/** An MCP server reached over HTTP (streamable HTTP transport) by URL. */
export interface McpHttpServer {
  /** The server's name: tools are registered as `mcp__<name>__<tool>`. */
  readonly name: string;
  readonly url: string;
  /** How long connecting and listing may take, in ms (default 10,000). */
  readonly connectTimeoutMs?: number | undefined;
}

/** A connected MCP server: its tools (ready for `registry.register`) and `close()`. */
export interface McpConnection extends AsyncDisposable {
  readonly name: string;
  readonly tools: readonly AnyTool[];
  /**
   * The tools the server listed that were not taken, each with its `reason` (an invalid input
   * schema, a secret-shaped name); the connection works without them. Log or show them: they
   * are the only trace of a tool the model will never see.
   */
  readonly skipped: readonly McpToolSkippedError[];
  close(): Promise<void>;
}

const SAFE = /[^a-zA-Z0-9_-]/g;
const SERVER_NAME = /^[a-zA-Z0-9_-]{1,20}$/;

/** How deep an input schema may nest (a schema is walked recursively, here and by zod). */
const MAX_SCHEMA_DEPTH = 64;

/** Why an input schema was not taken, found while redacting it. */
class SchemaRefusal {
  constructor(
    readonly reason: McpToolSkipReason,
    readonly message: string,
  ) {}
}

/**
 * A copy of a server's input schema with every string value (descriptions, titles, examples,
 * defaults, enum values) through redact(): all of it is offered to the model. Keys are names
 * the arguments use and are kept; one that redact() would change refuses the tool.
 */
function redactSchema(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_SCHEMA_DEPTH) throw new SchemaRefusal('invalid_input_schema', `its inputSchema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v: unknown) => redactSchema(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => {
      if (redact(key) !== key) throw new SchemaRefusal('secret_in_name', 'a name in its inputSchema looks like a secret');
      return [key, redactSchema(v, depth + 1)];
    }),
  );
}

/** The SDK's error text, with anything secret-shaped (a URL's password, a token) masked. */
function reason(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
}

/** One tool call in flight, as its HTTP requests see it (through an AsyncLocalStorage). */
interface CallWatch {
  /** The JSON-RPC id of the call's `tools/call` request, once it is sent. */
  requestId: string | number | undefined;
  /** The answer can no longer come: the call is to fail now rather than at its deadline. */
  lost(why: string): void;
}

/**
 * A fetch for the SDK's transport that fails a call as soon as its answer can no longer come.
 * The SDK only reports a broken or ended event stream to `onerror` and leaves the request
 * pending until its timeout (60 s), so a server killed mid-call would hang the call. Here the
 * call's own requests (its POST, and a GET resuming its stream) are followed: a request that
 * fails or is refused (>= 400), or a stream that breaks or ends before the answer when the SDK
 * will not resume it (no event id seen), ends the call. Other requests pass untouched.
 */
function watchingFetch(calls: AsyncLocalStorage<CallWatch>) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const watch = calls.getStore();
    if (watch === undefined) return fetch(url, init);
    const id = callIdOf(init?.body);
    if (id !== undefined) watch.requestId = id;
    const resuming = (init?.method ?? 'GET') === 'GET';
    if (id === undefined && !resuming) return fetch(url, init);
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      watch.lost(`the request failed: ${reason(error)}`);
      throw error;
    }
    if (response.status >= 400) watch.lost(`the server answered HTTP ${response.status}${resuming ? ' to resuming the stream' : ''}`);
    if (response.body === null || !response.ok || !/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) return response;
    // The SDK resumes a GET stream whenever it ends; a POST stream only after an event id.
    const { status, statusText, headers } = response;
    return new Response(followStream(response.body, watch, resuming), { status, statusText, headers });
  };
}

/** The id of a JSON-RPC `tools/call` request body, if that is what `body` is. */
function callIdOf(body: RequestInit['body']): string | number | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message = JSON.parse(body) as { method?: unknown; id?: unknown };
    return message.method === 'tools/call' && (typeof message.id === 'number' || typeof message.id === 'string') ? message.id : undefined;
  } catch {
    return undefined;
  }
}

/** Passes an event stream through unchanged, reading its events to see whether the call's answer came. */
function followStream(body: ReadableStream<Uint8Array>, watch: CallWatch, resumable: boolean): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let partial: string[] = [];
  let afterCr = false;
  let data: string[] = [];
  let answered = false;
  const dispatch = () => {
    if (data.length === 0 || answered) return void (data = []);
    try {
      const parsed = JSON.parse(data.join('\n')) as unknown;
      for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as { id?: unknown; result?: unknown; error?: unknown }[]) {
        if (m !== null && typeof m === 'object' && m.id === watch.requestId && ('result' in m || 'error' in m)) answered = true;
      }
    } catch {
      // Not JSON: the SDK reports it; it is not the answer.
    }
    data = [];
  };
  const line = (text: string) => {
    if (text === '') dispatch();
    else if (text.startsWith('data:')) data.push(text.slice(text.startsWith('data: ') ? 6 : 5));
    else if (text.startsWith('id:') && text.slice(3).trim() !== '') resumable = true;
  };
  // Server-sent events: lines end in CRLF, LF or CR. Each chunk is scanned once (a long line
  // arriving in many chunks is not rescanned), and a CRLF split across chunks is one line end.
  const feed = (text: string) => {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      if (c === 0x0a && i === 0 && afterCr) {
        start = 1;
        continue;
      }
      partial.push(text.slice(start, i));
      line(partial.join(''));
      partial = [];
      if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      start = i + 1;
    }
    if (text.length > 0) afterCr = text.charCodeAt(text.length - 1) === 0x0d;
    if (start < text.length) partial.push(text.slice(start));
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const closed = error instanceof Error && error.name === 'AbortError';
        if (!answered && !resumable)
          watch.lost(closed ? 'the connection was closed before the server answered' : `the connection broke before the server answered: ${reason(error)}`);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        feed(`${decoder.decode()}\n\n`);
        if (!answered && !resumable) watch.lost('the server ended the stream without answering');
        controller.close();
        return;
      }
      feed(decoder.decode(chunk.value, { stream: true }));
      controller.enqueue(chunk.value);
    },
    cancel: (why) => reader.cancel(why),
  });
}

/**
 * Connects to an HTTP MCP server with the official SDK's client and lists its tools as Buckley
 * tools named `mcp__<server>__<tool>`, each going through the executor's chain like any other.
 * A server that cannot be reached or listed rejects with {@link McpServerError} naming it; a
 * call to a server that went away is an `MCP_SERVER_UNAVAILABLE` failure the model reads.
 *
 * @example
 * ```ts
 * await using docs = await connectMcpHttpServer({ name: 'docs', url: 'http://127.0.0.1:8931/mcp' });
 * for (const tool of docs.tools) registry.register(tool);
 * ```
 */
export async function connectMcpHttpServer(server: McpHttpServer): Promise<McpConnection> {
  if (typeof server?.name !== 'string' || !SERVER_NAME.test(server.name)) {
    throw new McpServerError(
      String(server?.name).slice(0, 40),
      'has an invalid name, expected 1 to 20 of a-z, A-Z, 0-9, _ and - (tools are named mcp__<name>__<tool>)',
    );
  }
  let url: URL;
  try {
    url = new URL(server.url);
  } catch {
    throw new McpServerError(server.name, 'has an invalid url, expected an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new McpServerError(server.name, `has a ${url.protocol} url, expected http:// or https://`);
  if (url.username !== '' || url.password !== '')
    throw new McpServerError(server.name, 'has credentials in its url (user:password@), which would be sent and logged; expected a url without them');
  const label = server.name;
  const client = new Client({ name: 'buckley', version: '0.0.0' });
  const timeout = server.connectTimeoutMs ?? 10_000;
  const calls = new AsyncLocalStorage<CallWatch>();
  let listed;
  try {
    await client.connect(new StreamableHTTPClientTransport(url, { fetch: watchingFetch(calls) }), { timeout });
    listed = await client.listTools(undefined, { timeout });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new McpServerError(server.name, `could not be reached or listed: ${reason(error)}`, { cause: error });
  }
  /** The server's tool as a Buckley tool, or why it is skipped. Every text the model is offered has gone through redact(). */
  const toTool = (remote: McpTool): AnyTool | McpToolSkippedError => {
    const skip = (why: McpToolSkipReason, message: string, cause?: unknown) =>
      new McpToolSkippedError(server.name, redact(remote.name), why, message, cause === undefined ? undefined : { cause });
    const name = `mcp__${label}__${remote.name.replace(SAFE, '_')}`.slice(0, 64);
    // A name reaches the model and every log as it is: one that redact() would change is not offered.
    if (redact(remote.name) !== remote.name || redact(name) !== name) return skip('secret_in_name', 'its name looks like a secret');
    let input: z.ZodType;
    try {
      input = z.fromJSONSchema(redactSchema(remote.inputSchema, 0) as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      if (error instanceof SchemaRefusal) return skip(error.reason, error.message);
      return skip('invalid_input_schema', `its inputSchema is not a JSON Schema Buckley can validate arguments with (${reason(error)})`, error);
    }
    const readOnly = remote.annotations?.readOnlyHint === true;
    try {
      return defineTool({
        name,
        description: redact(remote.description?.trim() ?? '') || `the ${remote.name} tool of MCP server ${server.name}`,
        input,
        readOnly,
        approvalClass: readOnly ? 'read' : 'shell',
        async handler(args, context) {
          const gone = Promise.withResolvers<never>();
          gone.promise.catch(() => undefined);
          let lost: Error | undefined;
          const watch: CallWatch = { requestId: undefined, lost: (why) => gone.reject((lost ??= new Error(why))) };
          // Aborted only when the answer was lost: the SDK then forgets the request instead of waiting for its timeout.
          const forget = new AbortController();
          const signal = AbortSignal.any([context.signal, forget.signal]);
          let result;
          try {
            const call = calls.run(watch, () => client.callTool({ name: remote.name, arguments: args as Record<string, unknown> }, undefined, { signal }));
            result = await Promise.race([call, gone.promise]);
          } catch (error) {
            if (context.signal.aborted) throw error;
            if (error === lost) forget.abort(error);
            return toolFailure('MCP_SERVER_UNAVAILABLE', `MCP server ${JSON.stringify(server.name)} failed the call to ${remote.name}: ${reason(error)}`, {
              server: server.name,
            });
          }
          const content = Array.isArray(result.content) ? result.content : [];
          const text = content.map((c: { type?: string; text?: string }) => (c.type === 'text' ? (c.text ?? '') : `[${c.type ?? 'content'}]`)).join('\n');
          if (result.isError === true) return toolFailure('MCP_TOOL_ERROR', text || `${remote.name} failed`, { server: server.name });
          return result.structuredContent === undefined ? { text } : { text, structured: result.structuredContent as never };
        },
      });
    } catch (error) {
      return skip('invalid_definition', `it is not a tool Buckley can offer (${reason(error)})`, error);
    }
  };
  const tools: AnyTool[] = [];
  const skipped: McpToolSkippedError[] = [];
  const seen = new Map<string, string>();
  for (const remote of listed.tools) {
    const tool = toTool(remote);
    if (tool instanceof McpToolSkippedError) {
      skipped.push(tool);
      continue;
    }
    const other = seen.get(tool.name);
    if (other !== undefined) {
      await client.close().catch(() => undefined);
      throw new McpServerError(
        server.name,
        `lists tools ${JSON.stringify(redact(other))} and ${JSON.stringify(redact(remote.name))}, which both become ${JSON.stringify(tool.name)}`,
      );
    }
    seen.set(tool.name, remote.name);
    tools.push(tool);
  }

  const close = () => client.close();
  return { name: server.name, tools, skipped, close, [Symbol.asyncDispose]: close };
}
