import type { EventStore, NewEvent, StoredEvent } from '@buckley/events';
import { isWrongExpectedVersionError } from '@buckley/events';
import { type Attribution, type Redactor, createRedactor, redactMetadata, validateAttribution } from '@buckley/observability';
import { ClosedError, type Clock, systemClock, throwIfAborted, uuidv7, describeValue } from '@buckley/utils';
import { checkId, checkText } from './input.js';
import { InvalidOrchestratorInputError, SessionConflictError, SessionExistsError, SessionNotFoundError, SessionEndedError } from './orchestrator-errors.js';
import { type NewPlan, type PlanChange, type TaskUpdate, decideCreatePlan, decideTaskUpdate, decideUpdatePlan } from './plan.js';
import { type MessageRole, type ToolCallRequest, sessionStreamId } from './session-events.js';
import { type SessionDraft, type SessionState, type WorkflowPhase, WORKFLOW_PHASES, evolveSession } from './session-state.js';
import { decidePause, decidePhaseChange, decideResume } from './workflow.js';

/** Options of {@link createOrchestrator}. */
export interface OrchestratorOptions {
  /** Where every session, plan and workflow event goes; the caller owns it (closing the orchestrator leaves it open). */
  readonly store: EventStore;
  /**
   * Applied to every payload and metadata value before it is stored. Default `@buckley/observability`'s
   * redactor keeping strings up to `maxMessageChars` (a message is stored whole, secrets masked).
   */
  readonly redact?: Redactor;
  /** Time source of task durations. Default the system clock. */
  readonly clock?: Clock;
  /**
   * How many times a change made without an `expectedVersion` is decided again on the new
   * state when another writer appended first (default 5). Past that it fails with
   * `SessionConflictError`.
   */
  readonly maxConflictRetries?: number;
  /** Most UTF-16 characters of one message's content (default 524 288); longer is refused before anything is stored. */
  readonly maxMessageChars?: number;
  /** Sessions whose state is kept in memory between calls (default 256, least recently used dropped); a dropped one is read again. */
  readonly maxCachedSessions?: number;
}

/** Options of every change. */
export interface ChangeOptions {
  /**
   * The session version the caller decided on (`state.version` of what it read). When given,
   * the change is checked against that state and appended only if the session is still there:
   * otherwise `SessionConflictError`. Without it the change is decided on the latest state
   * (and decided again if another writer appends first).
   */
  readonly expectedVersion?: number;
  /** An aborted signal stops the call before it writes. */
  readonly signal?: AbortSignal;
  /** Attribution of the change's events besides the session (agent, plan, task, experiment), e.g. the agent loop's. */
  readonly attribution?: Omit<Attribution, 'sessionId'>;
}

/** What {@link Orchestrator.startSession} takes. */
export interface StartSessionOptions {
  /** Default a new UUIDv7. */
  readonly sessionId?: string;
  readonly title?: string;
  readonly signal?: AbortSignal;
}

/** A message to add to the conversation. */
export interface NewMessage {
  readonly role: MessageRole;
  readonly content: string;
  /** The tool calls of an assistant message. */
  readonly toolCalls?: readonly ToolCallRequest[];
  /** Default a new UUIDv7; adding a message id that is already in the session writes nothing again. */
  readonly messageId?: string;
}

/** A row of {@link Orchestrator.listSessions}. */
export interface SessionSummary {
  readonly sessionId: string;
  readonly title: string;
  readonly status: 'active' | 'ended';
  readonly startedAt: string;
  readonly endedAt: string | null;
}

/**
 * Sessions, plans and the workflow state machine over an event store. Every change is decided
 * on the session's state as folded from its stream and appended with the version it was
 * decided on, so two processes can never both make a change from the same state; a refused
 * change (a typed `OrchestratorError`) writes nothing. Every method returns the state after
 * the change (a copy the caller may keep).
 */
