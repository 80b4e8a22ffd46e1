import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultConfig } from '@buckley/config';
import { createInMemoryEventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { createSandbox } from '@buckley/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_TOOLS, createToolExecutor, createToolRegistry } from '../index.js';

// A workspace with a match, a file nobody but root may read and a directory nobody but root may
// enter. The sandbox runs ripgrep as an unprivileged uid without capabilities, so even when the
// tests run as root rg cannot read them (and exits 2).
const ws = mkdtempSync('/var/tmp/buckley-search-test-');
beforeAll(() => {
  chmodSync(ws, 0o755);
  writeFileSync(join(ws, 'a.txt'), 'needle one\n', { mode: 0o644 });
  writeFileSync(join(ws, 'locked.txt'), 'needle locked\n', { mode: 0o600 });
  chmodSync(join(ws, 'locked.txt'), 0o000);
  mkdirSync(join(ws, 'lockdir'));
  writeFileSync(join(ws, 'lockdir', 'x.txt'), 'needle inside\n');
  chmodSync(join(ws, 'lockdir'), 0o000);
});
afterAll(() => {
  chmodSync(join(ws, 'lockdir'), 0o755);
  rmSync(ws, { recursive: true, force: true });
});

const c = defaultConfig();
const config = { approval: { ...c.approval, mode: 'auto' as const }, sandbox: c.sandbox };

describe('search_text with files it cannot read', () => {
  it('ripgrep exiting 2 for unreadable files still returns the matches, with the unreadable paths noted', async () => {
    await using sandbox = createSandbox({ config: config.sandbox, workspace: ws });
    const recorder = createRecorder({ store: createInMemoryEventStore() });
    await using executor = createToolExecutor({ registry: createToolRegistry({ builtins: BUILTIN_TOOLS }), sandbox, recorder, config, workspace: ws });
    const result = await executor.execute({ id: 'search_1', name: 'search_text', arguments: '{"pattern":"needle"}' });
    expect(result).toEqual({
      ok: true,
      output: {
        engine: 'ripgrep',
        matches: [{ path: 'a.txt', line: 1, text: 'needle one' }],
        truncated: false,
        unreadable: ['lockdir: Permission denied (os error 13)', 'locked.txt: Permission denied (os error 13)'],
      },
    });
    // An exit 2 that is not about files (a regex rg cannot parse: nothing was searched) still fails.
    const bad = await executor.execute({ id: 'search_2', name: 'search_text', arguments: '{"pattern":"(","regex":true}' });
    expect(bad).toMatchObject({ ok: false, code: 'COMMAND_FAILED', details: { exitCode: 2 } });
    await recorder.close();
  });

  it('the JavaScript scan (no rg) notes the files and directories it could not read too', () => {
    // rg hidden by a bind mount in a private mount namespace, then uid 65534 for good (root reads everything).
    const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
    const script = `
      const { defaultConfig } = await import('@buckley/config');
      const { createInMemoryEventStore } = await import('@buckley/events');
      const { createRecorder } = await import('@buckley/observability');
      const { createSandbox } = await import('@buckley/sandbox');
      const { BUILTIN_TOOLS, createToolExecutor, createToolRegistry } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'index.ts')).href)});
      process.setgroups([]); process.setgid(65534); process.setuid(65534);
      const c = defaultConfig();
      const config = { approval: { ...c.approval, mode: 'auto' }, sandbox: c.sandbox };
      const sandbox = createSandbox({ config: c.sandbox, workspace: ${JSON.stringify(ws)} });
      const recorder = createRecorder({ store: createInMemoryEventStore() });
      const executor = createToolExecutor({ registry: createToolRegistry({ builtins: BUILTIN_TOOLS }), sandbox, recorder, config, workspace: ${JSON.stringify(ws)} });
      const result = await executor.execute({ id: 'search_js', name: 'search_text', arguments: '{"pattern":"needle"}' });
      console.log(JSON.stringify(result));
      await executor.close(); await recorder.close(); await sandbox.close();`;
    const node = [process.execPath, '--conditions=@buckley/source', '--import', tsxLoader, '--input-type=module', '-e', script];
    const quoted = node.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind /dev/null /usr/bin/rg && exec ${quoted}`], {
      encoding: 'utf8',
      cwd: import.meta.dirname,
    });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({
      ok: true,
      output: {
        engine: 'javascript',
        matches: [{ path: 'a.txt', line: 1, text: 'needle one' }],
        truncated: false,
        unreadable: ['lockdir: Permission denied', 'locked.txt: Permission denied'],
      },
    });
  });
});
