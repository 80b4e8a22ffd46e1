import { type Tool, defineTool, toolFailure } from '@buckley/tools';
import { z } from 'zod';
import { isOrchestratorError } from './orchestrator-errors.js';
import type { Orchestrator } from './orchestrator.js';
import type { Plan } from './session-state.js';

const id = z.string().min(1).max(200);
const task = z.strictObject({
  taskId: id.describe('a short stable id, e.g. "fix-test"'),
  title: z.string().min(1).max(500),
  description: z.string().max(4000).optional(),
  dependsOn: z.array(id).max(100).optional().describe('ids of tasks that must be completed first'),
});
const input = z.strictObject({
  goal: z.string().min(1).max(2000).optional().describe('the goal of a new plan (needed when no plan is open)'),
  add: z.array(task).max(100).optional().describe('tasks to add (the tasks of a new plan)'),
  remove: z.array(id).max(100).optional().describe('ids of pending tasks to drop'),
  status: z
    .array(
      z.strictObject({
        taskId: id,
        status: z.enum(['in_progress', 'completed', 'failed', 'cancelled']),
        note: z.string().max(2000).optional().describe('why it failed or was cancelled'),
      }),
    )
    .max(100)
    .optional()
    .describe('status changes, applied in order after the tasks are added and removed'),
  reason: z.string().max(2000).optional().describe('why the plan changes'),
});

/** What `update_plan` answers: the plan as it is now. */
export interface PlanToolOutput {
  readonly planId: string;
  readonly goal: string;
  readonly status: Plan['status'];
  readonly revision: number;
  readonly tasks: readonly { readonly taskId: string; readonly title: string; readonly status: string; readonly dependsOn: readonly string[] }[];
}

/**
 * The `update_plan` tool: the model creates the session's plan (`goal` and `add` when no plan is
 * open), adds and removes tasks, and moves tasks through their statuses, each change a
 * `plan.*` / `task.*` event of the session it is called for (the executor's attribution). A
 * change the plan refuses (`INVALID_PLAN`, `ILLEGAL_TASK_TRANSITION`, ...) is a failure the
 * model reads; changes made before it in the same call stay made, and the answer says which
 * status change was refused. Approval class `read`: it changes the session's plan, never the
 * workspace.
 *
 * @example
 * ```ts
 * registry.register(createUpdatePlanTool(orchestrator));
 * ```
 */
export function createUpdatePlanTool(orchestrator: Orchestrator): Tool<typeof input, PlanToolOutput> {
  return defineTool({
    name: 'update_plan',
    description:
      'Creates or changes the plan of this session: give goal and add to create it; add and remove tasks of the open plan; move tasks with status (in_progress, completed, failed, cancelled). Answers with the plan.',
    input,
    readOnly: false,
    approvalClass: 'read',
    async handler(change, context) {
      const sessionId = context.attribution?.sessionId;
      if (sessionId === undefined) return toolFailure('NO_SESSION', 'update_plan runs only for a session (the call has no sessionId attribution)');
      try {
        let state = await orchestrator.getSession(sessionId, { signal: context.signal });
        const open = state.plan !== null && state.plan.status === 'open';
        if (!open) {
          if (change.goal === undefined || (change.add ?? []).length === 0)
            return toolFailure('NO_OPEN_PLAN', 'no plan is open: give goal and add (the tasks) to create one');
          state = await orchestrator.createPlan(sessionId, { goal: change.goal, tasks: change.add ?? [] }, { signal: context.signal });
        } else if (change.goal !== undefined && change.goal !== state.plan!.goal) {
          return toolFailure(
            'PLAN_OPEN',
            'a plan is open, and goal is only for a new plan: finish or cancel its tasks first, or change its tasks with add and remove',
            { openGoal: state.plan!.goal },
          );
        } else if ((change.add ?? []).length > 0 || (change.remove ?? []).length > 0) {
          state = await orchestrator.updatePlan(
            sessionId,
            {
              reason: change.reason ?? 'changed by the model',
              ...(change.add ? { add: change.add } : {}),
              ...(change.remove ? { remove: change.remove } : {}),
            },
            { signal: context.signal },
          );
        }
        for (const [i, s] of (change.status ?? []).entries()) {
          const note = s.note ?? change.reason ?? 'set by the model';
          try {
            state = await orchestrator.updateTask(
              sessionId,
              s.status === 'failed'
                ? { taskId: s.taskId, status: 'failed', message: note }
                : s.status === 'cancelled'
                  ? { taskId: s.taskId, status: 'cancelled', reason: note }
                  : { taskId: s.taskId, status: s.status },
              { signal: context.signal },
            );
          } catch (error) {
            if (!isOrchestratorError(error)) throw error;
            return toolFailure(
              error.code,
              `status change ${i + 1} (${s.taskId} -> ${s.status}) was refused: ${error.message}; the changes before it were made`,
              {
                applied: i,
              },
            );
          }
        }
        const plan = state.plan!;
        return {
          planId: plan.planId,
          goal: plan.goal,
          status: plan.status,
          revision: plan.revision,
          tasks: plan.tasks.map((t) => ({ taskId: t.taskId, title: t.title, status: t.status, dependsOn: t.dependsOn })),
        };
      } catch (error) {
        if (isOrchestratorError(error)) return toolFailure(error.code, error.message);
        throw error;
      }
    },
  });
}
