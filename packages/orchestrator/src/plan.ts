/**
 * Plans and tasks as pure decisions on a session's state: each returns the `plan.*` / `task.*`
 * events of a change or throws (`InvalidPlanError`, `IllegalTaskTransitionError`), so a refused
 * change writes nothing.
 */
import { describeValue } from '@buckley/utils';
import type { JsonValue, NewEvent } from '@buckley/events';
import { toJsonValue } from '@buckley/observability';
import { checkId, checkText } from './input.js';
import { IllegalTaskTransitionError, InvalidOrchestratorInputError, InvalidPlanError, SessionEndedError } from './orchestrator-errors.js';
import type { PlanTaskSpec } from './session-events.js';
import type { Plan, PlanTask, SessionState, TaskStatus } from './session-state.js';

/** Most tasks a plan holds. */
export const MAX_PLAN_TASKS = 1000;

/** A task to add to a plan. */
export interface NewPlanTask {
  /** Default `task-<n>`, the first number not taken in the plan. */
  readonly taskId?: string;
  readonly title: string;
  readonly description?: string;
  /** Ids of tasks of the same plan (existing or added in the same change). */
  readonly dependsOn?: readonly string[];
}

/** What {@link decideCreatePlan} takes. */
export interface NewPlan {
  /** Default a new UUIDv7. */
  readonly planId?: string;
  readonly goal: string;
  readonly tasks: readonly NewPlanTask[];
}

/** A change to the open plan: tasks added and removed in one revision. */
export interface PlanChange {
  readonly reason: string;
  readonly add?: readonly NewPlanTask[];
  /** Ids of tasks that are not running or completed, and that no remaining task depends on. */
  readonly remove?: readonly string[];
}

/** A status change of one task of the open plan. */
export type TaskUpdate =
  | { readonly taskId: string; readonly status: 'in_progress' }
  | { readonly taskId: string; readonly status: 'completed'; readonly output?: unknown }
  | { readonly taskId: string; readonly status: 'failed'; readonly message: string; readonly errorCode?: string; readonly retryable?: boolean }
  | { readonly taskId: string; readonly status: 'timed_out'; readonly timeoutMs?: number }
  | { readonly taskId: string; readonly status: 'cancelled'; readonly reason: string };

/** The statuses a task may move to from each status. */
const TASK_MOVES: Readonly<Record<TaskStatus, readonly TaskUpdate['status'][]>> = {
  pending: ['in_progress', 'cancelled'],
  in_progress: ['completed', 'failed', 'timed_out', 'cancelled'],
  failed: ['in_progress', 'cancelled'],
  timed_out: ['in_progress', 'cancelled'],
  completed: [],
  cancelled: [],
  denied: [],
};

const REMOVABLE: ReadonlySet<TaskStatus> = new Set(['pending', 'failed', 'timed_out', 'cancelled', 'denied']);

function openPlan(state: SessionState): Plan {
  if (state.status === 'ended') throw new SessionEndedError(state.sessionId);
  if (state.plan === null || state.plan.status !== 'open') throw new InvalidPlanError(state.sessionId, 'there is no open plan');
  return state.plan;
}

