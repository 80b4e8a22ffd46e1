import type { EventMetadata, EventStore, JsonObject, JsonValue, NewEvent, Outcome, StoredEvent } from '@buckley/events';
import {
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  context as otelContext,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { ClosedError, type Clock, systemClock, uuidv7 } from '@buckley/utils';
import { type Attribution, type AttributionContext, createAttributionContext, validateAttribution } from './attribution.js';
import { type BatchingWriter, type BatchingWriterOptions, createBatchingWriter } from './batching-writer.js';
import { type ForeignEvent, type ObservabilityEvent, OUTCOME_EVENT_SUFFIX, type OperationFamily, familyOf } from './event-families.js';
import { BuckleyAttribute, GenAiAttribute, GenAiOperation } from './gen-ai-attributes.js';
import type { ObservabilityMetrics } from './metrics.js';
import { InvalidObservabilityOptionError, outcomeOfError } from './observability-errors.js';
import { type Redactor, createRedactor, redactMetadata, toJsonValue } from './redaction.js';

/** Options of {@link createRecorder}. */
export interface RecorderOptions {
  /** The one event store every event goes to. */
  readonly store: EventStore;
  /** Where the current attribution lives. Default a new context (see `recorder.context`). */
  readonly context?: AttributionContext;
  /** Metrics to update; omit for none. */
  readonly metrics?: ObservabilityMetrics | undefined;
  /** Tracer of the `execute_tool`, `invoke_agent` and task spans. Omit for no spans. */
  readonly tracer?: Tracer | undefined;
  /** Applied to every payload and metadata value before it is stored. Default `@buckley/security`'s redactor. */
  readonly redact?: Redactor;
  /** The batching writer of `emit()` and of batched operations. */
  readonly writer?: BatchingWriterOptions;
  /**
   * How {@link Recorder.observe} writes its events: `'awaited'` (default: the start event is
   * stored before the operation runs, the end event before `observe` returns) or `'batched'`
   * (through the batching writer, acknowledged later; for high-rate operations).
   */
  readonly operationWrites?: 'awaited' | 'batched';
  /** `nodeId` of every event. */
  readonly nodeId?: string;
  /** Time source of event times and deadlines. */
  readonly clock?: Clock;
}

/** Options of {@link Recorder.record} and {@link Recorder.emit}. */
export interface RecordOptions {
  /** Default: the stream of the attribution (`session:<id>`, else `task:`, `plan:`, `experiment:`, `agent:`, else `system`). */
  readonly streamId?: string;
}

/** What {@link Recorder.observe} records an operation as. */
export interface ObserveOptions<T> {
  readonly family: OperationFamily;
  /** The tool, task or agent name: a bounded value (a metric label and the span name). */
  readonly name: string;
  /** The tool call id, task id or turn id. Default a new UUIDv7. */
  readonly operationId?: string;
  /** The input, stored redacted in the `started` event. */
  readonly input?: unknown;
  /** What to store of the result in the `completed` event (redacted). Default the result itself. */
  readonly output?: (result: T) => unknown;
  /** Attribution of this operation and everything nested in it. */
  readonly attribution?: Attribution;
  /** The model behind it (`modelId` of the events). */
  readonly modelId?: string;
  /** Deadline in ms: when it passes, the operation's signal aborts and it ends as `timeout`. */
  readonly timeoutMs?: number;
  /** The caller's signal: aborting ends the operation as `cancelled`. */
  readonly signal?: AbortSignal;
  /** Default: the attribution's stream (see {@link RecordOptions.streamId}). */
  readonly streamId?: string;
}

/** What an observed operation receives. */
export interface OperationScope {
  readonly operationId: string;
  /** Aborts on the deadline or the caller's signal; pass it on to what the operation waits for. */
  readonly signal: AbortSignal;
  /** The attribution the operation runs under, with its trace and span ids. */
  readonly attribution: Attribution;
}

/**
 * Writes attributed telemetry into the event store: typed events, observed operations with
 * their outcome, metrics and spans, everything redacted first.
 */
export interface Recorder extends AsyncDisposable {
  readonly context: AttributionContext;
  readonly metrics: ObservabilityMetrics | undefined;
  /** The state path: appends the event (redacted, attributed) and resolves with it stored. */
  record(event: ObservabilityEvent | ForeignEvent, options?: RecordOptions): Promise<StoredEvent>;
  /** The telemetry path: through the batching writer; resolves when stored (the acknowledgement). */
  emit(event: ObservabilityEvent | ForeignEvent, options?: RecordOptions): Promise<void>;
  /**
   * A callback for producers' event hooks (`onObservation` of `@buckley/model`, `onEvent` of
   * `@buckley/sandbox`): each event goes through `emit()`; a drop is counted, never thrown.
   */
  observer(): (event: ForeignEvent) => void;
  /**
   * Runs `fn` as one operation: writes `<family>.started`, then exactly one end event for how
   * it ended (`completed`, `failed` with the error's code, message and `retryable`,
   * `timed_out`, `cancelled`, `denied`), with `outcome` and `durationMs`, updates the metrics,
   * and ends its span. Resolves with `fn`'s result or rejects with its error (a deadline with
   * `TimeoutError`, an abort with the signal's reason).
   */
  observe<T>(options: ObserveOptions<T>, fn: (scope: OperationScope) => T | Promise<T>): Promise<T>;
  /**
   * Resolves when the batching writer has room (backpressure): await it before an `emit()`
   * you do not await, so a fast producer waits instead of piling up calls.
   */
  ready(): Promise<void>;
  /** Writes everything the batching writer accepted. */
  flush(): Promise<void>;
  /** Flushes, then refuses further calls with `ClosedError` (`CLOSED`, from `@buckley/utils`). Idempotent. Does not close the store. */
  close(): Promise<void>;
}

const families: readonly OperationFamily[] = ['tool.run', 'task', 'agent.turn'];

/** The stream an event goes to when the caller names none. */
export function streamIdFor(metadata: EventMetadata): string {
  if (metadata.sessionId) return `session:${metadata.sessionId}`;
  if (metadata.taskId) return `task:${metadata.taskId}`;
  if (metadata.planId) return `plan:${metadata.planId}`;
  if (metadata.experimentId) return `experiment:${metadata.experimentId}`;
  if (metadata.agentId) return `agent:${metadata.agentId}`;
  return 'system';
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : String(error);
}

/** Why the operation's own signal aborted. */
class Interrupted {
  constructor(
    readonly kind: 'deadline' | 'caller',
    readonly error: unknown,
  ) {}
}

/**
 * Creates a recorder over the store.
 *
 * @example
 * ```ts
 * await using recorder = createRecorder({ store, metrics, tracer: tracing.tracer });
 * await recorder.context.run({ sessionId: 's1' }, () =>
 *   recorder.observe({ family: 'tool.run', name: 'shell', input: { command: 'ls' }, timeoutMs: 30_000 }, ({ signal }) => run('ls', { signal })),
 * );
 * ```
 */
export function createRecorder(options: RecorderOptions): Recorder {
  const { store, metrics, tracer } = options;
  if (store === undefined || typeof store.append !== 'function') throw new InvalidObservabilityOptionError('store', store, 'an EventStore');
  const context = options.context ?? createAttributionContext();
  const redactor = options.redact ?? createRedactor();
  const clock = options.clock ?? systemClock;
  const batched = (options.operationWrites ?? 'awaited') === 'batched';
  if (options.operationWrites !== undefined && options.operationWrites !== 'awaited' && options.operationWrites !== 'batched') {
    throw new InvalidObservabilityOptionError('operationWrites', options.operationWrites, "'awaited' or 'batched'");
  }
  const nodeId = options.nodeId;
  let writer: BatchingWriter | undefined;
  const getWriter = () => (writer ??= createBatchingWriter(store, { clock, ...options.writer, metrics }));
  let closed = false;
  let closing: Promise<void> | undefined;

  const check = () => {
    if (closed) throw new ClosedError('recorder');
  };

  const prepare = (event: ObservabilityEvent | ForeignEvent, extra?: EventMetadata): NewEvent => {
    const metadata: Record<string, unknown> = { ...context.current(), ...(event.metadata as EventMetadata | undefined), ...extra };
    if (nodeId !== undefined && metadata.nodeId === undefined) metadata.nodeId = nodeId;
    const data = toJsonValue(redactor(event.data));
    return {
      id: uuidv7(),
      type: event.type,
      data: data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {},
      metadata: redactMetadata(metadata as EventMetadata, redactor),
      occurredAt: new Date(clock.now()),
    };
  };

  const count = (event: NewEvent) => {
    if (metrics === undefined) return;
    const { type } = event;
    const family = familyOf(type);
    const data = event.data as Record<string, JsonValue | undefined>;
    const outcome = event.metadata?.outcome;
    const seconds = typeof data.durationMs === 'number' ? data.durationMs / 1000 : undefined;
    const label = metrics.label;
    if (outcome !== undefined && type !== `${family}.started` && (family === 'tool.run' || family === 'task' || family === 'agent.turn')) {
      if (family === 'tool.run') {
        const labels = { tool: label('tool', String(data.name ?? 'unknown')), outcome };
        metrics.toolRuns.inc(labels);
        if (seconds !== undefined) metrics.toolRunDuration.observe(labels, seconds);
      } else {
        const [counter, histogram] = family === 'task' ? [metrics.tasks, metrics.taskDuration] : [metrics.agentTurns, metrics.agentTurnDuration];
        counter.inc({ outcome });
        if (seconds !== undefined) histogram.observe({ outcome }, seconds);
      }
    } else if (type === 'model.call.completed' || type === 'model.call.failed') {
      const model = label('model', String(data.model ?? 'unknown'));
      const labels = { model, outcome: outcome ?? (type === 'model.call.completed' ? 'success' : 'failure') };
      metrics.modelCalls.inc(labels);
      if (seconds !== undefined) metrics.modelCallDuration.observe(labels, seconds);
      for (const [kind, key] of [
        ['input', 'inputTokens'],
        ['cached_input', 'cachedInputTokens'],
        ['output', 'outputTokens'],
      ] as const) {
        const n = data[key];
        if (typeof n === 'number' && n > 0) metrics.modelTokens.inc({ model, kind }, n);
      }
      if (typeof data.costUsd === 'number' && data.costUsd > 0) metrics.modelCost.inc({ model }, data.costUsd);
    } else if (type === 'sandbox.violation') {
      metrics.sandboxViolations.inc({ rule: label('rule', String(data.rule ?? 'unknown')) });
    } else if (type === 'sandbox.unsafe_override') {
      metrics.sandboxUnsafeOverrides.inc({ reason: label('reason', String(data.reason ?? 'unknown')) });
    } else if (type === 'security.finding') {
      metrics.securityFindings.inc({ rule: label('rule', String(data.ruleId ?? 'unknown')), severity: label('severity', String(data.severity ?? 'unknown')) });
    }
  };

  const append = async (streamId: string, event: NewEvent): Promise<StoredEvent> => {
    const [stored] = await store.append(streamId, [event]);
    metrics?.eventsAppended.inc({ family: metrics.label('family', familyOf(event.type)) });
    count(event);
    return stored!;
  };

  const enqueue = (streamId: string, event: NewEvent): Promise<void> => {
    const written = getWriter().write(streamId, event);
    count(event);
    return written;
  };

  const emit = (event: ObservabilityEvent | ForeignEvent, recordOptions?: RecordOptions): Promise<void> => {
    check();
    const prepared = prepare(event);
    return enqueue(recordOptions?.streamId ?? streamIdFor(prepared.metadata!), prepared);
  };

  const write = async (streamId: string, event: NewEvent): Promise<void> => {
    if (!batched) {
      await append(streamId, event);
      return;
    }
    const w = getWriter();
    await w.ready();
    // Acknowledged later; a drop is counted and reported by the writer, not thrown here.
    enqueue(streamId, event).catch(() => undefined);
  };

  const observe = async <T>(spec: ObserveOptions<T>, fn: (scope: OperationScope) => T | Promise<T>): Promise<T> => {
    check();
    if (!families.includes(spec.family)) throw new InvalidObservabilityOptionError('family', spec.family, families.map((f) => `'${f}'`).join(', '));
    if (typeof spec.name !== 'string' || spec.name === '') throw new InvalidObservabilityOptionError('name', spec.name, 'a non-empty string');
    if (spec.timeoutMs !== undefined && !(Number.isFinite(spec.timeoutMs) && spec.timeoutMs >= 0)) {
      throw new InvalidObservabilityOptionError('timeoutMs', spec.timeoutMs, 'a finite number of milliseconds >= 0');
    }
    const operationId = spec.operationId ?? uuidv7();
    // The name is a label, the span name and a payload field: redacted once for all of them.
    const name = redactor(spec.name);
    const base: Attribution = { ...context.current(), ...validateAttribution(spec.attribution ?? {}) };

    let span: Span | undefined;
    let attribution = base;
    if (tracer !== undefined) {
      const parent =
        base.traceId !== undefined && base.spanId !== undefined
          ? trace.setSpanContext(ROOT_CONTEXT, { traceId: base.traceId, spanId: base.spanId, traceFlags: TraceFlags.SAMPLED })
          : otelContext.active();
      const operation = spec.family === 'tool.run' ? GenAiOperation.executeTool : spec.family === 'agent.turn' ? GenAiOperation.invokeAgent : 'task';
      const attributes: Record<string, string | number> = {
        [GenAiAttribute.operationName]: operation,
        [BuckleyAttribute.operationId]: operationId,
        [BuckleyAttribute.operationName]: name,
      };
      if (spec.family === 'tool.run') {
        attributes[GenAiAttribute.toolName] = name;
        attributes[GenAiAttribute.toolCallId] = operationId;
      } else if (spec.family === 'agent.turn') {
        attributes[GenAiAttribute.agentName] = name;
        if (base.agentId !== undefined) attributes[GenAiAttribute.agentId] = base.agentId;
      }
      if (spec.modelId !== undefined) attributes[GenAiAttribute.requestModel] = spec.modelId;
      if (base.sessionId !== undefined) attributes[GenAiAttribute.conversationId] = base.sessionId;
      if (base.planId !== undefined) attributes[BuckleyAttribute.planId] = base.planId;
      if (base.taskId !== undefined) attributes[BuckleyAttribute.taskId] = base.taskId;
      if (base.experimentId !== undefined) attributes[BuckleyAttribute.experimentId] = base.experimentId;
      if (base.attempt !== undefined) attributes[BuckleyAttribute.attempt] = base.attempt;
      if (base.correlationId !== undefined) attributes[BuckleyAttribute.correlationId] = base.correlationId;
      span = tracer.startSpan(`${operation} ${name}`, { kind: SpanKind.INTERNAL, attributes }, parent);
      const sc = span.spanContext();
      if (isSpanContextValid(sc)) attribution = { ...base, traceId: sc.traceId, spanId: sc.spanId };
    }

    const metadata: EventMetadata = {
      ...attribution,
      ...(spec.family === 'tool.run' ? { toolName: name } : {}),
      ...(spec.modelId !== undefined ? { modelId: spec.modelId } : {}),
    };
    if (nodeId !== undefined && metadata.nodeId === undefined) (metadata as Record<string, unknown>).nodeId = nodeId;
    const streamId = spec.streamId ?? streamIdFor(metadata);
    const event = (suffix: string, data: JsonObject, extra?: EventMetadata): NewEvent => ({
      id: uuidv7(),
      type: `${spec.family}.${suffix}`,
      data,
      metadata: redactMetadata({ ...metadata, ...extra }, redactor),
      occurredAt: new Date(clock.now()),
    });
    const started = performance.now();
    try {
      await write(streamId, event('started', { operationId, name, input: toJsonValue(redactor(spec.input ?? null)) }));
    } catch (error) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: redactor(messageOf(error)) });
      span?.end();
      throw error;
    }

    const controller = new AbortController();
    const callerSignal = spec.signal;
    let rejectInterrupt!: (reason: Interrupted) => void;
    const interrupted = new Promise<never>((_, reject) => (rejectInterrupt = reject));
    interrupted.catch(() => undefined);
    const onAbort = () => {
      controller.abort(callerSignal!.reason);
      rejectInterrupt(new Interrupted('caller', callerSignal!.reason));
    };
    const cancelDeadline =
      spec.timeoutMs === undefined
        ? undefined
        : clock.setTimeout(() => {
            const error = Object.assign(new Error(`timed out after ${spec.timeoutMs} ms`), { code: 'TIMEOUT', retryable: true, timeoutMs: spec.timeoutMs });
            controller.abort(error);
            rejectInterrupt(new Interrupted('deadline', error));
          }, spec.timeoutMs);
    if (callerSignal?.aborted) onAbort();
    else callerSignal?.addEventListener('abort', onAbort, { once: true });

    let outcome: Outcome = 'success';
    let result: T | undefined;
    let thrown: unknown;
    let end: NewEvent;
    try {
      const scope: OperationScope = { operationId, signal: controller.signal, attribution };
      const run = controller.signal.aborted
        ? interrupted
        : context.run(attribution, () => otelContext.with(span ? trace.setSpan(otelContext.active(), span) : otelContext.active(), async () => fn(scope)));
      result = await Promise.race([run, interrupted]);
    } catch (error) {
      thrown = error instanceof Interrupted ? error.error : error;
      if (error instanceof Interrupted) outcome = error.kind === 'deadline' ? 'timeout' : 'cancelled';
      else outcome = outcomeOfError(error);
    } finally {
      cancelDeadline?.();
      callerSignal?.removeEventListener('abort', onAbort);
    }
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const common = { operationId, name, durationMs };
    const message = outcome === 'success' ? '' : redactor(messageOf(thrown));
    switch (outcome) {
      case 'success':
        end = event('completed', { ...common, output: toJsonValue(redactor(spec.output ? spec.output(result as T) : result)) }, { outcome, durationMs });
        break;
      case 'failure':
        end = event(
          'failed',
          { ...common, errorCode: errorCode(thrown), message, retryable: (thrown as { retryable?: unknown })?.retryable === true },
          { outcome, durationMs },
        );
        break;
      case 'timeout': {
        const ms = (thrown as { timeoutMs?: unknown })?.timeoutMs;
        end = event('timed_out', { ...common, timeoutMs: typeof ms === 'number' ? ms : null }, { outcome, durationMs });
        break;
      }
      case 'cancelled':
        end = event('cancelled', { ...common, reason: message }, { outcome, durationMs });
        break;
      case 'denied': {
        const rule = (thrown as { rule?: unknown })?.rule;
        end = event('denied', { ...common, reason: message, rule: typeof rule === 'string' ? redactor(rule) : null }, { outcome, durationMs });
        break;
      }
    }
    end = { ...end, type: `${spec.family}.${OUTCOME_EVENT_SUFFIX[outcome]}` };
    if (span !== undefined) {
      span.setAttribute(BuckleyAttribute.outcome, outcome);
      span.setAttribute(BuckleyAttribute.durationMs, durationMs);
      if (outcome !== 'success') {
        span.setAttribute(GenAiAttribute.errorType, outcome === 'failure' ? errorCode(thrown) : outcome);
        span.setStatus({ code: SpanStatusCode.ERROR, message });
      }
      span.end();
    }
    await write(streamId, end);
    if (outcome !== 'success') throw thrown;
    return result as T;
  };

  const close = () =>
    (closing ??= (async () => {
      closed = true;
      await writer?.close();
    })());

  return {
    context,
    metrics,
    record: async (event, recordOptions) => {
      check();
      const prepared = prepare(event);
      return append(recordOptions?.streamId ?? streamIdFor(prepared.metadata!), prepared);
    },
    emit,
    observer: () => (event) => {
      if (closed) return;
      emit(event).catch(() => undefined);
    },
    observe,
    ready: async () => {
      if (!closed) await getWriter().ready();
    },
    flush: async () => {
      await writer?.flush();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
