// Model client streaming overhead: @buckley/model's OpenAI-compatible client against a raw
// `fetch` that reads and decodes the same SSE stream by hand, and against the `openai` client
// alone, all on the fake model server at zero latency in the same run (interleaved rounds).
// Reports time to first token (p50, p90) and chunks/s. A realistic turn: 300 text chunks of a
// few tokens each, then one tool call whose arguments arrive in 40 pieces, then usage.
// Iterations: BENCH_MODEL_ITERATIONS (default 300 per client).
import { loadavg } from 'node:os';
import { createOpenAiModelClient } from '@buckley/model';
import { type FakeCompletion, startFakeModelServer } from '@buckley/testing';
import OpenAI from 'openai';
import { latencyStats, report } from './harness.js';

const iterations = Number(process.env['BENCH_MODEL_ITERATIONS'] ?? 300);
const words = 'the quick brown fox reads src/index.ts and then runs the tests before it edits anything'.split(' ');
const text = Array.from({ length: 300 }, (_, i) => `${words[i % words.length]} `);
const args = JSON.stringify({ path: 'packages/model/src/openai-model-client.ts', start: 1, end: 200, reason: 'x'.repeat(160) });
const argPieces = args.match(/.{1,6}/gs)!.slice(0, 40);
const reply: FakeCompletion = {
  text,
  toolCalls: [{ id: 'call_1', name: 'read_file', arguments: [...argPieces, args.slice(argPieces.join('').length)] }],
  usage: { prompt_tokens: 1500, completion_tokens: 400 },
};
const pieces = text.length + argPieces.length + 1;
const body = { model: 'bench-1', messages: [{ role: 'user', content: 'open the file' }], stream: true, stream_options: { include_usage: true } };

interface Sample {
  ttft: number;
  total: number;
}

async function raw(url: string): Promise<Sample> {
  const start = performance.now();
  const res = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-key' },
    body: JSON.stringify(body),
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let ttft = -1;
  let content = '';
  let argsText = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices: Array<{ delta: { content?: string; tool_calls?: Array<{ function?: { arguments?: string } }> } }> };
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) {
        if (ttft < 0) ttft = performance.now() - start;
        content += delta.content;
      }
      for (const call of delta?.tool_calls ?? []) argsText += call.function?.arguments ?? '';
    }
  }
  JSON.parse(argsText);
  if (content.length === 0) throw new Error('raw: no content');
  return { ttft, total: performance.now() - start };
}

async function viaOpenAi(client: OpenAI): Promise<Sample> {
  const start = performance.now();
  const stream = await client.chat.completions.create({
    model: 'bench-1',
    messages: [{ role: 'user', content: 'open the file' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let ttft = -1;
  let argsText = '';
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta;
    if (delta?.content && ttft < 0) ttft = performance.now() - start;
    for (const call of delta?.tool_calls ?? []) argsText += call.function?.arguments ?? '';
  }
  JSON.parse(argsText);
  return { ttft, total: performance.now() - start };
}

export default async function bench(): Promise<void> {
  await using server = await startFakeModelServer({ script: () => reply, maxRecordedRequests: 1 });
  const ours = createOpenAiModelClient({
    config: { baseUrl: server.url, apiKeyEnv: 'BENCH_KEY', id: 'bench-1', prices: [{ model: 'bench-1', input: 1, output: 2 }] },
    env: { BENCH_KEY: 'sk-bench-key' },
    onObservation: () => undefined,
  });
  const openai = new OpenAI({ apiKey: 'sk-bench-key', baseURL: server.url, maxRetries: 0, logLevel: 'off' });
  const buckley = async (): Promise<Sample> => {
    const start = performance.now();
    let ttft = -1;
    for await (const event of ours.chat({ messages: [{ role: 'user', content: 'open the file' }] })) {
      if (event.type === 'text' && ttft < 0) ttft = performance.now() - start;
      if (event.type === 'done' && event.result.toolCalls.length !== 1) throw new Error('buckley: tool call lost');
    }
    return { ttft, total: performance.now() - start };
  };
  const runners = { raw: () => raw(server.url), openai: () => viaOpenAi(openai), buckley } as const;
  const samples: Record<keyof typeof runners, Sample[]> = { raw: [], openai: [], buckley: [] };
  for (let i = 0; i < 30; i++) for (const run of Object.values(runners)) await run();
  const loadBefore = loadavg();
  // Interleaved rounds, so drift in machine load hits every client alike.
  for (let i = 0; i < iterations; i++) {
    for (const [name, run] of Object.entries(runners) as Array<[keyof typeof runners, () => Promise<Sample>]>) samples[name].push(await run());
  }
  const loadAfter = loadavg();
  await ours.close();

  const stats = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => {
      const ttft = latencyStats(s.map((x) => x.ttft));
      const total = latencyStats(s.map((x) => x.total));
      return [name, { ttft, total, chunksPerSecond: pieces / (total.p50 / 1000) }];
    }),
  ) as Record<keyof typeof runners, { ttft: ReturnType<typeof latencyStats>; total: ReturnType<typeof latencyStats>; chunksPerSecond: number }>;
  const { raw: r, openai: o, buckley: b } = stats;
  report(
    'model',
    [
      {
        name: 'time to first token p50, buckley vs raw fetch',
        unit: 'ms',
        value: b.ttft.p50,
        baseline: r.ttft.p50,
        ratio: b.ttft.p50 / r.ttft.p50,
        ratioNote: 'lower is better',
      },
      {
        name: 'time to first token p90, buckley vs raw fetch',
        unit: 'ms',
        value: b.ttft.p90,
        baseline: r.ttft.p90,
        ratio: b.ttft.p90 / r.ttft.p90,
        ratioNote: 'lower is better',
      },
      {
        name: 'time to first token p50, openai client vs raw fetch',
        unit: 'ms',
        value: o.ttft.p50,
        baseline: r.ttft.p50,
        ratio: o.ttft.p50 / r.ttft.p50,
        ratioNote: 'lower is better',
      },
      {
        name: 'chunks/s (at p50 stream time), buckley vs raw fetch',
        unit: 'chunks/s',
        value: b.chunksPerSecond,
        baseline: r.chunksPerSecond,
        ratio: b.chunksPerSecond / r.chunksPerSecond,
      },
      {
        name: 'chunks/s (at p50 stream time), openai client vs raw fetch',
        unit: 'chunks/s',
        value: o.chunksPerSecond,
        baseline: r.chunksPerSecond,
        ratio: o.chunksPerSecond / r.chunksPerSecond,
      },
      {
        name: 'whole stream p50, buckley vs openai client',
        unit: 'ms',
        value: b.total.p50,
        baseline: o.total.p50,
        ratio: b.total.p50 / o.total.p50,
        ratioNote: 'lower is better',
      },
    ],
    { iterations, chunksPerStream: pieces, loadavgBefore: loadBefore, loadavgAfter: loadAfter, stats },
  );
}
