import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { redact } from '@buckley/security';
import { z } from 'zod';
import { type AnyTool, defineTool, toolFailure } from './tool.js';
import { McpServerError } from './tools-errors.js';

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
  close(): Promise<void>;
}

const SAFE = /[^a-zA-Z0-9_-]/g;
const SERVER_NAME = /^[a-zA-Z0-9_-]{1,20}$/;

/** The SDK's error text, with anything secret-shaped (a URL's password, a token) masked. */
function reason(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
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
  let listed;
  try {
    await client.connect(new StreamableHTTPClientTransport(url), { timeout });
    listed = await client.listTools(undefined, { timeout });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new McpServerError(server.name, `could not be reached or listed: ${reason(error)}`, { cause: error });
  }
  const tools = listed.tools.map((remote) => {
    let input: z.ZodType;
    try {
      input = z.fromJSONSchema(remote.inputSchema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch {
      input = z.looseObject({});
    }
    const readOnly = remote.annotations?.readOnlyHint === true;
    return defineTool({
      name: `mcp__${label}__${remote.name.replace(SAFE, '_')}`.slice(0, 64),
      description: remote.description?.trim() || `the ${remote.name} tool of MCP server ${server.name}`,
      input,
      readOnly,
      approvalClass: readOnly ? 'read' : 'shell',
      async handler(args, context) {
        let result;
        try {
          result = await client.callTool({ name: remote.name, arguments: args as Record<string, unknown> }, undefined, { signal: context.signal });
        } catch (error) {
          if (context.signal.aborted) throw error;
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
  });
  const seen = new Map<string, string>();
  for (const [i, tool] of tools.entries()) {
    const remote = listed.tools[i]!.name;
    const other = seen.get(tool.name);
    if (other !== undefined) {
      await client.close().catch(() => undefined);
      throw new McpServerError(
        server.name,
        `lists tools ${JSON.stringify(other)} and ${JSON.stringify(remote)}, which both become ${JSON.stringify(tool.name)}`,
      );
    }
    seen.set(tool.name, remote);
  }
  const close = () => client.close();
  return { name: server.name, tools, close, [Symbol.asyncDispose]: close };
}
