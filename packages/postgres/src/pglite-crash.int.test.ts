import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { isEventStoreUnavailableError, isEventStoreError, type StoredEvent } from '@buckley/events';
import { expectNoSecret } from '@buckley/testing';
import { createTestPGlite } from '@buckley/testing/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createPGliteEventStore } from './index.js';

const root = resolve(import.meta.dirname, '../../..');
// Node runs the fixture with tsx's loader, so the pid we kill is the appender itself.
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/pglite-append-process.ts');
const children = new Set<ChildProcess>();
const dirs: string[] = [];
// Shaped like a GitHub token, planted in data directory paths.
const secretToken = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const dir of dirs) rmSync(`${dir}.lock`, { force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'buckley-pglite-crash-'));
  dirs.push(dir);
  return dir;
}

/** Starts an appender on `dataDir`; its acknowledged ids land in `acked` as they are printed. */
function startAppender(dataDir: string, round: number, acked: Set<string>) {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, fixture], {
    cwd: root,
    env: { ...process.env, BUCKLEY_FIXTURE: JSON.stringify({ dataDir, round }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let readyResolve: () => void;
  const ready = new Promise<void>((res) => (readyResolve = res));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'READY') readyResolve();
    else if (line.startsWith('ACK ')) acked.add(line.slice(4));
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return { child, ready, exited, stderr: () => stderr };
}

async function readWholeLog(dataDir: string): Promise<StoredEvent[]> {
  await using store = await createPGliteEventStore({ dataDir });
  const all: StoredEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.length === 0) return all;
    all.push(...page);
    after = page.at(-1)!.position;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PGlite event store durability', () => {
  it(
    'keeps every acknowledged append across 10 SIGKILLs of the appending process at random moments',
    async () => {
      const dataDir = tempDir();
      const acked = new Set<string>();
      let killedWhileAppending = 0;
      const refusals: Array<{ unavailable: boolean; namesOwner: boolean; appenderAlive: boolean }> = [];
      for (let round = 0; round < 10; round++) {
        const appender = startAppender(dataDir, round, acked);
        // Every third round dies while it opens (recovering the previous crash), the others
        // at a random moment of their append loop.
        const whileOpening = round % 3 === 2;
        await (whileOpening ? Promise.race([appender.ready, sleep(Math.random() * 2000)]) : Promise.race([appender.ready, appender.exited]));
        if (!whileOpening) {
          // A live store's directory is refused to a second opener, naming the owner.
          const error = await createPGliteEventStore({ dataDir }).catch((e: unknown) => e);
          refusals.push({
            unavailable: isEventStoreUnavailableError(error),
            namesOwner: String((error as Error).message).includes(`process ${appender.child.pid}`),
            appenderAlive: appender.child.exitCode === null,
          });
          // Wait for an acknowledgement after the refusal (a loaded machine appends slowly), then
          // kill at a random moment of the loop that follows.
          const before = acked.size;
          for (const deadline = Date.now() + 60_000; acked.size === before && appender.child.exitCode === null && Date.now() < deadline;) {
            await sleep(10);
          }
          await sleep(Math.random() * 1500);
          if (acked.size > before) killedWhileAppending++;
        }
        appender.child.kill('SIGKILL');
        await appender.exited;
        if (appender.child.signalCode !== 'SIGKILL') throw new Error(`appender exited by itself: ${appender.stderr()}`);
      }
      expect(refusals).toEqual(refusals.map(() => ({ unavailable: true, namesOwner: true, appenderAlive: true })));
      expect(killedWhileAppending).toBe(refusals.length);
      const log = await readWholeLog(dataDir);
      const stored = new Set(log.map((e) => e.id));
      expect(stored.size).toBe(log.length);
      const missing = [...acked].filter((id) => !stored.has(id));
      expect({ acked: acked.size, missing: missing.length }).toEqual({ acked: acked.size, missing: 0 });
      // Each stream's versions are 1..n in the log, with no gap.
      const versions = new Map<string, number[]>();
      for (const e of log) versions.set(e.streamId, [...(versions.get(e.streamId) ?? []), e.version]);
      for (const [, v] of versions) expect(v).toEqual(v.map((_, i) => i + 1));
    },
    // Ten fresh processes each start PGlite and recover: minutes on a loaded 2-core machine.
    1_800_000,
  );

  it('refuses a second store on an open data directory in the same process, and frees it on close', async () => {
    // The path holds a planted secret: the refusal does not quote it.
    const dataDir = join(tempDir(), secretToken);
    const first = await createPGliteEventStore({ dataDir });
    const error = await createPGliteEventStore({ dataDir }).catch((e: unknown) => e);
    expect(isEventStoreUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain('already open in this process');
    expectNoSecret(error, secretToken);
    await first.append('s', [{ type: 'test.one', data: {} }]);
    await first.close();
    await using second = await createPGliteEventStore({ dataDir });
    expect((await second.read('s')).map((e) => e.type)).toEqual(['test.one']);
  }, 300_000);

  it('a data directory that cannot be created is refused by its error code, without its path', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const error = await createPGliteEventStore({ dataDir: join(file, secretToken) }).catch((e: unknown) => e);
    expect(isEventStoreUnavailableError(error)).toBe(true);
    expect((error as Error).message).toBe('cannot create the PGlite data directory given as dataDir (ENOTDIR)');
    expectNoSecret(error, secretToken, file);
  });

  it('refuses a PGlite whose commits do not write their WAL (synchronous_commit off)', async () => {
    await using pglite = await createTestPGlite();
    await pglite.exec('SET synchronous_commit = off');
    const error = await createPGliteEventStore({ pglite }).catch((e: unknown) => e);
    expect(isEventStoreError(error)).toBe(true);
    expect((error as Error).message).toMatch(/synchronous_commit on/);
    await pglite.exec('SET synchronous_commit = on');
    await using store = await createPGliteEventStore({ pglite });
    expect(await store.readAll()).toEqual([]);
  }, 300_000);
});
