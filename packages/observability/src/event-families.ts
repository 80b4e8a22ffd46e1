/**
 * The event families this package writes, as discriminated unions (ARCHITECTURE §4). Payload
 * keys are camelCase, event types dotted snake_case. `model.call.*` is defined by
 * `@buckley/model` and `sandbox.*` by `@buckley/sandbox`, the packages that produce them: the
 * recorder stores their events as they come (see {@link ForeignEvent}), so each family has one
 * definition.
 */
import type { EventMetadata, JsonObject, JsonValue, Outcome } from '@buckley/events';
import type { Finding } from '@buckley/security';

/** A typed event as the recorder writes it: the store adds the envelope. */
export interface FamilyEvent<Type extends string, Data extends JsonObject> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata?: EventMetadata;
}

/** The operation families {@link observe} records start and end events for. */
export type OperationFamily = 'tool.run' | 'task' | 'agent.turn';

/** The end event suffix of each outcome, e.g. `tool.run.timed_out` for `timeout`. */
export const OUTCOME_EVENT_SUFFIX: Readonly<Record<Outcome, string>> = {
  success: 'completed',
  failure: 'failed',
  timeout: 'timed_out',
  cancelled: 'cancelled',
  denied: 'denied',
};

/** Fields of every start and end event of an observed operation. */
export interface OperationData {
  /** The operation's id (a tool call id, a task id, a turn id). */
  readonly operationId: string;
  /** The tool, task or agent name: a bounded value, also the metric label. */
  readonly name: string;
  [key: string]: JsonValue;
}

/** Data of `<family>.started`. */
export interface OperationStartedData extends OperationData {
  /** The operation's input, redacted. */
  readonly input: JsonValue;
}

/** Data shared by every end event. */
export interface OperationEndData extends OperationData {
  readonly durationMs: number;
}

/** Data of `<family>.completed`. */
export interface OperationCompletedData extends OperationEndData {
  /** The result, redacted; `null` when the operation gave none (or it was not JSON). */
  readonly output: JsonValue;
}

/** Data of `<family>.failed`. */
export interface OperationFailedData extends OperationEndData {
  /** The error's `code`, `UNKNOWN` when it had none. */
  readonly errorCode: string;
  /** The error's message, redacted. */
  readonly message: string;
  readonly retryable: boolean;
}

/** Data of `<family>.timed_out`. */
export interface OperationTimedOutData extends OperationEndData {
  /** The deadline that passed; `null` when the operation's own timeout fired. */
  readonly timeoutMs: number | null;
}

/** Data of `<family>.cancelled`. */
export interface OperationCancelledData extends OperationEndData {
  /** The abort reason's message, redacted. */
  readonly reason: string;
}

/** Data of `<family>.denied`. */
export interface OperationDeniedData extends OperationEndData {
  readonly reason: string;
  /** The policy rule that refused, when it named one. */
  readonly rule: string | null;
}

/** The start and end events {@link observe} writes for one family. */
export type OperationEvent<F extends OperationFamily> =
  | FamilyEvent<`${F}.started`, OperationStartedData>
  | FamilyEvent<`${F}.completed`, OperationCompletedData>
  | FamilyEvent<`${F}.failed`, OperationFailedData>
  | FamilyEvent<`${F}.timed_out`, OperationTimedOutData>
  | FamilyEvent<`${F}.cancelled`, OperationCancelledData>
  | FamilyEvent<`${F}.denied`, OperationDeniedData>;

/** `tool.run.requested`: the model asked for a tool call; `input` is redacted. */
export type ToolRunRequested = FamilyEvent<'tool.run.requested', { readonly operationId: string; readonly name: string; readonly input: JsonValue }>;

/** `tool.run.approved`: policy or a person let the call go ahead. */
export type ToolRunApproved = FamilyEvent<
  'tool.run.approved',
  { readonly operationId: string; readonly name: string; readonly approvedBy: 'policy' | 'user' | 'config' }
>;

/** The `tool.run.*` family: requested, approved, then the observed lifecycle (denied before start or during it). */
export type ToolRunEvent = ToolRunRequested | ToolRunApproved | OperationEvent<'tool.run'>;

/** The `task.*` family: the observed lifecycle of one task of a plan. */
export type TaskEvent = OperationEvent<'task'>;

/** The `agent.turn.*` family: one turn of the agent loop (the `invoke_agent` span). */
export type AgentTurnEvent = OperationEvent<'agent.turn'>;

/** The `plan.*` family. */
export type PlanEvent =
  | FamilyEvent<'plan.created', { readonly planId: string; readonly goal: string; readonly taskIds: string[] }>
  | FamilyEvent<'plan.updated', { readonly planId: string; readonly revision: number; readonly reason: string; readonly taskIds: string[] }>
  | FamilyEvent<'plan.completed', { readonly planId: string; readonly outcome: Outcome }>;

/** The `workflow.*` family: the state machine's phase changes. */
export type WorkflowEvent =
  | FamilyEvent<'workflow.phase_changed', { readonly from: string; readonly to: string; readonly reason: string }>
  | FamilyEvent<'workflow.paused', { readonly phase: string; readonly reason: string }>
  | FamilyEvent<'workflow.resumed', { readonly phase: string }>;

/** The `experiment.*` family. */
export type ExperimentEvent =
  | FamilyEvent<'experiment.started', { readonly experimentId: string; readonly name: string; readonly variant: string; readonly hypothesis: string }>
  | FamilyEvent<'experiment.completed', { readonly experimentId: string; readonly outcome: Outcome; readonly summary: string }>;

/** `security.finding`: one finding of `@buckley/security` (already masked there, redacted again here). */
export type SecurityFindingEvent = FamilyEvent<
  'security.finding',
  {
    readonly ruleId: string;
    readonly category: Finding['category'];
    readonly severity: Finding['severity'];
    readonly confidence: number;
    readonly message: string;
    readonly path: string | null;
    readonly line: number | null;
    readonly match: string | null;
  }
>;

/** `telemetry.dropped`: a bound of the batching writer dropped records; what was lost, counted. */
export type TelemetryDroppedEvent = FamilyEvent<
  'telemetry.dropped',
  {
    /** Records dropped since the previous `telemetry.dropped` event. */
    readonly count: number;
    /** Records dropped since the writer was created. */
    readonly total: number;
    /** Which bound dropped them: `buffer_full` (`overflow: 'drop'`) or `store_failed` (a flush failed after its retries). */
    readonly reason: 'buffer_full' | 'store_failed';
    /** Counts by event family, e.g. `{ 'tool.run': 12 }`. */
    readonly byFamily: Record<string, number>;
  }
>;

/**
 * An event of a family another package defines (`model.call.*` from `@buckley/model`,
 * `sandbox.*` from `@buckley/sandbox`): any `{ type, data, metadata }` whose data is JSON.
 * Their unions are assignable to it, so a producer's `onEvent` feeds the recorder directly.
 */
export interface ForeignEvent {
  readonly type: string;
  readonly data: object;
  readonly metadata?: object | undefined;
}

/** Every event this package defines. */
export type ObservabilityEvent =
  ToolRunEvent | TaskEvent | AgentTurnEvent | PlanEvent | WorkflowEvent | ExperimentEvent | SecurityFindingEvent | TelemetryDroppedEvent;

/** The family of an event type: its type without the last dotted part (`tool.run.failed` -> `tool.run`); `security.finding` is its own family. */
export function familyOf(type: string): string {
  const cut = type.lastIndexOf('.');
  return cut <= 0 || type === 'security.finding' ? type : type.slice(0, cut);
}
