import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeAuthDirectory, analyzeAuthFile } from './auth-patterns.js';
import { ScanTargetError } from './errors.js';

const insecure = 'const agent = new https.Agent({ rejectUnauthorized: false });\n';
const password = 'Tr0ub4dor&3xyz';
let dir: string;
let root: string;

beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'buckley-auth-')));
  root = join(dir, 'repo');
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(join(root, 'node_modules', 'dep'), { recursive: true });
  mkdirSync(join(root, 'generated'));
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.gitignore'), 'generated/\n');
  writeFileSync(join(root, 'src', 'client.ts'), `// client\n${insecure}`);
  writeFileSync(join(root, 'src', 'db.py'), `import psycopg2\nconn = psycopg2.connect(password="${password}")\n`);
  writeFileSync(join(root, '.env'), `PORT=3000\nDB_PASSWORD=${password}\n`);
  writeFileSync(join(root, 'README.md'), insecure);
  writeFileSync(join(root, 'node_modules', 'dep', 'index.js'), insecure);
  writeFileSync(join(root, 'generated', 'x.ts'), insecure);
  writeFileSync(join(root, '.git', 'hooks.js'), insecure);
  writeFileSync(join(root, 'src', 'blob.js'), Buffer.from([0, 1, 2, 0, 255, ...Buffer.from(insecure)]));
  writeFileSync(join(root, 'src', 'big.js'), `${'// filler\n'.repeat(600_000)}${insecure}`);
  writeFileSync(join(dir, 'outside.ts'), insecure);
  symlinkSync(join(dir, 'outside.ts'), join(root, 'src', 'outside-link.ts'));
  symlinkSync('..', join(root, 'src', 'loop'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('analyzeAuthDirectory', () => {
  it('analyses source and config files with the scanner walk, skipping what it must with a reason', async () => {
    const result = await analyzeAuthDirectory(root);
    expect(result.findings.map((f) => `${f.location?.path}:${f.location?.line}:${f.ruleId}`).sort()).toEqual([
      '.env:2:auth.hardcoded-credential-config',
      'src/client.ts:2:auth.tls-verification-disabled',
      'src/db.py:2:auth.hardcoded-credential',
    ]);
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.path, s.reason]));
    expect(reasons).toMatchObject({
      'src/blob.js': 'binary',
      'src/big.js': 'too_large',
      'src/outside-link.ts': 'symlink_outside_root',
      'src/loop': 'symlink_loop',
    });
    // README.md (not source), node_modules and the gitignored directory are counted, not read.
    expect(result.ignoredCount).toBeGreaterThanOrEqual(3);
    expect(result.filesScanned).toBe(3);
    expect(JSON.stringify(result)).not.toContain(password);
  }, 60_000);

  it('takes an include filter and a larger size limit', async () => {
    const result = await analyzeAuthDirectory(root, { include: (p) => p.endsWith('.js') || p.endsWith('.md'), maxFileSize: 16 * 1024 * 1024 });
    expect(result.findings.map((f) => f.location?.path).sort()).toEqual(['README.md', 'node_modules/dep/index.js', 'src/big.js']);
    expect(result.findings.find((f) => f.location?.path === 'src/big.js')?.location?.line).toBe(600_001);
  }, 60_000);

  it('throws a typed error for a root that is not a directory', async () => {
    await expect(analyzeAuthDirectory(join(dir, 'missing'))).rejects.toBeInstanceOf(ScanTargetError);
    await expect(analyzeAuthDirectory(join(dir, 'outside.ts'))).rejects.toBeInstanceOf(ScanTargetError);
  });
});

describe('analyzeAuthFile', () => {
  it('analyses one file, reporting the display path', async () => {
    const result = await analyzeAuthFile(join(root, 'src', 'client.ts'), { displayPath: 'client.ts' });
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]?.location).toMatchObject({ path: 'client.ts', line: 2, column: 33 });
    expect(result.bytes).toBeGreaterThan(0);
  });

  it('skips unreadable targets and directories with a reason instead of throwing', async () => {
    expect((await analyzeAuthFile(join(dir, 'nope.ts'))).skipped?.reason).toBe('unreadable');
    expect((await analyzeAuthFile(root)).skipped?.reason).toBe('not_a_file');
  });
});
