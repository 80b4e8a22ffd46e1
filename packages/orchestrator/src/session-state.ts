/**
 * The projection of a session stream: one fold (`evolveSession`) from its events to the
 * session's state (status, conversation, plan, workflow). Every process that reads the stream
 * gets the same state; nothing else is persisted.
 */
import type { JsonValue, Outcome, StoredEvent } from '@buckley/events';
import { END_EVENT_OUTCOME, type MessageRole, type PlanTaskSpec, type ToolCallRequest } from './session-events.js';

/** The phases of the workflow state machine, in their usual order. */
export type WorkflowPhase = 'planning' | 'executing' | 'reviewing' | 'done';

/** The phases, in order. */
export const WORKFLOW_PHASES: readonly WorkflowPhase[] = ['planning', 'executing', 'reviewing', 'done'];

/** The workflow part of a session's state. */
export interface WorkflowState {
  /** `planning` until the first `workflow.phase_changed`. */
  readonly phase: WorkflowPhase;
  readonly paused: boolean;
  /** Why it was paused; `null` when it is not. */
  readonly pauseReason: string | null;
}

/** Status of a task of a plan. `in_progress` after `task.started`; the others after its end event. */
export type TaskStatus = 'pending' | 'in_progress' | 'completed' | 'failed' | 'timed_out' | 'cancelled' | 'denied';

/** A task of the current plan. */
export interface PlanTask {
  readonly taskId: string;
  readonly title: string;
  readonly description: string;
  readonly dependsOn: readonly string[];
  readonly status: TaskStatus;
  /** How many times it was started (1 on the first `task.started`); 0 while never started. */
  readonly attempt: number;
  /** The outcome of its last end event; `null` before one. */
  readonly outcome: Outcome | null;
  /** `occurredAt` of its last `task.started`. */
  readonly startedAt: string | null;
  /** The error code of its last failure. */
  readonly errorCode: string | null;
}

/** The current plan of a session. */
export interface Plan {
  readonly planId: string;
  readonly goal: string;
  /** 0 when created, +1 per `plan.updated`. */
  readonly revision: number;
  readonly status: 'open' | 'completed';
  readonly outcome: Outcome | null;
  /** In plan order (creation order, added tasks last). */
  readonly tasks: readonly PlanTask[];
}

/** A message of the conversation as the model is sent it. */
export type ConversationMessage =
  | { readonly role: Exclude<MessageRole, 'assistant'>; readonly messageId: string; readonly content: string }
  | { readonly role: 'assistant'; readonly messageId: string; readonly content: string; readonly toolCalls: readonly ToolCallRequest[] }
  | {
      readonly role: 'tool';
      /** The tool call this answers (the `operationId` of its `tool.run.*` events). */
      readonly toolCallId: string;
      readonly toolName: string;
      readonly outcome: Outcome;
      readonly content: string;
    };

/** The state of one session: a fold of its stream. Plain JSON. */
export interface SessionState {
  readonly sessionId: string;
  /** The stream version this state includes (the expected version of the next decision). */
  readonly version: number;
  readonly status: 'active' | 'ended';
  readonly title: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly endReason: string | null;
  readonly workflow: WorkflowState;
  /** The latest plan (open or completed); `null` before the first `plan.created`. */
  readonly plan: Plan | null;
  readonly messages: readonly ConversationMessage[];
}

type DeepWritable<T> = T extends readonly (infer U)[] ? DeepWritable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepWritable<T[K]> } : T;

/** The fold's working copy of a {@link SessionState}: the same shape, writable, owned by the fold. */
export type SessionDraft = DeepWritable<SessionState>;

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

function toolContent(kind: string, data: Record<string, JsonValue | undefined>): string {
  switch (kind) {
    case 'completed': {
      const output = data.output;
      return typeof output === 'string' ? output : JSON.stringify(output ?? null);
    }
    case 'failed':
      return `error ${text(data.errorCode) || 'UNKNOWN'}: ${text(data.message)}`;
    case 'timed_out':
      return typeof data.timeoutMs === 'number' ? `timed out after ${data.timeoutMs} ms` : 'timed out';
    case 'cancelled':
      return `cancelled: ${text(data.reason)}`;
    default:
      return `denied: ${text(data.reason)}`;
  }
}

function newTask(spec: PlanTaskSpec): DeepWritable<PlanTask> {
  return {
    taskId: spec.taskId,
    title: spec.title,
    description: spec.description,
    dependsOn: [...spec.dependsOn],
    status: 'pending',
    attempt: 0,
    outcome: null,
    startedAt: null,
    errorCode: null,
  };
}

