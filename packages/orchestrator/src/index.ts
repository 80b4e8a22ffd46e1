export {
  ExperimentExistsError,
  ExperimentNotFoundError,
  IllegalTaskTransitionError,
  IllegalTransitionError,
  InvalidOrchestratorInputError,
  InvalidPlanError,
  OrchestratorError,
  OrchestratorErrorCode,
  SessionBusyError,
  SessionConflictError,
  SessionEndedError,
  SessionExistsError,
  SessionError,
  SessionNotFoundError,
  TransitionError,
  isOrchestratorError,
} from './orchestrator-errors.js';
export { createOrchestrator } from './orchestrator.js';
export type { ChangeOptions, NewMessage, Orchestrator, OrchestratorOptions, SessionSummary, StartSessionOptions } from './orchestrator.js';
export { MAX_PLAN_TASKS, decideCreatePlan, decideTaskUpdate, decideUpdatePlan } from './plan.js';
export type { NewPlan, NewPlanTask, PlanChange, TaskUpdate } from './plan.js';
export { END_EVENT_OUTCOME, sessionStreamId } from './session-events.js';
export type {
  MessageRole,
  NewSessionEvent,
  PlanCompleted,
  PlanCreated,
  PlanTaskSpec,
  PlanUpdated,
  SessionEnded,
  SessionEvent,
  SessionMessageAdded,
  SessionPlanEvent,
  SessionStarted,
  SessionStreamEvent,
  StoredSessionEvent,
  ToolCallRequest,
} from './session-events.js';
export { WORKFLOW_PHASES, evolveSession, foldSession } from './session-state.js';
export type { ConversationMessage, Plan, PlanTask, SessionDraft, SessionState, TaskStatus, WorkflowPhase, WorkflowState } from './session-state.js';
export { WORKFLOW_TRANSITIONS, decidePause, decidePhaseChange, decideResume } from './workflow.js';
export { createAgent } from './agent.js';
export type { Agent, AgentLimitName, AgentLimits, AgentOptions, AgentProgress, AgentRunOptions, AgentRunResult } from './agent.js';
export { createUpdatePlanTool } from './plan-tool.js';
export type { PlanToolOutput } from './plan-tool.js';
export { EXPERIMENT_RUN_TASK, createExperimentRunner, experimentStreamId } from './experiment.js';
export type {
  CriterionResult,
  ExperimentCriterion,
  ExperimentEnvironment,
  ExperimentReport,
  ExperimentRun,
  ExperimentRunner,
  ExperimentRunnerOptions,
  ExperimentSpec,
  ExperimentVariant,
} from './experiment.js';
