export { ATTRIBUTION_FIELDS, createAttributionContext, validateAttribution } from './attribution.js';
export type { Attribution, AttributionContext } from './attribution.js';
export { createBatchingWriter } from './batching-writer.js';
export type { BatchingWriter, BatchingWriterOptions } from './batching-writer.js';
export { OUTCOME_EVENT_SUFFIX, familyOf } from './event-families.js';
export type {
  AgentTurnEvent,
  ExperimentEvent,
  FamilyEvent,
  ForeignEvent,
  ObservabilityEvent,
  OperationCancelledData,
  OperationCompletedData,
  OperationData,
  OperationDeniedData,
  OperationEndData,
  OperationEvent,
  OperationFailedData,
  OperationFamily,
  OperationStartedData,
  OperationTimedOutData,
  PlanEvent,
  SecurityFindingEvent,
  TaskEvent,
  TelemetryDroppedEvent,
  ToolRunApproved,
  ToolRunEvent,
  ToolRunRequested,
  WorkflowEvent,
} from './event-families.js';
export { BuckleyAttribute, GEN_AI_SEMCONV_VERSION, GenAiAttribute, GenAiOperation } from './gen-ai-attributes.js';
export { openLiveStream } from './live-stream.js';
export type { LiveStream, LiveStreamOptions } from './live-stream.js';
export { createLoggingHooks } from './logging-hooks.js';
export type { LoggingHooksOptions } from './logging-hooks.js';
export { createObservabilityMetrics } from './metrics.js';
export type { ObservabilityMetrics, ObservabilityMetricsOptions } from './metrics.js';
export {
  InvalidAttributionError,
  InvalidObservabilityOptionError,
  ObservabilityError,
  ObservabilityErrorCode,
  OperationDeniedError,
  TelemetryDroppedError,
  UnresumableCursorError,
  isDenial,
  isObservabilityError,
  outcomeOfError,
} from './observability-errors.js';
export { createRecorder, streamIdFor } from './recorder.js';
export type { ObserveOptions, OperationScope, Recorder, RecorderOptions, RecordOptions } from './recorder.js';
export { createRedactor, redactMetadata, toJsonValue } from './redaction.js';
export type { Redactor } from './redaction.js';
export { MAX_SSE_HEARTBEAT_MS, SSE_LAGGED_EVENT, SSE_UNRESUMABLE_EVENT, createSseHandler, encodeSseControl, encodeSseEvent } from './sse.js';
export type { SseHandler, SseHandlerOptions } from './sse.js';
export { createTracing } from './tracing.js';
export type { Tracing, TracingOptions } from './tracing.js';
// The streaming redactor of @buckley/security, for packages that redact live text (the agent loop's progress).
export { createStreamRedactor } from '@buckley/security';
export type { StreamRedactor } from '@buckley/security';
