import { createInMemoryEventStore } from '@buckley/events';
import { OperationDeniedError, createObservabilityMetrics, createRecorder, createTracing, isObservabilityError } from '@buckley/observability';
import { rejected, thrown } from '@buckley/testing';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OPERATION_DURATION_METRIC, createOperationTimers } from './index.js';

const setup = (maxLabelValues?: number) => {
  const registry = new Registry();
  const metrics = createObservabilityMetrics({ registry, defaultMetrics: false, ...(maxLabelValues !== undefined ? { maxLabelValues } : {}) });
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { registry, metrics, exporter, tracing, timers: createOperationTimers({ metrics, tracer: tracing.tracer }) };
};

/** `_count` of the histogram per `operation,outcome`. */
async function counts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric(OPERATION_DURATION_METRIC)!.get();
  const out: Record<string, number> = {};
  for (const v of metric.values)
    if ((v as { metricName?: string }).metricName === `${OPERATION_DURATION_METRIC}_count`) out[`${v.labels.operation},${v.labels.outcome}`] = v.value;
  return out;
}

describe('createOperationTimers', () => {
  it('records each way an operation ends under its outcome, on the observability registry, with a span', async () => {
    const { registry, exporter, tracing, timers } = setup();
    await expect(timers.time('store.append', async () => 42)).resolves.toBe(42);
    const failure = Object.assign(new Error('disk full'), { code: 'STORE_FAILED' });
    expect(await rejected(timers.time('store.append', async () => Promise.reject(failure)))).toBe(failure);
    await rejected(timers.time('store.append', () => Promise.reject(Object.assign(new Error('late'), { code: 'TIMEOUT' }))));
    await rejected(timers.time('store.append', () => Promise.reject(new DOMException('stop', 'AbortError'))));
    await rejected(timers.time('store.append', () => Promise.reject(new OperationDeniedError('no', { rule: 'network_disabled' }))));
    expect(await counts(registry)).toEqual({
      'store.append,success': 1,
      'store.append,failure': 1,
      'store.append,timeout': 1,
      'store.append,cancelled': 1,
      'store.append,denied': 1,
    });
    await tracing.forceFlush();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.attributes['buckley.outcome'])).toEqual(['success', 'failure', 'timeout', 'cancelled', 'denied']);
    expect(spans.map((s) => s.attributes['error.type'])).toEqual([undefined, 'STORE_FAILED', 'timeout', 'cancelled', 'denied']);
    expect(spans.every((s) => s.name === 'store.append' && typeof s.attributes['buckley.duration_ms'] === 'number')).toBe(true);
    await tracing.close();
  });

  it('spans started inside time() are children of the operation span', async () => {
    const { exporter, tracing, timers } = setup();
    await timers.time('outer', async () => {
      trace.getTracer('t').startSpan('never-recorded').end(); // a global no-op tracer: not ours
      await timers.time('inner', async () => undefined);
    });
    await tracing.forceFlush();
    const [inner, outer] = exporter.getFinishedSpans();
    expect(inner!.name).toBe('inner');
    expect(inner!.parentSpanContext?.spanId).toBe(outer!.spanContext().spanId);
    expect(inner!.spanContext().traceId).toBe(outer!.spanContext().traceId);
    await tracing.close();
  });

  it("with the recorder's context, observe() inside time() is its child span, and its events carry the timer's trace", async () => {
    const { metrics, exporter, tracing } = setup();
    await using store = createInMemoryEventStore();
    await using recorder = createRecorder({ store, metrics, tracer: tracing.tracer });
    const timers = createOperationTimers({ metrics, tracer: tracing.tracer, context: recorder.context });
    await recorder.context.run({ sessionId: 's1' }, () =>
      timers.time('turn.prepare', () => recorder.observe({ family: 'tool.run', name: 'read_file' }, () => 'ok')),
    );
    await tracing.forceFlush();
    const [tool, timer] = exporter.getFinishedSpans();
    expect(timer!.name).toBe('turn.prepare');
    expect(tool!.parentSpanContext?.spanId).toBe(timer!.spanContext().spanId);
    const events = await store.read('session:s1');
    expect(events.map((e) => e.type)).toEqual(['tool.run.started', 'tool.run.completed']);
    expect(events.every((e) => e.metadata.traceId === timer!.spanContext().traceId)).toBe(true);
    await tracing.close();
  });

  it('start()/end(): the measured duration, the outcome of an error, and a second end() records nothing', async () => {
    const { registry, timers } = setup();
    const timer = timers.start('sandbox.start');
    await new Promise((r) => setTimeout(r, 30));
    const seconds = timer.end({ error: Object.assign(new Error('x'), { code: 'TIMEOUT' }) });
    expect(seconds).toBeGreaterThanOrEqual(0.025);
    expect(seconds).toBeLessThan(5);
    expect(timer.end('success')).toBe(seconds);
    expect(await counts(registry)).toEqual({ 'sandbox.start,timeout': 1 });
  });

  it('bounds and redacts operation names: a secret never reaches /metrics or a span, and past maxLabelValues names are _other', async () => {
    const { registry, exporter, tracing, timers } = setup(2);
    const secret = ['ghp', 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'].join('_');
    await timers.time(`fetch ${secret}`, async () => undefined);
    await timers.time('b', async () => undefined);
    for (let i = 0; i < 1000; i++) await timers.time(`op-${i}`, async () => undefined);
    const text = await registry.metrics();
    expect(text).not.toContain(secret);
    await tracing.forceFlush();
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => [s.name, s.attributes]))).not.toContain(secret);
    const c = await counts(registry);
    expect(Object.keys(c)).toHaveLength(3);
    expect(c['_other,success']).toBe(1000);
    await tracing.close();
  });

  it('timers on the same registry share one histogram; none is made on the global registry', async () => {
    const { registry, metrics } = setup();
    const a = createOperationTimers({ metrics });
    const b = createOperationTimers({ metrics });
    await a.time('x', () => 1);
    await b.time('x', () => 2);
    expect(await counts(registry)).toEqual({ 'x,success': 2 });
    const { register } = await import('prom-client');
    expect(register.getSingleMetric(OPERATION_DURATION_METRIC)).toBeUndefined();
  });

  it('refuses bad options and names with a code, without quoting the value', () => {
    const { metrics } = setup();
    for (const bad of [[], [0.1, 0.1], [-1], [Number.NaN]]) {
      const error = thrown(() => createOperationTimers({ metrics, buckets: bad }));
      expect(isObservabilityError(error, 'INVALID_OBSERVABILITY_OPTION')).toBe(true);
    }
    expect(
      isObservabilityError(
        thrown(() => createOperationTimers({ metrics: {} as never })),
        'INVALID_OBSERVABILITY_OPTION',
      ),
    ).toBe(true);
    const timers = createOperationTimers({ metrics });
    expect(
      isObservabilityError(
        thrown(() => timers.start('')),
        'INVALID_OBSERVABILITY_OPTION',
      ),
    ).toBe(true);
  });
});
