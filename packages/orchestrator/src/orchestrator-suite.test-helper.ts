// The orchestrator's behaviour on one store: run in the unit tier on the in-memory store
// (`orchestrator.test.ts`) and in the integration tier on Postgres (`orchestrator.int.test.ts`).
import type { EventStore } from '@buckley/events';
import { rejected } from '@buckley/testing';
import { ManualClock } from '@buckley/utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Orchestrator, createOrchestrator, foldSession, sessionStreamId } from './index.js';

export interface SuiteStore extends AsyncDisposable {
  readonly store: EventStore;
}

const GITHUB_TOKEN = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';

export function describeOrchestratorSuite(name: string, createStore: () => Promise<SuiteStore>): void {
  describe(`orchestrator on ${name}`, () => {
    let handle: SuiteStore;
    let store: EventStore;
    let orchestrator: Orchestrator;
    let clock: ManualClock;

    beforeEach(async () => {
      handle = await createStore();
      store = handle.store;
      clock = new ManualClock(Date.parse('2026-12-02T12:00:00.000Z'));
      orchestrator = createOrchestrator({ store, clock });
    });
    afterEach(async () => {
      await orchestrator.close();
      await handle[Symbol.asyncDispose]();
    });

    const types = async (sessionId: string) => (await store.read(sessionStreamId(sessionId))).map((e) => e.type);
    const rebuilt = async (sessionId: string) => foldSession(await store.read(sessionStreamId(sessionId)));

    describe('sessions', () => {
      it('starts, lists and ends sessions; each is a stream whose events are the truth', async () => {
        const a = await orchestrator.startSession({ sessionId: 'a', title: 'first' });
        await orchestrator.startSession({ sessionId: 'b', title: 'second' });
        expect(a).toMatchObject({ sessionId: 'a', version: 1, status: 'active', title: 'first', workflow: { phase: 'planning', paused: false } });
        const ended = await orchestrator.endSession('a', { reason: 'done here' });
        expect(ended).toMatchObject({ status: 'ended', endReason: 'done here', version: 2 });
        expect(await types('a')).toEqual(['session.started', 'session.ended']);
        const [started] = await store.read(sessionStreamId('a'));
        expect(started!.metadata.sessionId).toBe('a');

        const all = await orchestrator.listSessions();
        expect(all.map((s) => [s.sessionId, s.title, s.status])).toEqual([
          ['a', 'first', 'ended'],
          ['b', 'second', 'active'],
        ]);
        expect((await orchestrator.listSessions({ status: 'active' })).map((s) => s.sessionId)).toEqual(['b']);
        expect(all[0]!.endedAt).toBe(ended.endedAt);

        // A second orchestrator (another process) sees the same sessions, rebuilt from the store.
        await using other = createOrchestrator({ store });
        expect(await other.getSession('a')).toEqual(ended);
        expect(await other.listSessions()).toEqual(all);
      });

      it('refuses a taken id, an unknown session, an ended session and a bad id, writing nothing', async () => {
        await orchestrator.startSession({ sessionId: 's' });
        expect(await rejected(orchestrator.startSession({ sessionId: 's' }))).toMatchObject({ code: 'SESSION_EXISTS', sessionId: 's' });
        expect(await rejected(orchestrator.getSession('nope'))).toMatchObject({ code: 'SESSION_NOT_FOUND' });
        expect(await rejected(orchestrator.addMessage('nope', { role: 'user', content: 'hi' }))).toMatchObject({ code: 'SESSION_NOT_FOUND' });
        expect(await store.streamVersion(sessionStreamId('nope'))).toBe(0);
        // A stream only telemetry was written to is not a session: a typed error, not a crash of the fold.
        await store.append(sessionStreamId('tele-only'), [{ type: 'tool.run.started', data: { operationId: 'x', name: 'shell', input: null } }]);
        expect(await rejected(orchestrator.getSession('tele-only'))).toMatchObject({ code: 'SESSION_NOT_FOUND' });
        for (const bad of ['', ' x', 'a b', 'x'.repeat(129), 'a\nb', '../etc']) {
          expect(await rejected(orchestrator.startSession({ sessionId: bad }))).toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
        }
        await orchestrator.endSession('s');
        for (const call of [
          () => orchestrator.endSession('s'),
          () => orchestrator.addMessage('s', { role: 'user', content: 'late' }),
          () => orchestrator.transition('s', 'executing'),
          () => orchestrator.pause('s'),
          () => orchestrator.createPlan('s', { goal: 'g', tasks: [{ title: 't' }] }),
        ]) {
          expect(await rejected(call())).toMatchObject({ code: 'SESSION_ENDED' });
        }
        expect(await types('s')).toEqual(['session.started', 'session.ended']);
        expect((await store.readAll()).filter((e) => e.streamId !== 'session:s' && e.streamId !== 'session:tele-only')).toEqual([]);
      });

      it('stores each message and tool result once, as a delta, and rebuilds the conversation from the events', async () => {
        await orchestrator.startSession({ sessionId: 'c' });
        await orchestrator.addMessage('c', { role: 'system', content: 'you are helpful' });
        await orchestrator.addMessage('c', { role: 'user', content: 'read a.txt' });
        await orchestrator.addMessage('c', {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'call_1', name: 'read_file', arguments: '{"path":"a.txt"}' }],
        });
        // The tool middleware writes the tool run to the session stream; its end event is the tool result.
        await store.append(sessionStreamId('c'), [
          {
            type: 'tool.run.started',
            data: { operationId: 'call_1', name: 'read_file', input: { path: 'a.txt' } },
            metadata: { sessionId: 'c', toolName: 'read_file' },
          },
          {
            type: 'tool.run.completed',
            data: { operationId: 'call_1', name: 'read_file', durationMs: 3, output: 'hello' },
            metadata: { sessionId: 'c', toolName: 'read_file', outcome: 'success' },
          },
        ]);
        const state = await orchestrator.addMessage('c', { role: 'assistant', content: 'it says hello' });
        expect(state.messages).toEqual([
          { role: 'system', messageId: expect.any(String), content: 'you are helpful' },
          { role: 'user', messageId: expect.any(String), content: 'read a.txt' },
          { role: 'assistant', messageId: expect.any(String), content: '', toolCalls: [{ id: 'call_1', name: 'read_file', arguments: '{"path":"a.txt"}' }] },
          { role: 'tool', toolCallId: 'call_1', toolName: 'read_file', outcome: 'success', content: 'hello' },
          { role: 'assistant', messageId: expect.any(String), content: 'it says hello', toolCalls: [] },
        ]);
        expect(await rebuilt('c')).toEqual(state);
        // One event per message: no event repeats the conversation.
        const events = await store.read(sessionStreamId('c'));
        expect(events.filter((e) => e.type === 'session.message_added')).toHaveLength(4);
        expect(events.some((e) => JSON.stringify(e.data).includes('you are helpful') && e.type !== 'session.message_added')).toBe(false);
      });

      it('the stored bytes grow with the conversation, not with its square', async () => {
        await orchestrator.startSession({ sessionId: 'big' });
        const chunk = 'lorem ipsum dolor sit amet '.repeat(400); // ~10 kB per message
        for (let i = 0; i < 60; i++) await orchestrator.addMessage('big', { role: i % 2 === 0 ? 'user' : 'assistant', content: `${i} ${chunk}` });
        const state = await orchestrator.getSession('big');
        const conversationBytes = Buffer.byteLength(JSON.stringify(state.messages));
        const storedBytes = (await store.read(sessionStreamId('big'))).reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e.data)), 0);
        expect(storedBytes).toBeLessThan(conversationBytes * 1.1);
      });

      it('a message id already stored writes nothing again; bad messages are refused before anything is stored', async () => {
        await orchestrator.startSession({ sessionId: 'm' });
        await orchestrator.addMessage('m', { role: 'user', content: 'once', messageId: 'msg-1' });
        const again = await orchestrator.addMessage('m', { role: 'user', content: 'once', messageId: 'msg-1' });
        expect(again.messages).toHaveLength(1);
        await using small = createOrchestrator({ store, maxMessageChars: 1000 });
        const bad = [
          () => small.addMessage('m', { role: 'user', content: 'x'.repeat(1001) }),
          () => small.addMessage('m', { role: 'tool' as never, content: 'x' }),
          () => small.addMessage('m', { role: 'user', content: 42 as never }),
          () => small.addMessage('m', { role: 'user', content: 'x', toolCalls: [{ id: 'c1', name: 'n', arguments: '{}' }] }),
          () => small.addMessage('m', { role: 'assistant', content: 'x', toolCalls: [{ id: 'bad id', name: 'n', arguments: '{}' }] }),
        ];
        for (const call of bad) expect(await rejected(call())).toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
        // 10 MB on one line: refused with a short message that does not repeat the input.
        const huge = await rejected(orchestrator.addMessage('m', { role: 'user', content: 'y'.repeat(10 * 1024 * 1024) }));
        expect(huge).toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
        expect((huge as Error).message.length).toBeLessThan(200);
        expect(await store.streamVersion(sessionStreamId('m'))).toBe(2);
      });

      it('stores no secret: a token in every field a caller gives is redacted before it is stored', async () => {
        await orchestrator.startSession({ sessionId: 'sec', title: `deploy with ${GITHUB_TOKEN}` });
        await orchestrator.addMessage('sec', {
          role: 'assistant',
          content: `the key is ${GITHUB_TOKEN}`,
          toolCalls: [{ id: 'call_s', name: 'shell', arguments: JSON.stringify({ command: `curl -H "Authorization: token ${GITHUB_TOKEN}"` }) }],
        });
        await orchestrator.createPlan('sec', {
          goal: `push using ${GITHUB_TOKEN}`,
          tasks: [{ taskId: 't1', title: `use ${GITHUB_TOKEN}`, description: GITHUB_TOKEN }],
        });
        await orchestrator.updateTask('sec', { taskId: 't1', status: 'in_progress' });
        await orchestrator.updateTask('sec', { taskId: 't1', status: 'failed', message: `rejected ${GITHUB_TOKEN}`, errorCode: 'E_AUTH' });
        await orchestrator.pause('sec', { reason: `need ${GITHUB_TOKEN}` });
        await orchestrator.endSession('sec', { reason: GITHUB_TOKEN });
        const raw = JSON.stringify(await store.read(sessionStreamId('sec')));
        expect(raw).not.toContain('a1B2c3D4e5F6');
        expect(await types('sec')).toHaveLength(7);
      });
    });

    describe('plans', () => {
      it('keeps tasks with dependencies and statuses, every change an event, the plan a projection of them', async () => {
        await orchestrator.startSession({ sessionId: 'p' });
        let state = await orchestrator.createPlan('p', {
          planId: 'plan-1',
          goal: 'ship it',
          tasks: [
            { taskId: 'read', title: 'read the code' },
            { taskId: 'edit', title: 'edit it', dependsOn: ['read'] },
            { title: 'test it', dependsOn: ['edit'] },
          ],
        });
        expect(state.plan).toMatchObject({ planId: 'plan-1', goal: 'ship it', revision: 0, status: 'open' });
        expect(state.plan!.tasks.map((t) => [t.taskId, t.status, t.dependsOn])).toEqual([
          ['read', 'pending', []],
          ['edit', 'pending', ['read']],
          ['task-1', 'pending', ['edit']],
        ]);
        expect(await rejected(orchestrator.updateTask('p', { taskId: 'edit', status: 'in_progress' }))).toMatchObject({
          code: 'ILLEGAL_TASK_TRANSITION',
          taskId: 'edit',
        });
        await orchestrator.updateTask('p', { taskId: 'read', status: 'in_progress' });
        await clock.advance(250);
        state = await orchestrator.updateTask('p', { taskId: 'read', status: 'completed', output: { lines: 10 } });
        await orchestrator.updateTask('p', { taskId: 'edit', status: 'in_progress' });
        state = await orchestrator.updateTask('p', { taskId: 'edit', status: 'failed', message: 'patch did not apply', errorCode: 'E_PATCH', retryable: true });
        expect(state.plan!.tasks[1]).toMatchObject({ status: 'failed', attempt: 1, outcome: 'failure', errorCode: 'E_PATCH' });
        // A retried task counts its attempts.
        await orchestrator.updateTask('p', { taskId: 'edit', status: 'in_progress' });
        await orchestrator.updateTask('p', { taskId: 'edit', status: 'completed' });
        state = await orchestrator.updatePlan('p', { reason: 'also lint', add: [{ taskId: 'lint', title: 'lint', dependsOn: ['edit'] }] });
        expect(state.plan).toMatchObject({ revision: 1 });
        await orchestrator.updateTask('p', { taskId: 'lint', status: 'in_progress' });
        await orchestrator.updateTask('p', { taskId: 'lint', status: 'completed' });
        await orchestrator.updateTask('p', { taskId: 'task-1', status: 'in_progress' });
        state = await orchestrator.updateTask('p', { taskId: 'task-1', status: 'completed' });
        expect(state.plan).toMatchObject({ status: 'completed', outcome: 'success' });
        expect(state.plan!.tasks.find((t) => t.taskId === 'edit')).toMatchObject({ status: 'completed', attempt: 2 });

        const events = await store.read(sessionStreamId('p'));
        expect(events.map((e) => e.type)).toEqual([
          'session.started',
          'plan.created',
          'task.started',
          'task.completed',
          'task.started',
          'task.failed',
          'task.started',
          'task.completed',
          'plan.updated',
          'task.started',
          'task.completed',
          'task.started',
          'task.completed',
          'plan.completed',
        ]);
        const readDone = events[3]!;
        expect(readDone.metadata).toMatchObject({ sessionId: 'p', planId: 'plan-1', taskId: 'read', attempt: 1, outcome: 'success', durationMs: 250 });
        expect(readDone.data).toMatchObject({ operationId: 'read', name: 'read the code', durationMs: 250, output: { lines: 10 } });
        expect(events[6]!.metadata.attempt).toBe(2);
        expect(foldSession(events)).toEqual(state);
        // A completed plan takes no more changes; a new one can be created.
        expect(await rejected(orchestrator.updatePlan('p', { reason: 'more', add: [{ title: 'x' }] }))).toMatchObject({ code: 'INVALID_PLAN' });
        state = await orchestrator.createPlan('p', { goal: 'next', tasks: [{ title: 'again' }] });
        expect(state.plan).toMatchObject({ goal: 'next', status: 'open' });
      });

      it('refuses malformed plans and changes, writing nothing', async () => {
        await orchestrator.startSession({ sessionId: 'bad' });
        const cases: [string, () => Promise<unknown>][] = [
          ['INVALID_PLAN', () => orchestrator.createPlan('bad', { goal: 'g', tasks: [] })],
          ['INVALID_PLAN', () => orchestrator.createPlan('bad', { goal: 'g', tasks: [{ taskId: 'a', title: 'a', dependsOn: ['a'] }] })],
          ['INVALID_PLAN', () => orchestrator.createPlan('bad', { goal: 'g', tasks: [{ taskId: 'a', title: 'a', dependsOn: ['zzz'] }] })],
          [
            'INVALID_PLAN',
            () =>
              orchestrator.createPlan('bad', {
                goal: 'g',
                tasks: [
                  { taskId: 'a', title: 'a' },
                  { taskId: 'a', title: 'b' },
                ],
              }),
          ],
          [
            'INVALID_PLAN',
            () =>
              orchestrator.createPlan('bad', {
                goal: 'g',
                tasks: [
                  { taskId: 'a', title: 'a', dependsOn: ['c'] },
                  { taskId: 'b', title: 'b', dependsOn: ['a'] },
                  { taskId: 'c', title: 'c', dependsOn: ['b'] },
                ],
              }),
          ],
          ['INVALID_ORCHESTRATOR_INPUT', () => orchestrator.createPlan('bad', { goal: '', tasks: [{ title: 'a' }] })],
          ['INVALID_ORCHESTRATOR_INPUT', () => orchestrator.createPlan('bad', { goal: 'g', tasks: [{ title: '' }] })],
          ['INVALID_ORCHESTRATOR_INPUT', () => orchestrator.createPlan('bad', { goal: 'g', tasks: [{ title: 'x'.repeat(10_000_000) }] })],
          ['INVALID_PLAN', () => orchestrator.updatePlan('bad', { reason: 'r', add: [{ title: 'a' }] })],
          ['INVALID_PLAN', () => orchestrator.updateTask('bad', { taskId: 'a', status: 'in_progress' })],
        ];
        for (const [code, call] of cases) expect(await rejected(call())).toMatchObject({ code });
        const cycle = (await rejected(cases[4]![1]())) as Error;
        expect(cycle.message).toContain('cycle');
        expect(await types('bad')).toEqual(['session.started']);

        await orchestrator.createPlan('bad', {
          goal: 'g',
          tasks: [
            { taskId: 'a', title: 'a' },
            { taskId: 'b', title: 'b', dependsOn: ['a'] },
          ],
        });
        const more: [string, () => Promise<unknown>][] = [
          ['INVALID_PLAN', () => orchestrator.createPlan('bad', { goal: 'second', tasks: [{ title: 'x' }] })],
          ['INVALID_PLAN', () => orchestrator.updatePlan('bad', { reason: 'r', remove: ['a'] })],
          ['INVALID_PLAN', () => orchestrator.updatePlan('bad', { reason: 'r' })],
          ['INVALID_PLAN', () => orchestrator.updatePlan('bad', { reason: 'r', add: [{ taskId: 'c', title: 'c', dependsOn: ['nope'] }] })],
          ['INVALID_PLAN', () => orchestrator.updatePlan('bad', { reason: 'r', remove: ['a', 'b'] })],
          ['ILLEGAL_TASK_TRANSITION', () => orchestrator.updateTask('bad', { taskId: 'a', status: 'completed' })],
          ['INVALID_ORCHESTRATOR_INPUT', () => orchestrator.updateTask('bad', { taskId: 'a', status: 'finished' as never })],
          ['INVALID_PLAN', () => orchestrator.updateTask('bad', { taskId: 'zz', status: 'in_progress' })],
        ];
        for (const [code, call] of more) expect(await rejected(call())).toMatchObject({ code });
        expect(await types('bad')).toEqual(['session.started', 'plan.created']);
        // Removing a pending task nobody depends on is allowed.
        const state = await orchestrator.updatePlan('bad', { reason: 'not needed', remove: ['b'] });
        expect(state.plan!.tasks.map((t) => t.taskId)).toEqual(['a']);
      });

      it('a 1000-task chain is checked without overflowing the stack', async () => {
        await orchestrator.startSession({ sessionId: 'chain' });
        const tasks = Array.from({ length: 1000 }, (_, i) => ({ taskId: `t${i}`, title: `step ${i}`, dependsOn: i === 0 ? [] : [`t${i - 1}`] }));
        const state = await orchestrator.createPlan('chain', { goal: 'long', tasks });
        expect(state.plan!.tasks).toHaveLength(1000);
        tasks[0] = { taskId: 't0', title: 'step 0', dependsOn: ['t999'] };
        await orchestrator.startSession({ sessionId: 'loop' });
        expect(await rejected(orchestrator.createPlan('loop', { goal: 'long', tasks }))).toMatchObject({ code: 'INVALID_PLAN' });
      });
    });

    describe('workflow', () => {
      it('moves planning -> executing -> reviewing -> done, each move a workflow event with its attribution', async () => {
        await orchestrator.startSession({ sessionId: 'w' });
        await orchestrator.transition('w', 'executing', { reason: 'plan approved' });
        await orchestrator.transition('w', 'reviewing');
        await orchestrator.transition('w', 'executing', { reason: 'changes requested' });
        await orchestrator.transition('w', 'reviewing');
        const done = await orchestrator.transition('w', 'done');
        expect(done.workflow).toEqual({ phase: 'done', paused: false, pauseReason: null });
        const events = await store.read(sessionStreamId('w'));
        expect(events.slice(1).map((e) => [e.type, e.data.from, e.data.to])).toEqual([
          ['workflow.phase_changed', 'planning', 'executing'],
          ['workflow.phase_changed', 'executing', 'reviewing'],
          ['workflow.phase_changed', 'reviewing', 'executing'],
          ['workflow.phase_changed', 'executing', 'reviewing'],
          ['workflow.phase_changed', 'reviewing', 'done'],
        ]);
        expect(events[1]!.data.reason).toBe('plan approved');
        expect(events[1]!.metadata.sessionId).toBe('w');
      });

      it('an illegal transition is a typed error with a code that writes nothing', async () => {
        await orchestrator.startSession({ sessionId: 'i' });
        const error = await rejected(orchestrator.transition('i', 'done'));
        expect(error).toMatchObject({ code: 'ILLEGAL_TRANSITION', name: 'IllegalTransitionError', from: 'planning', to: 'done', paused: false });
        expect(await rejected(orchestrator.transition('i', 'planning'))).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
        expect(await rejected(orchestrator.resume('i'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', to: 'resumed' });
        expect(await rejected(orchestrator.transition('i', 'shipping' as never))).toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
        await orchestrator.pause('i', { reason: 'waiting for the user' });
        expect(await rejected(orchestrator.pause('i'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', paused: true });
        expect(await rejected(orchestrator.transition('i', 'executing'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', paused: true });
        expect(await types('i')).toEqual(['session.started', 'workflow.paused']);
        await orchestrator.resume('i');
        await orchestrator.transition('i', 'executing');
        await orchestrator.transition('i', 'reviewing');
        await orchestrator.transition('i', 'done');
        expect(await rejected(orchestrator.pause('i'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', from: 'done' });
        expect(await rejected(orchestrator.transition('i', 'executing'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', from: 'done' });
        expect(await store.streamVersion(sessionStreamId('i'))).toBe(6);
      });

      it('a paused session stays paused for a new orchestrator on the same store', async () => {
        await orchestrator.startSession({ sessionId: 'r' });
        await orchestrator.transition('r', 'executing');
        await orchestrator.pause('r', { reason: 'sudo asked' });
        await orchestrator.close();
        orchestrator = createOrchestrator({ store });
        const state = await orchestrator.getSession('r');
        expect(state.workflow).toEqual({ phase: 'executing', paused: true, pauseReason: 'sudo asked' });
        expect(await rejected(orchestrator.transition('r', 'reviewing'))).toMatchObject({ code: 'ILLEGAL_TRANSITION', paused: true });
        const resumed = await orchestrator.resume('r');
        expect(resumed.workflow).toEqual({ phase: 'executing', paused: false, pauseReason: null });
        expect((await store.read(sessionStreamId('r'))).at(-1)!.data).toEqual({ phase: 'executing' });
      });

      it('a change decided on a stale version is a conflict that writes nothing', async () => {
        const { version } = await orchestrator.startSession({ sessionId: 'v' });
        await orchestrator.transition('v', 'executing', { expectedVersion: version });
        const conflict = await rejected(orchestrator.transition('v', 'reviewing', { expectedVersion: version }));
        expect(conflict).toMatchObject({ code: 'SESSION_CONFLICT', expectedVersion: 1, retryable: true });
        expect(await types('v')).toEqual(['session.started', 'workflow.phase_changed']);
        expect(await rejected(orchestrator.transition('v', 'reviewing', { expectedVersion: 0 }))).toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
      });

      it('two orchestrators racing the same move: exactly one moves the session, the other is refused', async () => {
        await orchestrator.startSession({ sessionId: 'race' });
        const others = Array.from({ length: 8 }, () => createOrchestrator({ store }));
        for (const other of others) await other.getSession('race'); // each has decided on version 1
        const results = await Promise.allSettled(others.map((other) => other.transition('race', 'executing')));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
        expect(codes.every((code) => code === 'ILLEGAL_TRANSITION' || code === 'SESSION_CONFLICT')).toBe(true);
        expect(await types('race')).toEqual(['session.started', 'workflow.phase_changed']);
        // With the version they read, every loser gets a conflict, none a second move.
        const stale = await Promise.allSettled(others.map((other) => other.pause('race', { expectedVersion: 1 })));
        expect(stale.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'SESSION_CONFLICT')).toBe(true);
        await Promise.all(others.map((other) => other.close()));
      });

      it('other writers of the stream (tool telemetry) do not block a change: it is decided again on the new state', async () => {
        await orchestrator.startSession({ sessionId: 'tele' });
        await orchestrator.getSession('tele');
        await store.append(sessionStreamId('tele'), [{ type: 'tool.run.started', data: { operationId: 'x', name: 'shell', input: null } }]);
        const state = await orchestrator.transition('tele', 'executing');
        expect(state.version).toBe(3);
        expect(await rebuilt('tele')).toEqual(state);
      });
    });

    it('refuses calls after close', async () => {
      await orchestrator.close();
      expect(await rejected(orchestrator.startSession())).toMatchObject({ code: 'CLOSED', resource: 'orchestrator' });
      expect(await rejected(orchestrator.getSession('x'))).toMatchObject({ code: 'CLOSED', resource: 'orchestrator' });
    });
  });
}