function specs(state: SessionState, existing: readonly PlanTask[], tasks: readonly NewPlanTask[] | undefined, what: string): PlanTaskSpec[] {
  if (tasks === undefined) return [];
  if (!Array.isArray(tasks)) throw new InvalidOrchestratorInputError(`${what} must be an array of tasks`);
  const taken = new Set(existing.map((t) => t.taskId));
  for (const task of tasks) if (typeof task?.taskId === 'string') taken.add(task.taskId);
  let next = 1;
  const out: PlanTaskSpec[] = [];
  const seen = new Set(existing.map((t) => t.taskId));
  for (const [i, task] of tasks.entries()) {
    if (typeof task !== 'object' || task === null) throw new InvalidOrchestratorInputError(`${what}[${i}] must be an object`);
    let taskId = task.taskId;
    if (taskId === undefined) {
      while (taken.has(`task-${next}`)) next++;
      taskId = `task-${next}`;
      taken.add(taskId);
    }
    checkId(`${what}[${i}].taskId`, taskId);
    if (seen.has(taskId)) throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(taskId)} is in the plan twice`);
    seen.add(taskId);
    const dependsOn = task.dependsOn ?? [];
    if (!Array.isArray(dependsOn)) throw new InvalidOrchestratorInputError(`${what}[${i}].dependsOn must be an array of task ids`);
    out.push({
      taskId,
      title: checkText(`${what}[${i}].title`, task.title, 500),
      description: checkText(`${what}[${i}].description`, task.description ?? '', 10_000, true),
      dependsOn: [...new Set(dependsOn.map((d, j) => checkId(`${what}[${i}].dependsOn[${j}]`, d)))],
    });
  }
  return out;
}

/** Checks the task graph: every dependency exists, none is the task itself, no cycle. */
function checkGraph(state: SessionState, tasks: readonly { taskId: string; dependsOn: readonly string[] }[]): void {
  if (tasks.length === 0) throw new InvalidPlanError(state.sessionId, 'a plan needs at least one task');
  if (tasks.length > MAX_PLAN_TASKS) throw new InvalidPlanError(state.sessionId, `a plan holds at most ${MAX_PLAN_TASKS} tasks, got ${tasks.length}`);
  const deps = new Map(tasks.map((t) => [t.taskId, t.dependsOn]));
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      if (dep === task.taskId) throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(dep)} depends on itself`);
      if (!deps.has(dep))
        throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(task.taskId)} depends on ${JSON.stringify(dep)}, which is not in the plan`);
    }
  }
  // Iterative depth-first search (a 1000-task chain must not overflow the stack).
  const color = new Map<string, 1 | 2>();
  for (const root of deps.keys()) {
    if (color.has(root)) continue;
    const stack: [string, number][] = [[root, 0]];
    color.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const children = deps.get(top[0])!;
      if (top[1] >= children.length) {
        color.set(top[0], 2);
        stack.pop();
        continue;
      }
      const child = children[top[1]++]!;
      const c = color.get(child);
      if (c === 1) {
        const cycle = [...stack.slice(stack.findIndex(([id]) => id === child)).map(([id]) => id), child];
        throw new InvalidPlanError(state.sessionId, `the task dependencies form a cycle: ${cycle.map((id) => JSON.stringify(id)).join(' -> ')}`);
      }
      if (c === undefined) {
        color.set(child, 1);
        stack.push([child, 0]);
      }
    }
  }
}

/** The `plan.created` event of a new plan. Refused while another plan is open. */
export function decideCreatePlan(state: SessionState, plan: NewPlan, planId: string): NewEvent[] {
  if (state.status === 'ended') throw new SessionEndedError(state.sessionId);
  if (state.plan !== null && state.plan.status === 'open') {
    throw new InvalidPlanError(state.sessionId, `plan ${JSON.stringify(state.plan.planId)} is still open: update it instead`);
  }
  if (typeof plan !== 'object' || plan === null) throw new InvalidOrchestratorInputError('the plan must be an object');
  checkId('planId', planId);
  const goal = checkText('goal', plan.goal, 10_000);
  const tasks = specs(state, [], plan.tasks ?? [], 'tasks');
  checkGraph(state, tasks);
  return [
    {
      type: 'plan.created',
      data: { planId, goal, taskIds: tasks.map((t) => t.taskId), tasks },
      metadata: { planId },
    },
  ];
}

/** The `plan.updated` event of a change to the open plan (and `plan.completed` when every remaining task is completed). */
export function decideUpdatePlan(state: SessionState, change: PlanChange): NewEvent[] {
  const plan = openPlan(state);
  if (typeof change !== 'object' || change === null) throw new InvalidOrchestratorInputError('the plan change must be an object');
  const reason = checkText('reason', change.reason, 2_000);
  const remove = change.remove ?? [];
  if (!Array.isArray(remove)) throw new InvalidOrchestratorInputError('remove must be an array of task ids');
  const removed = new Set<string>();
  for (const [i, id] of remove.entries()) {
    checkId(`remove[${i}]`, id);
    const task = plan.tasks.find((t) => t.taskId === id);
    if (task === undefined) throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(id)} is not in the plan`);
    if (!REMOVABLE.has(task.status))
      throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(id)} is ${JSON.stringify(task.status)} and cannot be removed`);
    removed.add(id);
  }
  const kept = plan.tasks.filter((t) => !removed.has(t.taskId));
  const added = specs(state, kept, change.add, 'add');
  if (added.length === 0 && removed.size === 0) throw new InvalidPlanError(state.sessionId, 'the change adds and removes nothing');
  const after = [...kept, ...added];
  for (const task of after) {
    for (const dep of task.dependsOn) {
      if (removed.has(dep))
        throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(task.taskId)} depends on ${JSON.stringify(dep)}, which the change removes`);
    }
  }
  checkGraph(state, after);
  const events: NewEvent[] = [
    {
      type: 'plan.updated',
      data: { planId: plan.planId, revision: plan.revision + 1, reason, taskIds: after.map((t) => t.taskId), added, removed: [...removed] },
      metadata: { planId: plan.planId },
    },
  ];
  if (added.length === 0 && after.every((t) => t.status === 'completed')) events.push(planCompleted(plan.planId));
  return events;
}