export interface Orchestrator extends AsyncDisposable {
  /** Starts a session: `session.started` on the new stream `session:<id>`. */
  startSession(options?: StartSessionOptions): Promise<SessionState>;
  /** Ends a session: `session.ended`; later changes fail with `SessionEndedError`. */
  endSession(sessionId: string, options?: ChangeOptions & { readonly reason?: string }): Promise<SessionState>;
  /** The session's state, folded from its stream (`SessionNotFoundError` if it was never started). */
  getSession(sessionId: string, options?: { readonly signal?: AbortSignal }): Promise<SessionState>;
  /** Sessions in the order they started, from the global log. */
  listSessions(options?: { readonly status?: 'active' | 'ended'; readonly signal?: AbortSignal }): Promise<SessionSummary[]>;
  /** Appends one message (`session.message_added`): stored once, never again as part of a prompt. */
  addMessage(sessionId: string, message: NewMessage, options?: ChangeOptions): Promise<SessionState>;
  /** Creates the session's plan (`plan.created`); refused while another plan is open. */
  createPlan(sessionId: string, plan: NewPlan, options?: ChangeOptions): Promise<SessionState>;
  /** Adds and removes tasks of the open plan (`plan.updated`). */
  updatePlan(sessionId: string, change: PlanChange, options?: ChangeOptions): Promise<SessionState>;
  /** Moves one task (`task.started`, `task.completed`, ...; `plan.completed` after the last one). */
  updateTask(sessionId: string, update: TaskUpdate, options?: ChangeOptions): Promise<SessionState>;
  /** Moves the workflow to another phase (`workflow.phase_changed`), as `WORKFLOW_TRANSITIONS` allows. */
  transition(sessionId: string, to: WorkflowPhase, options?: ChangeOptions & { readonly reason?: string }): Promise<SessionState>;
  /** Pauses the workflow (`workflow.paused`): no phase moves until it is resumed, in this process or any later one. */
  pause(sessionId: string, options?: ChangeOptions & { readonly reason?: string }): Promise<SessionState>;
  /** Resumes a paused workflow (`workflow.resumed`). */
  resume(sessionId: string, options?: ChangeOptions): Promise<SessionState>;
  /** Refuses further calls with `ClosedError` (`CLOSED`, from `@buckley/utils`); leaves the store open. Idempotent. */
  close(): Promise<void>;
}

type Decide = (state: SessionState) => NewEvent[];

/**
 * Creates the orchestrator over a store the caller owns.
 *
 * @example
 * ```ts
 * const orchestrator = createOrchestrator({ store });
 * const { sessionId } = await orchestrator.startSession({ title: 'fix the build' });
 * await orchestrator.transition(sessionId, 'executing');
 * ```
 */
