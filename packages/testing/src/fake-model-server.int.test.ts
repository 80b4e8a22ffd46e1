import { describe, expect, it } from 'vitest';
import { type FakeResponse, startFakeModelServer } from './fake-model-server.js';

interface Chunk {
  model: string;
  choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }>;
  usage?: Record<string, unknown>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, in order. */
async function events(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));
}

const chat = (extra: Record<string, unknown> = {}) => ({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true, ...extra });

describe('startFakeModelServer', () => {
  it('listens on a free loopback port and records what the client sent', async () => {
    await using a = await startFakeModelServer({ script: [{ text: 'x' }] });
    await using b = await startFakeModelServer({ script: [] });
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(a.port).not.toBe(b.port);
    const res = await post(a.url, chat({ tools: [{ type: 'function', function: { name: 't' } }] }), { authorization: 'Bearer k1' });
    expect(res.status).toBe(200);
    await res.text();
    expect(a.requests).toHaveLength(1);
    expect(a.requests[0]!.path).toBe('/v1/chat/completions');
    expect(a.requests[0]!.headers['authorization']).toBe('Bearer k1');
    expect(a.requests[0]!.body?.tools).toEqual([{ type: 'function', function: { name: 't' } }]);
  });

  it('streams text chunks with a role first, a finish reason and [DONE]', async () => {
    await using server = await startFakeModelServer({ script: [{ text: ['Hel', 'lo'] }] });
    const data = await events(await post(server.url, chat()));
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(chunks.map((c) => c.choices[0]?.delta['content'] ?? null)).toEqual(['Hel', 'lo', null]);
    expect(chunks[0]!.choices[0]!.delta['role']).toBe('assistant');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks[0]!.model).toBe('m1');
  });

  it('sends usage only when stream_options.include_usage is set, and never when usage is null', async () => {
    const reply: FakeResponse = { text: 'a', usage: { prompt_tokens: 7, completion_tokens: 3 } };
    await using server = await startFakeModelServer({ script: [reply, reply, { text: 'a', usage: null }] });
    const without = (await events(await post(server.url, chat()))).slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(without.some((c) => c.usage)).toBe(false);
    const withUsage = (await events(await post(server.url, chat({ stream_options: { include_usage: true } })))).slice(0, -1);
    const last = JSON.parse(withUsage.at(-1)!) as Chunk;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3 });
    const none = (await events(await post(server.url, chat({ stream_options: { include_usage: true } })))).slice(0, -1);
    expect(none.map((d) => JSON.parse(d) as Chunk).some((c) => c.usage)).toBe(false);
  });

  it('splits tool-call arguments across chunks and can leave the arguments out', async () => {
    await using server = await startFakeModelServer({
      script: [
        {
          text: 'checking',
          toolCalls: [
            { name: 'read', arguments: ['{"pa', 'th":"a"}'] },
            { id: null, name: 'now' },
          ],
        },
      ],
    });
    const chunks = (await events(await post(server.url, chat()))).slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    const calls = chunks.flatMap((c) => (c.choices[0]?.delta['tool_calls'] as Array<Record<string, unknown>> | undefined) ?? []);
    expect(calls).toEqual([
      { index: 0, id: 'call_0', type: 'function', function: { name: 'read', arguments: '{"pa' } },
      { index: 0, function: { arguments: 'th":"a"}' } },
      { index: 1, type: 'function', function: { name: 'now' } },
    ]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('streams reasoning in the field the script names', async () => {
    await using server = await startFakeModelServer({ script: [{ reasoning: ['think'], reasoningField: 'reasoning', text: 'ok' }] });
    const chunks = (await events(await post(server.url, chat()))).slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', reasoning: 'think' });
  });

  it('ends without [DONE] when told to', async () => {
    await using server = await startFakeModelServer({ script: [{ text: 'a', done: false }] });
    const data = await events(await post(server.url, chat()));
    expect(data).not.toContain('[DONE]');
    expect((JSON.parse(data.at(-1)!) as Chunk).choices[0]!.finish_reason).toBe('stop');
  });

  it('answers a non-streaming request with one completion object', async () => {
    await using server = await startFakeModelServer({ script: [{ text: ['a', 'b'], toolCalls: [{ name: 't', arguments: ['{', '}'] }] }] });
    const body = (await (await post(server.url, chat({ stream: false }))).json()) as { choices: Array<{ message: Record<string, unknown> }> };
    expect(body.choices[0]!.message).toEqual({
      role: 'assistant',
      content: 'ab',
      tool_calls: [{ id: 'call_0', type: 'function', function: { name: 't', arguments: '{}' } }],
    });
  });

  it('replies with scripted errors, headers and bodies computed from the request', async () => {
    await using server = await startFakeModelServer({
      script: [
        { type: 'error', status: 429, headers: { 'retry-after': '2' } },
        { type: 'error', status: 401, bodyFrom: (r) => ({ error: { message: `bad key ${String(r.headers['authorization'])}` } }) },
      ],
    });
    const limited = await post(server.url, chat());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    const denied = await post(server.url, chat(), { authorization: 'Bearer s3cret' });
    expect(denied.status).toBe(401);
    expect(await denied.text()).toContain('bad key Bearer s3cret');
  });

  it('writes raw chunks verbatim and stops an endless stream when the client goes away', async () => {
    let written = 0;
    function* endless() {
      for (;;) {
        written++;
        yield 'data: {"x":1}\n\n';
      }
    }
    await using server = await startFakeModelServer({
      script: [
        { type: 'raw', chunks: ['data: {not json\n\n'] },
        { type: 'raw', chunks: endless() },
      ],
    });
    expect(await (await post(server.url, chat())).text()).toBe('data: {not json\n\n');
    const res = await post(server.url, chat());
    const reader = res.body!.getReader();
    let bytes = 0;
    while (bytes < 100_000) bytes += (await reader.read()).value!.length;
    await reader.cancel();
    const seen = written;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(written - seen).toBeLessThan(10_000);
  });

  it('delays headers and chunks as scripted', async () => {
    await using server = await startFakeModelServer({ script: [{ text: ['a', 'b', 'c'], headersDelayMs: 60, chunkDelayMs: 30 }] });
    const start = performance.now();
    const res = await post(server.url, chat());
    const headersAt = performance.now() - start;
    await res.text();
    const doneAt = performance.now() - start;
    expect(headersAt).toBeGreaterThanOrEqual(55);
    expect(doneAt - headersAt).toBeGreaterThanOrEqual(100);
  });

  it('drops the connection, before the headers or mid-stream', async () => {
    await using server = await startFakeModelServer({
      script: [{ type: 'disconnect' }, { type: 'disconnect', completion: { text: ['a', 'b', 'c'] }, afterChunks: 1 }],
    });
    await expect(post(server.url, chat())).rejects.toThrow('fetch failed');
    const res = await post(server.url, chat());
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow('terminated');
  });

  it('hangs until the client aborts', async () => {
    await using server = await startFakeModelServer({ script: [{ type: 'hang' }] });
    const signal = AbortSignal.timeout(100);
    await expect(fetch(`${server.url}/chat/completions`, { method: 'POST', body: '{}', signal })).rejects.toThrow('timeout');
    expect(server.requests).toHaveLength(1);
  });

  it('says when the script ran out and answers unknown paths with 404', async () => {
    await using server = await startFakeModelServer({ script: [{ text: 'a' }] });
    await (await post(server.url, chat())).text();
    const out = await post(server.url, chat());
    expect(out.status).toBe(500);
    expect(await out.text()).toContain('script exhausted after 1 response(s)');
    const missing = await fetch(`${server.url}/models`);
    expect(missing.status).toBe(404);
    expect(server.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions', '/v1/models']);
  });

  it('uses a script function for every request and can cap what it records', async () => {
    await using server = await startFakeModelServer({ script: (r) => ({ text: `#${r.index}` }), maxRecordedRequests: 2 });
    for (let i = 0; i < 4; i++) await (await post(server.url, chat())).text();
    expect(server.requests.map((r) => r.index)).toEqual([2, 3]);
  });

  it('close() drops open connections and is idempotent', async () => {
    const server = await startFakeModelServer({ script: [{ type: 'hang' }] });
    const pending = post(server.url, chat());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close();
    await server.close();
    await expect(pending).rejects.toThrow('fetch failed');
    await expect(post(server.url, chat())).rejects.toThrow('fetch failed');
  });
});
