import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatePath, validatePathSync } from './path.js';

let base: string;
let root: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'buckley-path-')));
  root = join(base, 'app');
  mkdirSync(join(root, 'src', 'deep'), { recursive: true });
  mkdirSync(join(base, 'app-secrets'));
  writeFileSync(join(base, 'app-secrets', 'key'), 'x');
  writeFileSync(join(root, 'src', 'index.ts'), '');
  symlinkSync('/etc', join(root, 'etc-link'));
  symlinkSync('src', join(root, 'src-link'));
  symlinkSync('../app-secrets', join(root, 'sibling'));
  symlinkSync(join(base, 'nowhere', 'file'), join(root, 'dangling-out'));
  symlinkSync('deep/../index.ts', join(root, 'src', 'relative-in'));
  symlinkSync('loop-b', join(root, 'loop-a'));
  symlinkSync('loop-a', join(root, 'loop-b'));
  symlinkSync('/etc/passwd', join(root, 'src', 'deep', 'up'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const both = [
  ['async', (p: string, r: string) => validatePath(p, { root: r })],
  ['sync', async (p: string, r: string) => validatePathSync(p, { root: r })],
] as const;

describe.each(both)('validatePath (%s)', (_, check) => {
  it('accepts a path inside the root and returns its real path', async () => {
    const result = await check('src/index.ts', root);
    expect(result).toEqual({ ok: true, resolved: join(root, 'src', 'index.ts'), findings: [] });
  });

  it('accepts a file that does not exist yet, under a symlinked directory inside the root', async () => {
    const result = await check('src-link/new/file.txt', root);
    expect(result.ok).toBe(true);
    expect(result.resolved).toBe(join(root, 'src', 'new', 'file.txt'));
  });

  it('accepts an absolute path inside the root and ".." that stays inside', async () => {
    expect((await check(join(root, 'src', 'deep', '..', 'index.ts'), root)).resolved).toBe(join(root, 'src', 'index.ts'));
    expect((await check('src/relative-in', root)).resolved).toBe(join(root, 'src', 'index.ts'));
  });

  it('refuses ".." climbing out of the root', async () => {
    const result = await check('../app-secrets/key', root);
    expect(result.ok).toBe(false);
    expect(result.resolved).toBeUndefined();
    expect(result.findings.map((f) => f.ruleId)).toEqual(['path.traversal']);
    expect((await check('src/../../x', root)).findings[0]?.ruleId).toBe('path.traversal');
  });

  it('refuses an absolute path outside the root', async () => {
    expect((await check('/etc/passwd', root)).findings[0]?.ruleId).toBe('path.outside-root');
  });

  it('does not treat a sibling with the root as a prefix as inside (prefix confusion)', async () => {
    const result = await check(join(base, 'app-secrets', 'key'), root);
    expect(result.ok).toBe(false);
    expect(result.findings[0]?.ruleId).toBe('path.outside-root');
  });

  it('refuses symlinks that lead out, also under a tail that does not exist yet', async () => {
    for (const p of ['etc-link/passwd', 'etc-link/not-yet/created', 'sibling/key', 'src/deep/up', 'dangling-out']) {
      const result = await check(p, root);
      expect({ p, ok: result.ok }).toEqual({ p, ok: false });
      expect({ p, rule: result.findings[0]?.ruleId }).toEqual({ p, rule: 'path.symlink-escape' });
    }
  });

  it('follows ".." after a symlink the way the kernel does, not lexically', async () => {
    // etc-link/.. is the parent of /etc (i.e. /), not the root: lexically it would be the root.
    const result = await check('etc-link/../tmp/x', root);
    expect(result.ok).toBe(false);
    expect(result.findings[0]?.ruleId).toBe('path.symlink-escape');
  });

  it('refuses a symlink loop', async () => {
    expect((await check('loop-a/x', root)).findings[0]?.ruleId).toBe('path.symlink-loop');
  });

  it('refuses NUL bytes and empty paths without touching the file system', async () => {
    expect((await check('src/index.ts\0.png', root)).findings[0]?.ruleId).toBe('path.nul-byte');
    expect((await check('', root)).findings[0]?.ruleId).toBe('path.empty');
  });

  it('refuses when the root does not exist', async () => {
    const result = await check('x', join(base, 'missing-root'));
    expect(result.ok).toBe(false);
    expect(result.findings[0]?.ruleId).toBe('path.root-invalid');
  });

  it('accepts the root itself and resolves a symlinked root', async () => {
    expect((await check('.', root)).resolved).toBe(root);
    const linkedRoot = join(base, 'root-link');
    try {
      symlinkSync(root, linkedRoot);
    } catch {
      // created by the other variant of this suite
    }
    const result = await check(join(linkedRoot, 'src', 'index.ts'), linkedRoot);
    expect(result.resolved).toBe(join(root, 'src', 'index.ts'));
  });
});