export function createOrchestrator(options: OrchestratorOptions): Orchestrator {
  const { store } = options;
  if (typeof store?.append !== 'function') throw new InvalidOrchestratorInputError('store must be an EventStore');
  const clock = options.clock ?? systemClock;
  const retries = positiveInt('maxConflictRetries', options.maxConflictRetries ?? 5, 0);
  const maxMessageChars = positiveInt('maxMessageChars', options.maxMessageChars ?? 512 * 1024, 1);
  // The default redactor keeps every string a message may hold (it cuts at 16 KiB otherwise): a message is stored whole or refused.
  const redact = options.redact ?? createRedactor({ maxStringBytes: maxMessageChars * 3 });
  const maxCached = positiveInt('maxCachedSessions', options.maxCachedSessions ?? 256, 0);
  const cache = new Map<string, SessionDraft>();
  let closed = false;

  const open = () => {
    if (closed) throw new ClosedError('orchestrator');
  };

  const remember = (state: SessionDraft) => {
    cache.delete(state.sessionId);
    if (maxCached === 0) return;
    cache.set(state.sessionId, state);
    if (cache.size > maxCached) cache.delete(cache.keys().next().value!);
  };

  /** The session's state at the stream's head: the cached fold caught up with what others appended since. */
  const load = async (sessionId: string, signal?: AbortSignal): Promise<SessionDraft> => {
    checkId('sessionId', sessionId);
    let draft = cache.get(sessionId);
    const events = await store.read(sessionStreamId(sessionId), { fromVersion: (draft?.version ?? 0) + 1, ...(signal ? { signal } : {}) });
    // A stream that does not open with `session.started` (only telemetry was written to it) is no session.
    if (draft === undefined && events[0] !== undefined && events[0].type !== 'session.started') throw new SessionNotFoundError(sessionId);
    for (const event of events) draft = evolveSession(draft, event);
    if (draft === undefined) throw new SessionNotFoundError(sessionId);
    remember(draft);
    return draft;
  };

  const prepare = (sessionId: string, events: readonly NewEvent[], attribution: ChangeOptions['attribution'] = {}): NewEvent[] =>
    events.map((event) => ({
      ...event,
      data: redact(event.data),
      metadata: redactMetadata({ ...attribution, ...event.metadata, sessionId }, redact),
      occurredAt: new Date(clock.now()),
    }));

  const apply = (draft: SessionDraft, stored: readonly StoredEvent[]): SessionState => {
    for (const event of stored) evolveSession(draft, event);
    remember(draft);
    return structuredClone(draft);
  };

  /** Decides on the latest state and appends with the version decided on; decides again after a conflict. */
  const change = async (sessionId: string, decide: Decide, options: ChangeOptions = {}): Promise<SessionState> => {
    open();
    const { expectedVersion, signal } = options;
    const attribution = checkAttribution(options.attribution);
    if (expectedVersion !== undefined && !(Number.isInteger(expectedVersion) && expectedVersion >= 1)) {
      throw new InvalidOrchestratorInputError(`expectedVersion must be an integer >= 1, got ${describeValue(expectedVersion)}`);
    }
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      const draft = await load(sessionId, signal);
      if (expectedVersion !== undefined && draft.version !== expectedVersion) throw new SessionConflictError(sessionId, expectedVersion);
      const events = decide(draft);
      if (events.length === 0) return structuredClone(draft);
      try {
        const stored = await store.append(sessionStreamId(sessionId), prepare(sessionId, events, attribution), {
          expectedVersion: draft.version,
          ...(signal ? { signal } : {}),
        });
        return apply(draft, stored);
      } catch (error) {
        if (!isWrongExpectedVersionError(error)) throw error;
        if (expectedVersion !== undefined || attempt >= retries) throw new SessionConflictError(sessionId, draft.version, { cause: error });
      }
    }
  };

  const reasonOf = (value: unknown, fallback: string) => checkText('reason', value ?? fallback, 2_000);

  return {
    async startSession(start = {}) {
      open();
      throwIfAborted(start.signal);
      const sessionId = checkId('sessionId', start.sessionId ?? uuidv7());
      const title = checkText('title', start.title ?? '', 500, true);
      try {
        const stored = await store.append(sessionStreamId(sessionId), prepare(sessionId, [{ type: 'session.started', data: { title } }]), {
          expectedVersion: 'no_stream',
          ...(start.signal ? { signal: start.signal } : {}),
        });
        let draft: SessionDraft | undefined;
        for (const event of stored) draft = evolveSession(draft, event);
        remember(draft!);
        return structuredClone(draft!);
      } catch (error) {
        if (isWrongExpectedVersionError(error)) throw new SessionExistsError(sessionId, { cause: error });
        throw error;
      }
    },

    async endSession(sessionId, end = {}) {
      const reason = reasonOf(end.reason, 'ended');
      return change(
        sessionId,
        (state) => {
          if (state.status === 'ended') throw new SessionEndedError(sessionId);
          return [{ type: 'session.ended', data: { reason } }];
        },
        end,
      );
    },

    async getSession(sessionId, read = {}) {
      open();
      return structuredClone(await load(sessionId, read.signal));
    },

    async listSessions(list = {}) {
      open();
      if (list.status !== undefined && list.status !== 'active' && list.status !== 'ended') {
        throw new InvalidOrchestratorInputError(`status must be "active" or "ended", got ${describeValue(list.status)}`);
      }
      const sessions = new Map<string, { -readonly [K in keyof SessionSummary]: SessionSummary[K] }>();
      let after: string | undefined;
      for (;;) {
        const page = await store.readAll({
          filter: { types: ['session.started', 'session.ended'] },
          limit: 1000,
          ...(after === undefined ? {} : { after }),
          ...(list.signal ? { signal: list.signal } : {}),
        });
        for (const event of page) {
          if (!event.streamId.startsWith('session:')) continue;
          const sessionId = event.streamId.slice('session:'.length);
          if (event.type === 'session.started' && event.version === 1) {
            sessions.set(sessionId, { sessionId, title: String(event.data.title ?? ''), status: 'active', startedAt: event.occurredAt, endedAt: null });
          } else if (event.type === 'session.ended') {
            const row = sessions.get(sessionId);
            if (row) Object.assign(row, { status: 'ended', endedAt: event.occurredAt });
          }
        }
        if (page.length < 1000) break;
        after = page[page.length - 1]!.position;
      }
      const rows = [...sessions.values()];
      return list.status === undefined ? rows : rows.filter((row) => row.status === list.status);
    },

    async addMessage(sessionId, message, options) {
      if (typeof message !== 'object' || message === null) throw new InvalidOrchestratorInputError('the message must be an object');
      const role = message.role;
      if (role !== 'system' && role !== 'user' && role !== 'assistant') {
        throw new InvalidOrchestratorInputError(`role must be "system", "user" or "assistant", got ${describeValue(role)}`);
      }
      const content = checkText('content', message.content, maxMessageChars, true);
      const toolCalls = (message.toolCalls ?? []).map((call, i) => ({
        id: checkId(`toolCalls[${i}].id`, call?.id),
        name: checkText(`toolCalls[${i}].name`, call?.name, 256),
        arguments: checkText(`toolCalls[${i}].arguments`, call?.arguments, maxMessageChars, true),
      }));
      if (role !== 'assistant' && toolCalls.length > 0)
        throw new InvalidOrchestratorInputError(`only an assistant message has tool calls, got ${toolCalls.length} on a ${role} message`);
      const messageId = checkId('messageId', message.messageId ?? uuidv7());
      return change(
        sessionId,
        (state) => {
          if (state.status === 'ended') throw new SessionEndedError(sessionId);
          if (state.messages.some((m) => m.role !== 'tool' && m.messageId === messageId)) return [];
          return [{ type: 'session.message_added', data: { messageId, role, content, toolCalls } }];
        },
        options,
      );
    },

    async createPlan(sessionId, plan, options) {
      const planId = plan?.planId ?? uuidv7();
      return change(sessionId, (state) => decideCreatePlan(state, plan, planId), options);
    },

    async updatePlan(sessionId, planChange, options) {
      return change(sessionId, (state) => decideUpdatePlan(state, planChange), options);
    },

    async updateTask(sessionId, update, options) {
      return change(sessionId, (state) => decideTaskUpdate(state, update, new Date(clock.now())), options);
    },

    async transition(sessionId, to, options = {}) {
      if (!WORKFLOW_PHASES.includes(to)) {
        throw new InvalidOrchestratorInputError(`phase must be one of ${WORKFLOW_PHASES.map((p) => JSON.stringify(p)).join(', ')}, got ${describeValue(to)}`);
      }
      const reason = checkText('reason', options.reason ?? '', 2_000, true);
      return change(sessionId, (state) => decidePhaseChange(state, to, reason), options);
    },

    async pause(sessionId, options = {}) {
      const reason = reasonOf(options.reason, 'paused');
      return change(sessionId, (state) => decidePause(state, reason), options);
    },

    async resume(sessionId, options) {
      return change(sessionId, decideResume, options);
    },

    async close() {
      closed = true;
      cache.clear();
    },

    async [Symbol.asyncDispose]() {
      await this.close();
    },
  };
}

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new InvalidOrchestratorInputError(`${name} must be an integer >= ${min}, got ${describeValue(value)}`);
  return value;
}

function checkAttribution(attribution: ChangeOptions['attribution']): Omit<Attribution, 'sessionId'> {
  if (attribution === undefined) return {};
  try {
    const { sessionId: _ignored, ...rest } = validateAttribution(attribution);
    return rest;
  } catch (error) {
    throw new InvalidOrchestratorInputError(`attribution is malformed: ${error instanceof Error ? error.message : 'not an attribution'}`, { cause: error });
  }
}
