import { getHeapStatistics } from 'node:v8';
import { InvalidObservabilityOptionError, type ObservabilityMetrics } from '@buckley/observability';
import { Counter, Gauge } from 'prom-client';

/** The metric names the sampler registers (none of them is in prom-client's default metrics). */
export const RUNTIME_SAMPLER_METRICS = {
  /** Counter: seconds the event loop spent busy; `rate()` of it is the event-loop utilization (0 to 1). */
  eventLoopBusy: 'buckley_event_loop_busy_seconds_total',
  /** Gauge: V8's heap size limit (`--max-old-space-size`), to alert on `nodejs_heap_size_used_bytes` near it. */
  heapLimit: 'buckley_heap_limit_bytes',
  /** Gauge: memory of `ArrayBuffer`s and `Buffer`s (part of `nodejs_external_memory_bytes`). */
  arrayBuffers: 'buckley_array_buffers_bytes',
} as const;

/** One reading of the process, for an event or a log line. */
export interface RuntimeSample {
  /** Share of wall time the event loop was busy since the previous `sample()` (or creation), 0 to 1. */
  readonly eventLoopUtilization: number;
  readonly heapUsedBytes: number;
  readonly heapLimitBytes: number;
  readonly rssBytes: number;
  readonly arrayBuffersBytes: number;
}

/** Options of {@link createRuntimeSampler}. */
export interface RuntimeSamplerOptions {
  /** The metrics of `@buckley/observability`; the sampler's metrics go on their registry. */
  readonly metrics: ObservabilityMetrics;
}

/**
 * The process readings prom-client's `collectDefaultMetrics` leaves out. Its metrics are read
 * when the registry is scraped (no timer runs); {@link sample} reads the same values on demand.
 */
export interface RuntimeSampler extends Disposable {
  sample(): RuntimeSample;
  /** Removes the sampler's metrics from the registry. Idempotent. */
  close(): void;
}

/**
 * Registers the sampler's metrics ({@link RUNTIME_SAMPLER_METRICS}) on the registry of
 * `metrics`. One sampler per registry.
 *
 * @example
 * ```ts
 * using sampler = createRuntimeSampler({ metrics });
 * const { eventLoopUtilization, heapUsedBytes } = sampler.sample();
 * ```
 */
export function createRuntimeSampler(options: RuntimeSamplerOptions): RuntimeSampler {
  const metrics = options?.metrics;
  if (metrics === undefined || metrics === null || metrics.registry === undefined) {
    throw new InvalidObservabilityOptionError('metrics', metrics, 'the result of createObservabilityMetrics()');
  }
  const { registry } = metrics;
  const names = Object.values(RUNTIME_SAMPLER_METRICS);
  if (names.some((name) => registry.getSingleMetric(name) !== undefined)) {
    throw new InvalidObservabilityOptionError('metrics', registry, 'a registry without another runtime sampler (one per registry)');
  }
  const registers = [registry];
  let counted = performance.eventLoopUtilization().active;
  const owned = [
    new Counter({
      name: RUNTIME_SAMPLER_METRICS.eventLoopBusy,
      help: 'Seconds the event loop was busy; rate() is the event-loop utilization.',
      registers,
      collect() {
        const active = performance.eventLoopUtilization().active;
        this.inc((active - counted) / 1000);
        counted = active;
      },
    }),
    new Gauge({
      name: RUNTIME_SAMPLER_METRICS.heapLimit,
      help: "V8's heap size limit in bytes.",
      registers,
      collect() {
        this.set(getHeapStatistics().heap_size_limit);
      },
    }),
    new Gauge({
      name: RUNTIME_SAMPLER_METRICS.arrayBuffers,
      help: 'Bytes of ArrayBuffers and Buffers.',
      registers,
      collect() {
        this.set(process.memoryUsage().arrayBuffers);
      },
    }),
  ];

  let last = performance.eventLoopUtilization();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const metric of owned) registry.removeSingleMetric((metric as unknown as { name: string }).name);
  };
  return {
    sample() {
      const now = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(now, last);
      last = now;
      const memory = process.memoryUsage();
      return {
        eventLoopUtilization: delta.utilization,
        heapUsedBytes: memory.heapUsed,
        heapLimitBytes: getHeapStatistics().heap_size_limit,
        rssBytes: memory.rss,
        arrayBuffersBytes: memory.arrayBuffers,
      };
    },
    close,
    [Symbol.dispose]: close,
  };
}
