import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { notRegularFailure, openRegularFile } from './common.js';

const dir = mkdtempSync(join(tmpdir(), 'buckley-open-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;

/** Runs openRegularFile in a child that loads its modules, then drops to uid/gid 65534 for good (root passes every permission check). */
function openAsNobody(path: string): unknown {
  const script = `
    const { openRegularFile } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'common.ts')).href)});
    process.setgroups([]); process.setgid(65534); process.setuid(65534);
    const r = await openRegularFile(${JSON.stringify(path)});
    if (r.ok) await r.handle.close();
    console.log(JSON.stringify({ uid: process.getuid(), ok: r.ok, kind: r.kind }));`;
  const out = execFileSync(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim());
}

describe('openRegularFile', () => {
  it('a file the process may not read is unreadable (PERMISSION_DENIED), not a special file', () => {
    const secret = join(dir, 'root-only.txt');
    writeFileSync(secret, 'only root\n', { mode: 0o600 });
    const open = join(dir, 'open.txt');
    writeFileSync(open, 'anyone\n', { mode: 0o644 });
    expect(openAsNobody(secret)).toEqual({ uid: 65534, ok: false, kind: 'unreadable' });
    expect(openAsNobody(open)).toEqual({ uid: 65534, ok: true });
    expect(notRegularFailure('root-only.txt', { ok: false, kind: 'unreadable' })).toMatchObject({
      ok: false,
      code: 'PERMISSION_DENIED',
      message: 'file "root-only.txt" is not readable by this process',
    });
  });

  it('a directory and a missing path are told apart from special files', async () => {
    expect(await openRegularFile(dir)).toEqual({ ok: false, kind: 'directory' });
    expect(await openRegularFile(join(dir, 'nope'))).toEqual({ ok: false, kind: 'missing' });
  });
});
