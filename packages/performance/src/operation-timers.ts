import {
  type AttributionContext,
  BuckleyAttribute,
  GenAiAttribute,
  InvalidObservabilityOptionError,
  type ObservabilityMetrics,
  createAttributionContext,
  outcomeOfError,
} from '@buckley/observability';
import { ROOT_CONTEXT, type Span, SpanStatusCode, TraceFlags, type Tracer, context as otelContext, isSpanContextValid, trace } from '@opentelemetry/api';
import { Histogram } from 'prom-client';

/** How a timed operation ended (the event log's outcome vocabulary). */
type Outcome = 'success' | ReturnType<typeof outcomeOfError>;

/** The histogram every timer of a registry feeds. */
export const OPERATION_DURATION_METRIC = 'buckley_operation_duration_seconds';

/** Default buckets, in seconds: internal operations run from tens of microseconds to seconds. */
export const OPERATION_DURATION_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Options of {@link createOperationTimers}. */
export interface OperationTimersOptions {
  /**
   * The metrics of `@buckley/observability`: the histogram goes on their registry (no second
   * registry), and operation names pass their `label()` (redacted, at most `maxLabelValues`
   * distinct names, later ones counted as `_other`).
   */
  readonly metrics: ObservabilityMetrics;
  /** Tracer of one span per timed operation (e.g. `createTracing().tracer`); omit for none. */
  readonly tracer?: Tracer | undefined;
  /**
   * The attribution context spans are parented through: a timer's span is the child of the
   * context's `traceId`/`spanId`, and `time()` runs its function with them set to its own span,
   * so a recorder's `observe()` inside it (give `recorder.context`) makes child spans and events
   * that carry the timer's span. Default a context of these timers only.
   */
  readonly context?: AttributionContext;
  /**
   * Histogram buckets in seconds, strictly increasing. Only used by the first timers created
   * on a registry: later ones share its histogram. Default {@link OPERATION_DURATION_BUCKETS}.
   */
  readonly buckets?: readonly number[];
}

/** A started timer: end it once. */
export interface OperationTimer {
  /**
   * Records the duration under `outcome` (default `success`; pass the thrown error for the
   * outcome it stands for) and ends the span. Returns the duration in seconds. A second call
   * records nothing and returns the first duration.
   */
  end(outcome?: Outcome | { readonly error: unknown }): number;
}

/**
 * Timers of internal operations (a store append, a redaction pass, a sandbox start): each
 * observation goes into one histogram, `buckley_operation_duration_seconds{operation,outcome}`,
 * and, with a tracer, into one span; no event is written and no duration is kept in memory.
 * For operations whose every run must be in the event log (tool runs, tasks, agent turns), use
 * the recorder's `observe()` instead.
 */
export interface OperationTimers {
  /** Starts timing `operation` (a bounded name such as `event_store.append`). */
  start(operation: string): OperationTimer;
  /**
   * Times `fn`: resolves or rejects with what it does, recording `success`, or the outcome of
   * the error it threw (`timeout`, `cancelled`, `denied`, `failure`). Spans started inside are
   * children of the operation's span.
   */
  time<T>(operation: string, fn: () => T | Promise<T>): Promise<T>;
}

function checkBuckets(buckets: readonly number[]): number[] {
  const ok = Array.isArray(buckets) && buckets.length > 0 && buckets.every((b, i) => Number.isFinite(b) && b > 0 && (i === 0 || b > buckets[i - 1]!));
  if (!ok) throw new InvalidObservabilityOptionError('buckets', buckets, 'a non-empty, strictly increasing list of positive seconds');
  return [...buckets];
}

/**
 * Creates operation timers on the registry of `metrics`.
 *
 * @example
 * ```ts
 * const timers = createOperationTimers({ metrics, tracer: tracing.tracer });
 * const rows = await timers.time('event_store.read', () => store.read('session:s1'));
 * ```
 */
export function createOperationTimers(options: OperationTimersOptions): OperationTimers {
  const { metrics, tracer } = options;
  if (metrics === undefined || metrics === null || typeof metrics.label !== 'function' || metrics.registry === undefined) {
    throw new InvalidObservabilityOptionError('metrics', metrics, 'the result of createObservabilityMetrics()');
  }
  const buckets = checkBuckets(options.buckets ?? OPERATION_DURATION_BUCKETS);
  const { registry } = metrics;
  const existing = registry.getSingleMetric(OPERATION_DURATION_METRIC);
  if (existing !== undefined && !(existing instanceof Histogram)) {
    throw new InvalidObservabilityOptionError('metrics', existing, `a registry where ${OPERATION_DURATION_METRIC} is free or is the histogram of other timers`);
  }
  const histogram =
    (existing as Histogram<'operation' | 'outcome'> | undefined) ??
    new Histogram<'operation' | 'outcome'>({
      name: OPERATION_DURATION_METRIC,
      help: 'Duration of internal operations by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      buckets,
      registers: [registry],
    });

  const attribution = options.context ?? createAttributionContext();

  const begin = (operation: string): { timer: OperationTimer; span: Span | undefined } => {
    if (typeof operation !== 'string' || operation === '') throw new InvalidObservabilityOptionError('operation', operation, 'a non-empty string');
    const name = metrics.label('operation', operation);
    let span: Span | undefined;
    if (tracer !== undefined) {
      const { traceId, spanId } = attribution.current();
      // Without a registered context manager `otelContext.active()` is always the root: the attribution context carries the parent.
      const parent =
        traceId !== undefined && spanId !== undefined
          ? trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED })
          : otelContext.active();
      span = tracer.startSpan(name, { attributes: { [BuckleyAttribute.operationName]: name } }, parent);
    }
    const started = performance.now();
    let seconds: number | undefined;
    const timer: OperationTimer = {
      end(how = 'success') {
        if (seconds !== undefined) return seconds;
        seconds = (performance.now() - started) / 1000;
        const outcome: Outcome = typeof how === 'string' ? how : outcomeOfError(how.error);
        histogram.observe({ operation: name, outcome }, seconds);
        if (span !== undefined) {
          span.setAttribute(BuckleyAttribute.outcome, outcome);
          span.setAttribute(BuckleyAttribute.durationMs, seconds * 1000);
          if (outcome !== 'success') {
            const code = typeof how === 'object' ? (how.error as { code?: unknown } | null)?.code : undefined;
            span.setAttribute(GenAiAttribute.errorType, outcome === 'failure' && typeof code === 'string' && code !== '' ? code : outcome);
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        }
        return seconds;
      },
    };
    return { timer, span };
  };

  return {
    start: (operation) => begin(operation).timer,
    async time(operation, fn) {
      const { timer, span } = begin(operation);
      try {
        const sc = span?.spanContext();
        const result =
          span === undefined || !isSpanContextValid(sc!)
            ? await fn()
            : await attribution.run({ traceId: sc!.traceId, spanId: sc!.spanId }, () => otelContext.with(trace.setSpan(otelContext.active(), span), fn));
        timer.end('success');
        return result;
      } catch (error) {
        timer.end({ error });
        throw error;
      }
    },
  };
}
