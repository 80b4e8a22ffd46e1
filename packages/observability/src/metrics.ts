import { Counter, Gauge, Histogram, type Registry, collectDefaultMetrics, register as globalRegistry } from 'prom-client';
import { InvalidObservabilityOptionError } from './observability-errors.js';
import { type Redactor, createRedactor } from './redaction.js';

/** Options of {@link createObservabilityMetrics}. */
export interface ObservabilityMetricsOptions {
  /** The caller's registry. The global default registry is refused: two recorders must not share state. */
  readonly registry: Registry;
  /** Also register prom-client's process metrics (CPU, memory, event-loop lag, GC). Default true. */
  readonly defaultMetrics?: boolean;
  /**
   * Most distinct values kept per label (default 64); later values are counted under `_other`,
   * so a model that invents tool names cannot grow the registry without bound.
   */
  readonly maxLabelValues?: number;
  /** Applied to every label value. Default `@buckley/security`'s redactor. */
  readonly redact?: Redactor;
}

/**
 * The metrics of Buckley's telemetry, on one caller-owned registry. Labels are bounded values
 * only (tool, model, outcome, rule, family, reason): session, plan and task ids live in events.
 */
export interface ObservabilityMetrics {
  readonly registry: Registry;
  /** `buckley_tool_runs_total{tool,outcome}` */
  readonly toolRuns: Counter<'tool' | 'outcome'>;
  /** `buckley_tool_run_duration_seconds{tool,outcome}` */
  readonly toolRunDuration: Histogram<'tool' | 'outcome'>;
  /** `buckley_tasks_total{outcome}` */
  readonly tasks: Counter<'outcome'>;
  /** `buckley_task_duration_seconds{outcome}` */
  readonly taskDuration: Histogram<'outcome'>;
  /** `buckley_agent_turns_total{outcome}` */
  readonly agentTurns: Counter<'outcome'>;
  /** `buckley_agent_turn_duration_seconds{outcome}` */
  readonly agentTurnDuration: Histogram<'outcome'>;
  /** `buckley_model_calls_total{model,outcome}` */
  readonly modelCalls: Counter<'model' | 'outcome'>;
  /** `buckley_model_call_duration_seconds{model,outcome}` */
  readonly modelCallDuration: Histogram<'model' | 'outcome'>;
  /** `buckley_model_tokens_total{model,kind}`; `kind` is `input`, `cached_input` or `output`. */
  readonly modelTokens: Counter<'model' | 'kind'>;
  /** `buckley_model_cost_usd_total{model}` */
  readonly modelCost: Counter<'model'>;
  /** `buckley_sandbox_unsafe_overrides_total{reason}`: runs without namespaces. */
  readonly sandboxUnsafeOverrides: Counter<'reason'>;
  /** `buckley_sandbox_violations_total{rule}` */
  readonly sandboxViolations: Counter<'rule'>;
  /** `buckley_security_findings_total{rule,severity}` */
  readonly securityFindings: Counter<'rule' | 'severity'>;
  /** `buckley_events_appended_total{family}` */
  readonly eventsAppended: Counter<'family'>;
  /** `buckley_telemetry_dropped_total{reason,family}` */
  readonly telemetryDropped: Counter<'reason' | 'family'>;
  /** `buckley_telemetry_buffered`: records accepted by batching writers and not yet written. */
  readonly telemetryBuffered: Gauge;
  /** `buckley_live_stream_subscribers`: open live-stream clients. */
  readonly liveStreamSubscribers: Gauge;
  /** The bounded, redacted form of a label value (what every metric of this package uses). */
  label(name: string, value: string): string;
}

const durationBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Registers Buckley's metrics on the caller's registry.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const metrics = createObservabilityMetrics({ registry });
 * const text = await registry.metrics(); // Prometheus text format
 * ```
 */
export function createObservabilityMetrics(options: ObservabilityMetricsOptions): ObservabilityMetrics {
  const { registry } = options;
  if (registry === undefined || registry === null || typeof registry.registerMetric !== 'function') {
    throw new InvalidObservabilityOptionError('registry', registry, 'a prom-client Registry the caller owns');
  }
  if (registry === globalRegistry) {
    throw new InvalidObservabilityOptionError('registry', registry, 'a Registry of its own (new Registry()), not the global default registry');
  }
  const maxLabelValues = options.maxLabelValues ?? 64;
  if (!Number.isInteger(maxLabelValues) || maxLabelValues < 1) {
    throw new InvalidObservabilityOptionError('maxLabelValues', maxLabelValues, 'an integer >= 1');
  }
  const redactor = options.redact ?? createRedactor({ maxStringBytes: 128 });
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: L[]) =>
    new Histogram<L>({ name, help, labelNames, buckets: durationBuckets, registers });
  const seen = new Map<string, Set<string>>();
  return {
    registry,
    toolRuns: counter('buckley_tool_runs_total', 'Tool runs by tool and outcome.', ['tool', 'outcome']),
    toolRunDuration: histogram('buckley_tool_run_duration_seconds', 'Duration of tool runs.', ['tool', 'outcome']),
    tasks: counter('buckley_tasks_total', 'Tasks by outcome.', ['outcome']),
    taskDuration: histogram('buckley_task_duration_seconds', 'Duration of tasks.', ['outcome']),
    agentTurns: counter('buckley_agent_turns_total', 'Agent turns by outcome.', ['outcome']),
    agentTurnDuration: histogram('buckley_agent_turn_duration_seconds', 'Duration of agent turns.', ['outcome']),
    modelCalls: counter('buckley_model_calls_total', 'Model calls by model and outcome.', ['model', 'outcome']),
    modelCallDuration: histogram('buckley_model_call_duration_seconds', 'Duration of model calls.', ['model', 'outcome']),
    modelTokens: counter('buckley_model_tokens_total', 'Model tokens by model and kind (input, cached_input, output).', ['model', 'kind']),
    modelCost: counter('buckley_model_cost_usd_total', 'Known cost of model calls, in US dollars.', ['model']),
    sandboxUnsafeOverrides: counter('buckley_sandbox_unsafe_overrides_total', 'Commands run without the sandbox, by reason.', ['reason']),
    sandboxViolations: counter('buckley_sandbox_violations_total', 'Sandbox policy violations by rule.', ['rule']),
    securityFindings: counter('buckley_security_findings_total', 'Security findings by rule and severity.', ['rule', 'severity']),
    eventsAppended: counter('buckley_events_appended_total', 'Events appended to the store by family.', ['family']),
    telemetryDropped: counter('buckley_telemetry_dropped_total', 'Telemetry records dropped by a bound, by reason and family.', ['reason', 'family']),
    telemetryBuffered: new Gauge({ name: 'buckley_telemetry_buffered', help: 'Telemetry records accepted and not yet written.', registers }),
    liveStreamSubscribers: new Gauge({ name: 'buckley_live_stream_subscribers', help: 'Open live event stream clients.', registers }),
    label(name, value) {
      let values = seen.get(name);
      if (values === undefined) seen.set(name, (values = new Set()));
      const clean = redactor(value);
      if (values.has(clean)) return clean;
      if (values.size >= maxLabelValues) return '_other';
      values.add(clean);
      return clean;
    },
  };
}
