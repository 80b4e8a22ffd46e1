import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type Span, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Tracer } from '@opentelemetry/api';
import { InvalidObservabilityOptionError } from './observability-errors.js';
import { type Redactor, createRedactor } from './redaction.js';

/** Options of {@link createTracing}. */
export interface TracingOptions {
  /** `service.name` of the spans' resource. Default `buckley`. */
  readonly serviceName?: string;
  /**
   * The config's `observability.otlp_endpoint`: an `http(s)` URL of an OTLP/HTTP receiver.
   * A URL with no path gets `/v1/traces`. `null` or absent: spans stay in-process (nothing is
   * sent anywhere), though they still carry trace and span ids that events reference.
   */
  readonly otlpEndpoint?: string | null | undefined;
  /** Headers of the export requests (e.g. an auth header of the collector). */
  readonly otlpHeaders?: Readonly<Record<string, string>>;
  /** More span processors, e.g. a `SimpleSpanProcessor(new InMemorySpanExporter())` in tests. */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Applied to every string attribute before any processor exports it. Default `@buckley/security`'s redactor. */
  readonly redact?: Redactor;
}

/** A tracer provider of its own (never the global one) and its tracer. */
export interface Tracing extends AsyncDisposable {
  readonly tracer: Tracer;
  /** The resolved export URL, `null` when spans stay in-process. */
  readonly otlpUrl: string | null;
  /** Exports every ended span now. */
  forceFlush(): Promise<void>;
  /** Flushes and shuts the provider down. Idempotent. */
  close(): Promise<void>;
}

/** Redacts a span's string attributes while it can still be changed, before any exporter sees it. */
function redactingProcessor(redactor: Redactor): SpanProcessor {
  return {
    onStart: () => undefined,
    onEnding(span: Span) {
      for (const [key, value] of Object.entries(span.attributes)) {
        if (typeof value === 'string') {
          const clean = redactor(value);
          if (clean !== value) span.setAttribute(key, clean);
        } else if (Array.isArray(value) && value.some((v) => typeof v === 'string')) {
          span.setAttribute(key, value.map((v: unknown) => (typeof v === 'string' ? redactor(v) : v)) as string[]);
        }
      }
    },
    onEnd: () => undefined,
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
}

function otlpUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    // No cause: the URL parser's error carries the input, which may hold credentials.
    throw new InvalidObservabilityOptionError('otlpEndpoint', endpoint, 'an http(s) URL of an OTLP/HTTP receiver');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidObservabilityOptionError('otlpEndpoint', endpoint, 'an http(s) URL of an OTLP/HTTP receiver');
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url.href;
}

/**
 * Creates the tracer Buckley's spans go to: an OpenTelemetry SDK provider owned by the caller
 * (not registered globally), exporting over OTLP/HTTP only when `otlpEndpoint` is set.
 *
 * @example
 * ```ts
 * await using tracing = createTracing({ otlpEndpoint: config.observability.otlpEndpoint });
 * const recorder = createRecorder({ store, tracer: tracing.tracer });
 * ```
 */
export function createTracing(options: TracingOptions = {}): Tracing {
  const url = options.otlpEndpoint ? otlpUrl(options.otlpEndpoint) : null;
  const processors: SpanProcessor[] = [redactingProcessor(options.redact ?? createRedactor())];
  if (url !== null) processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url, headers: { ...options.otlpHeaders } }) }));
  processors.push(...(options.spanProcessors ?? []));
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'buckley' }),
    spanProcessors: processors,
  });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= provider.shutdown());
  return {
    tracer: provider.getTracer('@buckley/observability'),
    otlpUrl: url,
    forceFlush: () => provider.forceFlush(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
