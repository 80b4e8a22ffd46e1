import type { EventStore, StoredEvent } from '@buckley/events';
import { BuckleyError, ClosedError, isClosedError } from '@buckley/utils';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OperationDeniedError, createObservabilityMetrics, createRecorder, createTracing } from './index.js';

/** One row of the outcome matrix: how the operation ends and what the end event must say. */
interface Row {
  readonly outcome: 'success' | 'failure' | 'timeout' | 'cancelled' | 'denied';
  readonly type: string;
  readonly run: (signal: AbortSignal) => Promise<unknown>;
  readonly timeoutMs?: number;
  readonly abortAfterMs?: number;
  readonly data: Record<string, unknown>;
  readonly rejects?: Record<string, unknown>;
  readonly minDurationMs: number;
  /** `error.type` of the span; none on success. */
  readonly errorType?: string;
}

const rows: Row[] = [
  {
    outcome: 'success',
    type: 'tool.run.completed',
    run: async () => ({ exitCode: 0, stdout: 'ok' }),
    data: { output: { exitCode: 0, stdout: 'ok' } },
    minDurationMs: 0,
  },
  {
    outcome: 'failure',
    type: 'tool.run.failed',
    run: async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new BuckleyError('TOOL_EXIT_NONZERO', 'command exited with 2', { retryable: true });
    },
    data: { errorCode: 'TOOL_EXIT_NONZERO', message: 'command exited with 2', retryable: true },
    rejects: { code: 'TOOL_EXIT_NONZERO' },
    errorType: 'TOOL_EXIT_NONZERO',
    minDurationMs: 3,
  },
  {
    // The operation ignores its signal: the deadline still ends it.
    outcome: 'timeout',
    type: 'tool.run.timed_out',
    run: () => new Promise(() => undefined),
    timeoutMs: 40,
    data: { timeoutMs: 40 },
    rejects: { code: 'TIMEOUT', retryable: true },
    errorType: 'timeout',
    minDurationMs: 35,
  },
  {
    outcome: 'cancelled',
    type: 'tool.run.cancelled',
    run: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    abortAfterMs: 20,
    data: { reason: 'user pressed stop' },
    rejects: { message: 'user pressed stop' },
    errorType: 'cancelled',
    // The abort timer starts with the operation (20 ms); timers may fire a little early.
    minDurationMs: 15,
  },
  {
    outcome: 'denied',
    type: 'tool.run.denied',
    run: async () => {
      throw new OperationDeniedError('network access is off', { rule: 'network_disabled' });
    },
    data: { reason: 'network access is off', rule: 'network_disabled' },
    rejects: { code: 'OPERATION_DENIED' },
    errorType: 'denied',
    minDurationMs: 0,
  },
];

/**
 * The outcome matrix of `observe()`: for each of the five ways an operation ends, the stored
 * start and end events carry every attribution field, the trace and span of the exported span,
 * the duration and the error detail. Run on every store adapter.
 */
