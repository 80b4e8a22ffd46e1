import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type TestPostgresEventStore, createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Orchestrator, createOrchestrator, sessionStreamId } from './index.js';

// Node runs the fixture with tsx's loader, so the pid we kill is the orchestrator process itself.
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/workflow-process.ts');

interface Child {
  readonly process: ChildProcess;
  /** Resolves with each stdout line in turn. */
  line(): Promise<string>;
}

const children: ChildProcess[] = [];

function start(schema: string, move: string, sessionIds: readonly string[]): Child {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, fixture, schema, move, ...sessionIds], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let buffer = '';
  let stderr = '';
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let cut = buffer.indexOf('\n'); cut >= 0; cut = buffer.indexOf('\n')) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 1);
      const next = waiting.shift();
      if (next) next(line);
      else lines.push(line);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  return {
    process: child,
    line: () =>
      Promise.race([
        new Promise<string>((resolve) => {
          const ready = lines.shift();
          if (ready !== undefined) resolve(ready);
          else waiting.push(resolve);
        }),
        exited.then(([code, signal]) => {
          throw new Error(`child exited (${String(code)}, ${String(signal)}) before printing a line: ${stderr.slice(-2000)}`);
        }),
      ]),
  };
}

describe('the workflow across real processes on Postgres', () => {
  let pg: TestPostgresEventStore;
  let orchestrator: Orchestrator;

  beforeAll(async () => {
    pg = await createTestPostgresEventStore('orch_proc');
    orchestrator = createOrchestrator({ store: pg.store });
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await orchestrator.close();
    await pg.close();
  });

  const phaseChanges = async (sessionId: string) => (await pg.store.read(sessionStreamId(sessionId))).filter((e) => e.type === 'workflow.phase_changed').length;

  /** Starts 25 sessions, lets two processes read them all, then has both make `move` on every one at once; resolves with the moves made. */
  async function race(move: 'transition' | 'transition_latest', loserCode: string): Promise<number> {
    const ids = Array.from({ length: 25 }, (_, i) => `${move}-${i}`);
    for (const sessionId of ids) await orchestrator.startSession({ sessionId });
    const [a, b] = [start(pg.pg.schema, move, ids), start(pg.pg.schema, move, ids)];
    expect([await a.line(), await b.line()]).toEqual(['READY', 'READY']); // both have read version 1
    a.process.stdin!.write('GO\n');
    b.process.stdin!.write('GO\n');
    const [ra, rb] = [JSON.parse(await a.line()) as string[], JSON.parse(await b.line()) as string[]];
    for (const [i, sessionId] of ids.entries()) {
      expect([ra[i], rb[i]].toSorted()).toEqual([loserCode, 'ok']);
      expect(await phaseChanges(sessionId)).toBe(1);
    }
    return [...ra, ...rb].filter((r) => r === 'ok').length;
  }

  it('two processes that decided on the same version cannot both move a session: one wins per session, the other gets a conflict', async () => {
    expect(await race('transition', 'SESSION_CONFLICT')).toBe(25);
  });

  it('deciding on the latest state instead: the loser decides again, sees the move made, and is refused', async () => {
    expect(await race('transition_latest', 'ILLEGAL_TRANSITION')).toBe(25);
  });

  it('a session paused by a process that is then killed with SIGKILL stays paused for the next process', async () => {
    await orchestrator.startSession({ sessionId: 'paused-1' });
    await orchestrator.transition('paused-1', 'executing');
    const pauser = start(pg.pg.schema, 'pause', ['paused-1']);
    expect(await pauser.line()).toBe('READY');
    pauser.process.stdin!.write('GO\n');
    expect(JSON.parse(await pauser.line())).toEqual(['ok']);
    pauser.process.kill('SIGKILL');
    await once(pauser.process, 'exit');

    const next = start(pg.pg.schema, 'inspect', ['paused-1']);
    expect(JSON.parse(await next.line())).toEqual([
      { sessionId: 'paused-1', workflow: { phase: 'executing', paused: true, pauseReason: 'asked by process' }, attempt: 'ILLEGAL_TRANSITION' },
    ]);
    expect((await pg.store.read(sessionStreamId('paused-1'))).map((e) => e.type)).toEqual(['session.started', 'workflow.phase_changed', 'workflow.paused']);
  });
});
