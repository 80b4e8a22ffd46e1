import { createInMemoryEventStore } from '@buckley/events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Orchestrator, type SessionState, createOrchestrator, foldSession, isOrchestratorError, sessionStreamId } from './index.js';

const taskIds = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
const taskId = fc.constantFrom(...taskIds);
const newTask = fc.record({ taskId, title: fc.string({ minLength: 1, maxLength: 8 }), dependsOn: fc.uniqueArray(taskId, { maxLength: 3 }) });

/** One call a caller (or the model's `update_plan` tool) might make; many are refused, which is part of what is tested. */
const command = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), tasks: fc.array(newTask, { minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constant('update' as const), add: fc.array(newTask, { maxLength: 2 }), remove: fc.uniqueArray(taskId, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('task' as const), taskId, status: fc.constantFrom('in_progress', 'completed', 'failed', 'timed_out', 'cancelled') }),
  fc.record({ kind: fc.constant('phase' as const), to: fc.constantFrom('planning', 'executing', 'reviewing', 'done') }),
  fc.record({ kind: fc.constantFrom('pause' as const, 'resume' as const) }),
  fc.record({ kind: fc.constant('message' as const), content: fc.string({ maxLength: 20 }) }),
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

function run(orchestrator: Orchestrator, sessionId: string, c: Command): Promise<SessionState> {
  switch (c.kind) {
    case 'create':
      return orchestrator.createPlan(sessionId, { goal: 'goal', tasks: c.tasks });
    case 'update':
      return orchestrator.updatePlan(sessionId, { reason: 'change', add: c.add, remove: c.remove });
    case 'task':
      if (c.status === 'failed') return orchestrator.updateTask(sessionId, { taskId: c.taskId, status: 'failed', message: 'boom' });
      if (c.status === 'cancelled') return orchestrator.updateTask(sessionId, { taskId: c.taskId, status: 'cancelled', reason: 'no' });
      return orchestrator.updateTask(sessionId, { taskId: c.taskId, status: c.status as 'in_progress' });
    case 'phase':
      return orchestrator.transition(sessionId, c.to);
    case 'pause':
      return orchestrator.pause(sessionId);
    case 'resume':
      return orchestrator.resume(sessionId);
    default:
      return orchestrator.addMessage(sessionId, { role: 'user', content: c.content });
  }
}

/** What must hold of every plan the orchestrator lets through. */
function checkInvariants(state: SessionState): void {
  const plan = state.plan;
  if (plan === null) return;
  const ids = plan.tasks.map((t) => t.taskId);
  expect(new Set(ids).size).toBe(ids.length);
  const byId = new Map(plan.tasks.map((t) => [t.taskId, t]));
  for (const task of plan.tasks) {
    for (const dep of task.dependsOn) {
      expect(byId.has(dep)).toBe(true);
      // A task that ever started did so after every dependency completed, and a completed task stays so.
      expect(task.attempt === 0 || byId.get(dep)!.status === 'completed').toBe(true);
    }
    expect(task.attempt === 0).toBe(task.status === 'pending' || (task.status === 'cancelled' && task.startedAt === null));
  }
  expect(plan.status !== 'completed' || plan.tasks.every((t) => t.status === 'completed')).toBe(true);
}

describe('the plan and workflow projection', () => {
  it('is identical whether kept up to date call by call, folded from the stream, or rebuilt by a new orchestrator; refused calls write nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 40 }), async (commands) => {
        await using store = createInMemoryEventStore();
        await using live = createOrchestrator({ store });
        let state = await live.startSession({ sessionId: 's' });
        for (const c of commands) {
          const before = await store.streamVersion(sessionStreamId('s'));
          let refused = false;
          try {
            state = await run(live, 's', c);
          } catch (error) {
            if (!isOrchestratorError(error)) throw error;
            refused = true;
          }
          const after = await store.streamVersion(sessionStreamId('s'));
          expect(refused && after !== before).toBe(false);
          checkInvariants(state);
        }
        const events = await store.read(sessionStreamId('s'));
        expect(foldSession(events)).toEqual(state);
        await using rebuilt = createOrchestrator({ store });
        expect(await rebuilt.getSession('s')).toEqual(state);
      }),
      { numRuns: 150 },
    );
  });
});
