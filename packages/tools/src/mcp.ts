import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
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
  const label = server.name.replace(SAFE, '_').slice(0, 20);
  const client = new Client({ name: 'buckley', version: '0.0.0' });
  const timeout = server.connectTimeoutMs ?? 10_000;
  let listed;
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)), { timeout });
    listed = await client.listTools(undefined, { timeout });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new McpServerError(server.name, `could not be reached or listed: ${(error as Error).message}`, { cause: error });
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
          return toolFailure(
            'MCP_SERVER_UNAVAILABLE',
            `MCP server ${JSON.stringify(server.name)} failed the call to ${remote.name}: ${(error as Error).message}`,
            {
              server: server.name,
            },
          );
        }
        const content = Array.isArray(result.content) ? result.content : [];
        const text = content.map((c: { type?: string; text?: string }) => (c.type === 'text' ? (c.text ?? '') : `[${c.type ?? 'content'}]`)).join('\n');
        if (result.isError === true) return toolFailure('MCP_TOOL_ERROR', text || `${remote.name} failed`, { server: server.name });
        return result.structuredContent === undefined ? { text } : { text, structured: result.structuredContent as never };
      },
    });
  });
  const close = () => client.close();
  return { name: server.name, tools, close, [Symbol.asyncDispose]: close };
}
