import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@buckley/logging';
import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { BuckleyError } from '@buckley/utils';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OperationDeniedError, createLoggingHooks, createObservabilityMetrics, createRecorder, createTracing } from './index.js';

/** A small OTLP/HTTP receiver: collects the JSON bodies posted to /v1/traces. */
async function startOtlpReceiver() {
  const bodies: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces' && request.method === 'POST') bodies.push(body);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// Distinctive: a GitHub token format, with a core that no redaction marker contains.
const SECRET = 'ghp_PLANTEDzq9XvK7mW2rT5yB8nC4dF6hJ3kL1Q';
const CORE = 'PLANTEDzq9XvK7mW2rT5yB8nC4dF6hJ3kL1Q';

describe('a secret planted in every field an operation can carry', () => {
  it('never reaches the store rows, /metrics, the exported spans (in memory and over OTLP) or the log file', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'buckley-planted-'));
    const receiver = await startOtlpReceiver();
    try {
      await using pgStore = await createTestPostgresEventStore('obs_planted');
      const registry = new Registry();
      const metrics = createObservabilityMetrics({ registry, defaultMetrics: false });
      const exporter = new InMemorySpanExporter();
      const tracing = createTracing({ otlpEndpoint: receiver.url, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      await using recorder = createRecorder({ store: pgStore.store, metrics, tracer: tracing.tracer });
      const logFile = join(dir, 'buckley.jsonl');
      const log = createLogger({ file: logFile, console: 'off', ...createLoggingHooks({ context: recorder.context }) });
      const attribution = { sessionId: 's-planted', planId: 'p-planted', correlationId: `corr-${SECRET}` };
      const name = `shell ${SECRET}`;
      const model = `gpt ${SECRET}`;
      const run = (ending: (signal: AbortSignal) => Promise<unknown>, extra: { timeoutMs?: number; signal?: AbortSignal } = {}) =>
        recorder.context
          .run(attribution, () =>
            recorder.observe(
              { family: 'tool.run', name, modelId: model, input: { command: `curl -H 'x: ${SECRET}'`, token: SECRET, nested: [{ note: SECRET }] }, ...extra },
              async ({ signal }) => {
                log.info(`running with ${SECRET}`, { argument: SECRET, nested: { header: `token ${SECRET}` } });
                return ending(signal);
              },
            ),
          )
          .catch((error: unknown) => log.error(`failed: ${(error as Error).message}`, { error }));

      await run(async () => ({ stdout: `output ${SECRET}`, env: { GITHUB_TOKEN: SECRET } }));
      await run(async () => {
        throw new BuckleyError('TOOL_FAILED', `command printed ${SECRET}`, { cause: new Error(`cause ${SECRET}`) });
      });
      await run(() => new Promise(() => undefined), { timeoutMs: 20 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error(`stopped by ${SECRET}`)), 10);
      await run((signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), { signal: controller.signal });
      await run(async () => {
        throw new OperationDeniedError(`policy refused ${SECRET}`, { rule: `rule ${SECRET}` });
      });
      await recorder.context.run(attribution, async () => {
        await recorder.record({
          type: 'plan.created',
          data: { planId: 'p-planted', goal: `deploy with ${SECRET}`, taskIds: [SECRET] },
          metadata: { note: SECRET },
        } as never);
        await recorder.emit({ type: 'model.call.completed', data: { model, provider: SECRET, inputTokens: 3, outputTokens: 4, prompt: `use ${SECRET}` } });
        await recorder.emit({ type: 'sandbox.violation', data: { rule: SECRET, path: `/home/${SECRET}` } });
        await recorder.emit({ type: 'security.finding', data: { ruleId: SECRET, severity: SECRET, match: SECRET, message: SECRET } });
      });
      await recorder.flush();
      await log.close();
      await tracing.forceFlush();
      // Taken before close: shutting the provider down empties the in-memory exporter.
      const spans = exporter.getFinishedSpans();
      await tracing.close();

      // What was written at all: the test must not pass by writing nothing.
      const { rows } = await pgStore.pg.pool.query<{ row: string }>(
        `SELECT row_to_json(e)::text AS row FROM "${pgStore.pg.schema}".events e UNION ALL SELECT row_to_json(o)::text FROM "${pgStore.pg.schema}".outcomes o`,
      );
      const storeText = rows.map((r) => r.row).join('\n');
      expect(rows.length).toBeGreaterThanOrEqual(14);
      expect(storeText).toContain('tool.run.timed_out');
      expect(storeText).toContain('[REDACTED]');
      const metricsText = await registry.metrics();
      expect(metricsText).toContain('buckley_tool_runs_total{');
      expect(metricsText).toContain('buckley_model_tokens_total{');
      expect(spans).toHaveLength(5);
      const spanText = JSON.stringify(
        spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events, links: s.links, resource: s.resource.attributes })),
      );
      const otlpText = receiver.bodies.join('\n');
      expect(otlpText).toContain('execute_tool');
      const logText = readFileSync(logFile, 'utf8');
      // Four failure lines and a running line per operation that ran (the cancelled one may be aborted before it runs).
      expect(logText.trim().split('\n').length).toBeGreaterThanOrEqual(8);

      for (const [where, text] of Object.entries({ store: storeText, metrics: metricsText, spans: spanText, otlp: otlpText, log: logText })) {
        const leaks = [CORE, CORE.slice(0, 16), CORE.slice(-16)].flatMap((part) => {
          const at = text.indexOf(part);
          return at < 0 ? [] : [text.slice(Math.max(0, at - 80), at + 60)];
        });
        expect({ where, leaks }).toEqual({ where, leaks: [] });
      }
    } finally {
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OTLP export', () => {
  it('sends the spans over OTLP/HTTP to a receiver, with the GenAI attributes', { timeout: 30_000 }, async () => {
    const receiver = await startOtlpReceiver();
    try {
      const { createInMemoryEventStore } = await import('@buckley/events');
      await using store = createInMemoryEventStore();
      const tracing = createTracing({ otlpEndpoint: receiver.url, serviceName: 'buckley-test' });
      await using recorder = createRecorder({ store, tracer: tracing.tracer });
      await recorder.context.run({ sessionId: 's-otlp', planId: 'p-otlp', attempt: 2 }, () =>
        recorder.observe({ family: 'tool.run', name: 'read_file', operationId: 'call-1', modelId: 'gpt-test' }, async () => 'text'),
      );
      const [started] = await store.read('session:s-otlp');
      await tracing.close();
      expect(receiver.bodies.length).toBeGreaterThan(0);
      type Value = { stringValue?: string; intValue?: number | string };
      type OtlpSpan = { traceId: string; spanId: string; name: string; attributes: Array<{ key: string; value: Value }> };
      const body = JSON.parse(receiver.bodies[0]!) as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: Value }> }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      const [resourceSpans] = body.resourceSpans;
      expect(resourceSpans!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'buckley-test' } });
      const span = resourceSpans!.scopeSpans.flatMap((s) => s.spans).find((s) => s.name === 'execute_tool read_file')!;
      const attributes = Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]));
      expect(attributes).toMatchObject({
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'read_file',
        'gen_ai.tool.call.id': 'call-1',
        'gen_ai.request.model': 'gpt-test',
        'gen_ai.conversation.id': 's-otlp',
        'buckley.plan.id': 'p-otlp',
        'buckley.attempt': 2,
        'buckley.outcome': 'success',
      });
      // The event and the exported span join on the trace and span ids.
      expect(span.traceId).toBe(started!.metadata.traceId);
      expect(span.spanId).toBe(started!.metadata.spanId);
    } finally {
      await receiver.close();
    }
  });
});
