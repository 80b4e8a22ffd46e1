/**
 * The workflow state machine of a session, as pure decisions: each takes the state a caller
 * read and returns the `workflow.*` events of the move, or throws `IllegalTransitionError`
 * (and so writes nothing).
 */
import type { NewEvent } from '@buckley/events';
import { IllegalTransitionError, SessionEndedError } from './orchestrator-errors.js';
import type { SessionState, WorkflowPhase } from './session-state.js';

/**
 * The phase moves the state machine allows: planning -> executing -> reviewing -> done, back
 * from executing to planning (re-plan) and from reviewing to executing (changes asked for).
 * `done` is final. Pausing stops every phase move until the session is resumed.
 */
export const WORKFLOW_TRANSITIONS: Readonly<Record<WorkflowPhase, readonly WorkflowPhase[]>> = {
  planning: ['executing'],
  executing: ['planning', 'reviewing'],
  reviewing: ['executing', 'done'],
  done: [],
};

function active(state: SessionState): void {
  if (state.status === 'ended') throw new SessionEndedError(state.sessionId);
}

/** The `workflow.phase_changed` event moving the session to `to`. */
export function decidePhaseChange(state: SessionState, to: WorkflowPhase, reason: string): NewEvent[] {
  active(state);
  const { phase, paused } = state.workflow;
  const allowed = WORKFLOW_TRANSITIONS[phase];
  if (paused) throw new IllegalTransitionError(state.sessionId, phase, to, true, 'a resumed session');
  if (!allowed.includes(to)) {
    throw new IllegalTransitionError(
      state.sessionId,
      phase,
      to,
      false,
      allowed.length === 0 ? `no move from ${JSON.stringify(phase)}` : `one of ${allowed.map((p) => JSON.stringify(p)).join(', ')}`,
    );
  }
  return [{ type: 'workflow.phase_changed', data: { from: phase, to, reason } }];
}

/** The `workflow.paused` event. A paused or done session cannot be paused. */
export function decidePause(state: SessionState, reason: string): NewEvent[] {
  active(state);
  const { phase, paused } = state.workflow;
  if (paused) throw new IllegalTransitionError(state.sessionId, phase, 'paused', true, 'a session that is not paused');
  if (phase === 'done') throw new IllegalTransitionError(state.sessionId, phase, 'paused', false, 'a phase before "done"');
  return [{ type: 'workflow.paused', data: { phase, reason } }];
}

/** The `workflow.resumed` event. Only a paused session can be resumed. */
export function decideResume(state: SessionState): NewEvent[] {
  active(state);
  const { phase, paused } = state.workflow;
  if (!paused) throw new IllegalTransitionError(state.sessionId, phase, 'resumed', false, 'a paused session');
  return [{ type: 'workflow.resumed', data: { phase } }];
}
