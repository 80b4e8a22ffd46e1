import { PassThrough } from 'node:stream';
import { createInMemoryEventStore } from '@buckley/events';
import { createLogger } from '@buckley/logging';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { createLoggingHooks, createRecorder, createTracing } from './index.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    stream,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logging hooks', () => {
  it('a log line written inside an operation carries its attribution and span, and joins its events', async () => {
    await using store = createInMemoryEventStore();
    const exporter = new InMemorySpanExporter();
    await using tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    await using recorder = createRecorder({ store, tracer: tracing.tracer });
    const out = capture();
    const log = createLogger({ stream: out.stream, console: 'json', ...createLoggingHooks({ context: recorder.context }) });
    log.info('outside');
    await recorder.context.run({ sessionId: 's-log', planId: 'p-log', attempt: 3 }, () =>
      recorder.observe({ family: 'task', name: 'build' }, () =>
        recorder.context.run({ taskId: 't-log' }, () =>
          recorder.observe({ family: 'tool.run', name: 'shell' }, async () => log.info('running', { exitCode: 0 })),
        ),
      ),
    );
    await log.close();
    const [outside, inside] = out.lines();
    expect(outside).toEqual({ time: expect.any(String), level: 'info', message: 'outside' });
    const [, toolStarted] = await store.read('session:s-log');
    expect(toolStarted!.type).toBe('tool.run.started');
    const toolSpan = exporter.getFinishedSpans().find((s) => s.name === 'execute_tool shell')!;
    expect(inside).toMatchObject({
      message: 'running',
      exitCode: 0,
      sessionId: 's-log',
      planId: 'p-log',
      taskId: 't-log',
      attempt: 3,
      traceId: toolSpan.spanContext().traceId,
      spanId: toolSpan.spanContext().spanId,
    });
    expect(inside).toMatchObject({ traceId: toolStarted!.metadata.traceId, spanId: toolStarted!.metadata.spanId });
  });

  it('redacts the message and every field with the security redactor, keeping the attribution ids', async () => {
    await using store = createInMemoryEventStore();
    await using recorder = createRecorder({ store });
    const out = capture();
    const log = createLogger({ stream: out.stream, console: 'json', ...createLoggingHooks({ context: recorder.context }) });
    const token = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
    recorder.context.run({ sessionId: 's-red' }, () =>
      log
        .child({ password: 'hunter2-is-long' })
        .warn(`pushing with ${token}`, { headers: { authorization: `token ${token}` }, command: `git push https://x:${token}@example.com` }),
    );
    await log.close();
    const [line] = out.lines();
    const text = JSON.stringify(line);
    expect(text).not.toContain('a1B2c3D4');
    expect(text).not.toContain('hunter2');
    expect(line).toMatchObject({ sessionId: 's-red', message: expect.stringContaining('[REDACTED]'), password: '[REDACTED]' });
  });
});
