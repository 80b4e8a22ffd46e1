export { ATTRIBUTION_FIELDS, createAttributionContext, validateAttribution } from './attribution.js';
export type { Attribution, AttributionContext } from './attribution.js';
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
export {
  InvalidAttributionError,
  InvalidObservabilityOptionError,
  ObservabilityClosedError,
  ObservabilityError,
  ObservabilityErrorCode,
  OperationDeniedError,
  isDenial,
  isObservabilityError,
} from './observability-errors.js';