function planCompleted(planId: string): NewEvent {
  return { type: 'plan.completed', data: { planId, outcome: 'success' }, metadata: { planId, outcome: 'success' } };
}

/**
 * The `task.*` event of a task's status change, following the task moves (pending ->
 * in_progress -> completed | failed | timed_out | cancelled; a failed or timed-out task may
 * start again, its attempt counting up). A task starts only when every task it depends on is
 * completed. Completing the last open task also writes `plan.completed`.
 */
export function decideTaskUpdate(state: SessionState, update: TaskUpdate, now: Date): NewEvent[] {
  const plan = openPlan(state);
  if (typeof update !== 'object' || update === null) throw new InvalidOrchestratorInputError('the task update must be an object');
  const taskId = checkId('taskId', update.taskId);
  const task = plan.tasks.find((t) => t.taskId === taskId);
  if (task === undefined) throw new InvalidPlanError(state.sessionId, `task ${JSON.stringify(taskId)} is not in plan ${JSON.stringify(plan.planId)}`);
  const to = update.status;
  if (!TASK_MOVES.in_progress.includes(to) && to !== 'in_progress') {
    throw new InvalidOrchestratorInputError(`status must be one of "in_progress", "completed", "failed", "timed_out", "cancelled", got ${describeValue(to)}`);
  }
  const moves = TASK_MOVES[task.status];
  if (!moves.includes(to)) {
    throw new IllegalTaskTransitionError(
      state.sessionId,
      taskId,
      task.status,
      String(to),
      moves.length === 0 ? `no move from ${JSON.stringify(task.status)}` : `one of ${moves.map((m) => JSON.stringify(m)).join(', ')}`,
    );
  }
  const base = { operationId: taskId, name: task.title };
  const metadata = { planId: plan.planId, taskId };
  if (to === 'in_progress') {
    const open = task.dependsOn.filter((dep) => plan.tasks.find((t) => t.taskId === dep)?.status !== 'completed');
    if (open.length > 0) {
      throw new IllegalTaskTransitionError(
        state.sessionId,
        taskId,
        task.status,
        to,
        `its dependencies completed first (open: ${open.map((d) => JSON.stringify(d)).join(', ')})`,
      );
    }
    return [{ type: 'task.started', data: { ...base, input: null }, metadata: { ...metadata, attempt: task.attempt + 1 } }];
  }
  const durationMs = task.status === 'in_progress' && task.startedAt !== null ? Math.max(0, now.getTime() - Date.parse(task.startedAt)) : 0;
  const end = { ...metadata, attempt: Math.max(1, task.attempt), durationMs };
  switch (update.status) {
    case 'completed': {
      const output: JsonValue = toJsonValue(update.output);
      const events: NewEvent[] = [{ type: 'task.completed', data: { ...base, durationMs, output }, metadata: { ...end, outcome: 'success' } }];
      if (plan.tasks.every((t) => t.taskId === taskId || t.status === 'completed')) events.push(planCompleted(plan.planId));
      return events;
    }
    case 'failed':
      return [
        {
          type: 'task.failed',
          data: {
            ...base,
            durationMs,
            errorCode: update.errorCode === undefined ? 'UNKNOWN' : checkText('errorCode', update.errorCode, 128),
            message: checkText('message', update.message, 10_000, true),
            retryable: update.retryable === true,
          },
          metadata: { ...end, outcome: 'failure' },
        },
      ];
    case 'timed_out': {
      const timeoutMs = update.timeoutMs ?? null;
      if (timeoutMs !== null && !(Number.isFinite(timeoutMs) && timeoutMs >= 0))
        throw new InvalidOrchestratorInputError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
      return [{ type: 'task.timed_out', data: { ...base, durationMs, timeoutMs }, metadata: { ...end, outcome: 'timeout' } }];
    }
    default:
      return [
        {
          type: 'task.cancelled',
          data: { ...base, durationMs, reason: checkText('reason', update.reason, 2_000) },
          metadata: { ...end, outcome: 'cancelled' },
        },
      ];
  }
}
