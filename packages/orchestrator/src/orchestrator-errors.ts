import { BuckleyError, type BuckleyErrorOptions, isBuckleyError } from '@buckley/utils';

/** Stable codes of the orchestrator's errors. */
export const OrchestratorErrorCode = {
  InvalidInput: 'INVALID_ORCHESTRATOR_INPUT',
  SessionNotFound: 'SESSION_NOT_FOUND',
  SessionExists: 'SESSION_EXISTS',
  SessionEnded: 'SESSION_ENDED',
  SessionConflict: 'SESSION_CONFLICT',
  IllegalTransition: 'ILLEGAL_TRANSITION',
  InvalidPlan: 'INVALID_PLAN',
  IllegalTaskTransition: 'ILLEGAL_TASK_TRANSITION',
  SessionBusy: 'SESSION_BUSY',
  ExperimentNotFound: 'EXPERIMENT_NOT_FOUND',
  ExperimentExists: 'EXPERIMENT_EXISTS',
} as const;

/** One of {@link OrchestratorErrorCode}'s values. */
export type OrchestratorErrorCode = (typeof OrchestratorErrorCode)[keyof typeof OrchestratorErrorCode];

/** The base of every error the orchestrator throws. Every one of them means nothing was written. */
export class OrchestratorError extends BuckleyError {
  declare readonly code: OrchestratorErrorCode;
}

/** An argument was malformed (an id, a title, a role, a limit); nothing was written. */
export class InvalidOrchestratorInputError extends OrchestratorError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.InvalidInput, message, options);
  }
}

/** The experiment's stream has no `experiment.started`. */
export class ExperimentNotFoundError extends OrchestratorError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.ExperimentNotFound, message, options);
  }
}

/** Starting an experiment whose id is taken. */
export class ExperimentExistsError extends OrchestratorError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.ExperimentExists, message, options);
  }
}

/** The base of the errors about one session: they name it. */
export class SessionError extends OrchestratorError {
  readonly sessionId: string;
  constructor(code: OrchestratorErrorCode, sessionId: string, message: string, options?: BuckleyErrorOptions) {
    super(code, message, options);
    this.sessionId = sessionId;
  }
}

/** No session has this id (its stream has no `session.started`). */
export class SessionNotFoundError extends SessionError {
  constructor(sessionId: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.SessionNotFound, sessionId, `session ${JSON.stringify(sessionId)} does not exist`, options);
  }
}

/** A session with this id was already started. */
export class SessionExistsError extends SessionError {
  constructor(sessionId: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.SessionExists, sessionId, `session ${JSON.stringify(sessionId)} already exists`, options);
  }
}

/** The session has ended: its stream takes no further change. */
export class SessionEndedError extends SessionError {
  constructor(sessionId: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.SessionEnded, sessionId, `session ${JSON.stringify(sessionId)} has ended`, options);
  }
}

/**
 * The session moved between the read a decision was made on and its append: another process
 * (or call) appended first. Nothing was written; read the session again and decide again.
 */
export class SessionConflictError extends SessionError {
  /** The version the decision was made on. */
  readonly expectedVersion: number;
  constructor(sessionId: string, expectedVersion: number, options?: BuckleyErrorOptions) {
    const message = `session ${JSON.stringify(sessionId)} changed after version ${expectedVersion}: read it again and decide again`;
    super(OrchestratorErrorCode.SessionConflict, sessionId, message, { retryable: true, ...options });
    this.expectedVersion = expectedVersion;
  }
}

/**
 * Another run of the agent holds the session (in this process or another): two runs would run
 * the same tool calls twice. Retry after `retryAfterMs`, when its lease runs out unless renewed.
 */
export class SessionBusyError extends SessionError {
  readonly retryAfterMs: number;
  constructor(sessionId: string, retryAfterMs: number, options?: BuckleyErrorOptions) {
    super(
      OrchestratorErrorCode.SessionBusy,
      sessionId,
      `session ${JSON.stringify(sessionId)} is being run by another agent run; try again in ${Math.max(0, Math.ceil(retryAfterMs))} ms`,
      { retryable: true, ...options },
    );
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}

/** A move the state machine refuses (of the workflow or of a task): it names where from and where to. */
export class TransitionError extends SessionError {
  /** The current phase or task status. */
  readonly from: string;
  /** What was asked: a phase, `paused`, `resumed` or a task status. */
  readonly to: string;
  constructor(code: OrchestratorErrorCode, sessionId: string, what: string, from: string, to: string, expected: string, options?: BuckleyErrorOptions) {
    super(code, sessionId, `${what} cannot move from ${JSON.stringify(from)} to ${JSON.stringify(to)}: expected ${expected}`, options);
    this.from = from;
    this.to = to;
  }
}

/** The workflow state machine does not allow this move from the current state; nothing was written. */
export class IllegalTransitionError extends TransitionError {
  readonly paused: boolean;
  constructor(sessionId: string, from: string, to: string, paused: boolean, expected: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.IllegalTransition, sessionId, `session ${JSON.stringify(sessionId)}${paused ? ' (paused)' : ''}`, from, to, expected, options);
    this.paused = paused;
  }
}

/** A task cannot take this status now (e.g. completing a task that never started, starting one whose dependencies are open). */
export class IllegalTaskTransitionError extends TransitionError {
  readonly taskId: string;
  constructor(sessionId: string, taskId: string, from: string, to: string, expected: string, options?: BuckleyErrorOptions) {
    super(
      OrchestratorErrorCode.IllegalTaskTransition,
      sessionId,
      `task ${JSON.stringify(taskId)} of session ${JSON.stringify(sessionId)}`,
      from,
      to,
      expected,
      options,
    );
    this.taskId = taskId;
  }
}

/** A plan or plan change is malformed (unknown or duplicate task, a dependency cycle, no open plan); nothing was written. */
export class InvalidPlanError extends SessionError {
  constructor(sessionId: string, message: string, options?: BuckleyErrorOptions) {
    super(OrchestratorErrorCode.InvalidPlan, sessionId, `session ${JSON.stringify(sessionId)}: ${message}`, options);
  }
}

/** True when `value` is any orchestrator error, optionally with the given code (by code, so it holds across installs). */
export function isOrchestratorError(value: unknown, code?: OrchestratorErrorCode): value is OrchestratorError {
  return isBuckleyError(value, code) && (Object.values(OrchestratorErrorCode) as string[]).includes(value.code);
}
