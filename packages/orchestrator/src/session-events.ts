/**
 * The events of a session stream (`session:<id>`), as discriminated unions. `plan.*`, `task.*`,
 * `workflow.*` and `tool.run.*` are the families of `@buckley/observability`; this package
 * writes them with the fields its projections need on top (`plan.created` carries its tasks,
 * `plan.updated` what changed), so every event here is also a valid event of that family.
 * `session.*` is defined here: no other package writes it.
 */
import type { JsonObject, NewEvent, Outcome, StoredEvent } from '@buckley/events';
import type { FamilyEvent, PlanEvent, TaskEvent, ToolRunEvent, WorkflowEvent } from '@buckley/observability';

/** A tool call the model asked for in an assistant message. */
export interface ToolCallRequest {
  /** The model's tool call id: the `operationId` of the `tool.run.*` events of that call. */
  readonly id: string;
  readonly name: string;
  /** The arguments as the model sent them (a JSON text). */
  readonly arguments: string;
  [key: string]: string;
}

/** Who wrote a message: tool results are not messages, they are `tool.run.*` end events. */
export type MessageRole = 'system' | 'user' | 'assistant';

/** `session.started`: the first event of every session stream. */
export type SessionStarted = FamilyEvent<'session.started', { readonly title: string }>;

/**
 * `session.message_added`: one message of the conversation, stored once. The conversation a
 * model call sends is rebuilt from these and the tool results, never stored again as a prompt.
 */
export type SessionMessageAdded = FamilyEvent<
  'session.message_added',
  { readonly messageId: string; readonly role: MessageRole; readonly content: string; readonly toolCalls: ToolCallRequest[] }
>;

/** `session.ended`: the last event of a session stream; nothing is appended after it. */
export type SessionEnded = FamilyEvent<'session.ended', { readonly reason: string }>;

/** The `session.*` family. */
export type SessionEvent = SessionStarted | SessionMessageAdded | SessionEnded;

/** A task of a plan as `plan.created` and `plan.updated` carry it. */
export interface PlanTaskSpec {
  readonly taskId: string;
  readonly title: string;
  readonly description: string;
  /** Task ids of the same plan that must be completed before this one starts. */
  readonly dependsOn: string[];
  [key: string]: string | string[];
}

type Data<E extends { type: string; data: object }, T extends E['type']> = Extract<E, { type: T }>['data'];

/** `plan.created` as this package writes it: the observability fields plus the tasks. */
export type PlanCreated = FamilyEvent<'plan.created', Data<PlanEvent, 'plan.created'> & { readonly tasks: PlanTaskSpec[] }>;

/** `plan.updated` as this package writes it: the observability fields plus the tasks added and removed. */
export type PlanUpdated = FamilyEvent<'plan.updated', Data<PlanEvent, 'plan.updated'> & { readonly added: PlanTaskSpec[]; readonly removed: string[] }>;

/** `plan.completed`: every task of the plan completed (`success`), or the plan was abandoned. */
export type PlanCompleted = Extract<PlanEvent, { type: 'plan.completed' }>;

/** The plan events of a session stream. */
export type SessionPlanEvent = PlanCreated | PlanUpdated | PlanCompleted;

/** Every event type a session stream holds. */
export type SessionStreamEvent = SessionEvent | SessionPlanEvent | TaskEvent | WorkflowEvent | ToolRunEvent;

/** A session stream event as stored (the envelope around a {@link SessionStreamEvent}). */
export type StoredSessionEvent = StoredEvent<SessionStreamEvent['type'], SessionStreamEvent['data'] & JsonObject>;

/** A new event of a session stream, before the store assigns its version. */
export type NewSessionEvent = NewEvent<SessionStreamEvent['type'], JsonObject>;

/** The outcome of each `tool.run.*` and `task.*` end event, by its last dotted part. */
export const END_EVENT_OUTCOME: Readonly<Record<string, Outcome>> = {
  completed: 'success',
  failed: 'failure',
  timed_out: 'timeout',
  cancelled: 'cancelled',
  denied: 'denied',
};

/** The stream of a session. */
export function sessionStreamId(sessionId: string): string {
  return `session:${sessionId}`;
}