/**
 * Applies one event of a session stream to the draft (in place) and returns it. The first
 * event must be `session.started`; events of types it does not know only move `version`, so
 * other writers of the stream (tool telemetry, model calls) never break the fold.
 */
export function evolveSession(draft: SessionDraft | undefined, event: StoredEvent): SessionDraft {
  if (draft === undefined) {
    if (event.type !== 'session.started') {
      throw new TypeError(`stream ${JSON.stringify(event.streamId)} starts with ${JSON.stringify(event.type)}, expected "session.started"`);
    }
    return {
      sessionId: event.streamId.slice('session:'.length),
      version: event.version,
      status: 'active',
      title: text(event.data.title),
      startedAt: event.occurredAt,
      endedAt: null,
      endReason: null,
      workflow: { phase: 'planning', paused: false, pauseReason: null },
      plan: null,
      messages: [],
    };
  }
  draft.version = event.version;
  const data = event.data as Record<string, JsonValue | undefined>;
  const [family, kind = ''] = splitType(event.type);
  switch (event.type) {
    case 'session.message_added': {
      const role = data.role as MessageRole;
      const content = text(data.content);
      const messageId = text(data.messageId);
      if (role === 'assistant') draft.messages.push({ role, messageId, content, toolCalls: (data.toolCalls ?? []) as unknown as ToolCallRequest[] });
      else draft.messages.push({ role, messageId, content });
      return draft;
    }
    case 'session.ended':
      draft.status = 'ended';
      draft.endedAt = event.occurredAt;
      draft.endReason = text(data.reason);
      return draft;
    case 'workflow.phase_changed':
      draft.workflow.phase = data.to as WorkflowPhase;
      return draft;
    case 'workflow.paused':
      draft.workflow.paused = true;
      draft.workflow.pauseReason = text(data.reason);
      return draft;
    case 'workflow.resumed':
      draft.workflow.paused = false;
      draft.workflow.pauseReason = null;
      return draft;
    case 'plan.created':
      draft.plan = {
        planId: text(data.planId),
        goal: text(data.goal),
        revision: 0,
        status: 'open',
        outcome: null,
        tasks: (data.tasks as unknown as PlanTaskSpec[]).map(newTask),
      };
      return draft;
    case 'plan.updated': {
      const plan = draft.plan;
      if (plan === null || plan.planId !== data.planId) return draft;
      const removed = new Set(data.removed as string[]);
      plan.tasks = plan.tasks.filter((task) => !removed.has(task.taskId));
      plan.tasks.push(...(data.added as unknown as PlanTaskSpec[]).map(newTask));
      plan.revision = data.revision as number;
      return draft;
    }
    case 'plan.completed':
      if (draft.plan !== null && draft.plan.planId === data.planId) {
        draft.plan.status = 'completed';
        draft.plan.outcome = data.outcome as Outcome;
      }
      return draft;
    default:
      break;
  }
  if (family === 'task') {
    const task = draft.plan?.planId === event.metadata.planId ? draft.plan?.tasks.find((t) => t.taskId === data.operationId) : undefined;
    if (task === undefined) return draft;
    if (kind === 'started') {
      task.status = 'in_progress';
      task.attempt = typeof event.metadata.attempt === 'number' ? event.metadata.attempt : task.attempt + 1;
      task.startedAt = event.occurredAt;
      task.outcome = null;
      task.errorCode = null;
    } else if (END_EVENT_OUTCOME[kind] !== undefined) {
      task.outcome = END_EVENT_OUTCOME[kind];
      task.status = kind === 'completed' ? 'completed' : (kind as TaskStatus);
      task.errorCode = kind === 'failed' ? text(data.errorCode) || 'UNKNOWN' : null;
    }
    return draft;
  }
  if (family === 'tool.run' && END_EVENT_OUTCOME[kind] !== undefined) {
    draft.messages.push({
      role: 'tool',
      toolCallId: text(data.operationId),
      toolName: text(data.name),
      outcome: END_EVENT_OUTCOME[kind],
      content: toolContent(kind, data),
    });
  }
  return draft;
}

function splitType(type: string): [string, string | undefined] {
  const cut = type.lastIndexOf('.');
  return cut < 0 ? [type, undefined] : [type.slice(0, cut), type.slice(cut + 1)];
}

/**
 * The state of a session from its whole stream, in version order; `undefined` for an empty
 * stream. The same events always give the same (deeply equal) state.
 *
 * @example
 * ```ts
 * const state = foldSession(await store.read('session:s1'));
 * ```
 */
export function foldSession(events: readonly StoredEvent[]): SessionState | undefined {
  let draft: SessionDraft | undefined;
  for (const event of events) draft = evolveSession(draft, event);
  return draft;
}