export function describeObserveMatrix(name: string, create: () => Promise<{ store: EventStore; close(): Promise<void> }>): void {
  describe(`observe() outcome matrix: ${name}`, () => {
    for (const writes of ['awaited', 'batched'] as const) {
      for (const row of rows) {
        it(`${row.outcome} (${writes} writes): start and end events carry the attribution, the span, the duration and the detail`, async () => {
          const { store, close } = await create();
          const exporter = new InMemorySpanExporter();
          const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
          const registry = new Registry();
          const metrics = createObservabilityMetrics({ registry, defaultMetrics: false });
          const recorder = createRecorder({ store, tracer: tracing.tracer, metrics, operationWrites: writes, writer: { flushIntervalMs: 5 } });
          try {
            const session = `s-${crypto.randomUUID()}`;
            const attribution = { sessionId: session, planId: 'plan-1', taskId: 'task-7', experimentId: 'exp-3', attempt: 2, correlationId: 'corr-9' };
            const controller = new AbortController();
            const settled = await recorder.context
              .run(attribution, () =>
                recorder.observe(
                  { family: 'tool.run', name: 'shell', modelId: 'gpt-test', input: { command: 'ls -la' }, timeoutMs: row.timeoutMs, signal: controller.signal },
                  ({ signal }) => {
                    // The abort timer starts with the operation, so the duration is never cut by a slow start under load.
                    if (row.abortAfterMs !== undefined) setTimeout(() => controller.abort(new Error('user pressed stop')), row.abortAfterMs);
                    return row.run(signal);
                  },
                ),
              )
              .then(
                (value) => ({ ok: true as const, value }),
                (error: unknown) => ({ ok: false as const, error }),
              );
            expect(settled).toMatchObject(row.rejects ? { ok: false, error: row.rejects } : { ok: true, value: { exitCode: 0, stdout: 'ok' } });
            await recorder.flush();

            const events: StoredEvent[] = await store.read(`session:${session}`);
            expect(events.map((e) => e.type)).toEqual(['tool.run.started', row.type]);
            const [spanData] = exporter.getFinishedSpans();
            expect(exporter.getFinishedSpans()).toHaveLength(1);
            expect(spanData!.name).toBe('execute_tool shell');
            const { traceId, spanId } = spanData!.spanContext();
            for (const e of events) {
              expect(e.metadata).toMatchObject({ ...attribution, toolName: 'shell', modelId: 'gpt-test', traceId, spanId });
              expect(e.data).toMatchObject({ name: 'shell' });
            }
            const [start, end] = events as [StoredEvent, StoredEvent];
            expect(start.data).toMatchObject({ input: { command: 'ls -la' } });
            expect(end.data.operationId).toBe(start.data.operationId);
            expect(end.metadata.outcome).toBe(row.outcome);
            expect(end.metadata.durationMs).toBe(end.data.durationMs);
            expect(end.metadata.durationMs).toBeGreaterThanOrEqual(row.minDurationMs);
            expect(end.data).toMatchObject(row.data);

            expect(spanData!.attributes).toMatchObject({
              'gen_ai.operation.name': 'execute_tool',
              'gen_ai.tool.name': 'shell',
              'gen_ai.tool.call.id': start.data.operationId,
              'gen_ai.conversation.id': session,
              'gen_ai.request.model': 'gpt-test',
              'buckley.plan.id': 'plan-1',
              'buckley.task.id': 'task-7',
              'buckley.attempt': 2,
              'buckley.outcome': row.outcome,
            });
            expect(spanData!.attributes['error.type']).toBe(row.errorType);

            const text = await registry.metrics();
            expect(text).toContain(`buckley_tool_runs_total{tool="shell",outcome="${row.outcome}"} 1`);
            expect(text).toContain(`buckley_tool_run_duration_seconds_count{tool="shell",outcome="${row.outcome}"} 1`);
            expect(text).not.toContain(session);
          } finally {
            await recorder.close();
            await tracing.close();
            await close();
          }
        });
      }
    }

    it('after close() the recorder refuses observe and record with ClosedError and writes nothing', async () => {
      const { store, close } = await create();
      try {
        const recorder = createRecorder({ store });
        await recorder.close();
        await recorder.close();
        const session = `s-${crypto.randomUUID()}`;
        let ran = false;
        const observed = await recorder.context
          .run({ sessionId: session }, () =>
            recorder.observe({ family: 'tool.run', name: 'read_file' }, () => {
              ran = true;
            }),
          )
          .catch((e: unknown) => e);
        expect(observed).toBeInstanceOf(ClosedError);
        expect(observed).toMatchObject({ code: 'CLOSED', resource: 'recorder' });
        expect(ran).toBe(false);
        const recorded = await recorder.context
          .run({ sessionId: session }, () => recorder.record({ type: 'plan.created', data: {} } as never))
          .catch((e: unknown) => e);
        expect(isClosedError(recorded)).toBe(true);
        expect(await store.read(`session:${session}`)).toEqual([]);
      } finally {
        await close();
      }
    });

    it('a nested operation inherits the attribution and the trace, under its own span', async () => {
      const { store, close } = await create();
      const exporter = new InMemorySpanExporter();
      await using tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      await using recorder = createRecorder({ store, tracer: tracing.tracer });
      try {
        const session = `s-${crypto.randomUUID()}`;
        await recorder.context.run({ sessionId: session, planId: 'p' }, () =>
          recorder.observe({ family: 'agent.turn', name: 'coder' }, () =>
            recorder.context.run({ taskId: 't' }, () => recorder.observe({ family: 'tool.run', name: 'read_file' }, async () => 'text')),
          ),
        );
        const events = await store.read(`session:${session}`);
        expect(events.map((e) => e.type)).toEqual(['agent.turn.started', 'tool.run.started', 'tool.run.completed', 'agent.turn.completed']);
        const spans = exporter.getFinishedSpans();
        const tool = spans.find((s) => s.name === 'execute_tool read_file')!;
        const turn = spans.find((s) => s.name === 'invoke_agent coder')!;
        expect(tool.parentSpanContext?.spanId).toBe(turn.spanContext().spanId);
        expect(tool.spanContext().traceId).toBe(turn.spanContext().traceId);
        expect(events[1]!.metadata).toMatchObject({
          sessionId: session,
          planId: 'p',
          taskId: 't',
          traceId: turn.spanContext().traceId,
          spanId: tool.spanContext().spanId,
        });
        expect(events[0]!.metadata).toMatchObject({ spanId: turn.spanContext().spanId });
        expect(events[0]!.metadata.taskId).toBeUndefined();
      } finally {
        await close();
      }
    });
  });
}
