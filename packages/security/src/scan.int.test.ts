import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanTargetError } from './errors.js';
import { growthRatio } from './linear-time.test-helper.js';
import { scanDirectory, scanFile, scanString } from './scan.js';

const secret = 'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q';
let dir: string;

beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'buckley-scan-')));
  const root = join(dir, 'repo');
  mkdirSync(join(root, 'src', 'sub'), { recursive: true });
  mkdirSync(join(root, 'ignored-dir'));
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.gitignore'), 'ignored-dir/\n*.log\n');
  writeFileSync(join(root, 'src', 'a.ts'), `// hello\nconst t = "${secret}";\n`);
  writeFileSync(join(root, 'src', 'sub', '.gitignore'), 'local.txt\n');
  writeFileSync(join(root, 'src', 'sub', 'local.txt'), `t = "${secret}"\n`);
  writeFileSync(join(root, 'ignored-dir', 'x.ts'), `t = "${secret}"\n`);
  writeFileSync(join(root, 'debug.log'), `t = "${secret}"\n`);
  writeFileSync(join(root, '.git', 'config'), `t = "${secret}"\n`);
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'binary.bin'), Buffer.from([0, 1, 2, 3, 0, 0, 255, 254, ...Buffer.from(secret)]));
  writeFileSync(join(root, 'invalid-utf8.txt'), Buffer.concat([Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x41, 0x0a]), Buffer.from(`key "${secret}"\n`)]));
  // 10 MB line with a secret at its end.
  writeFileSync(join(root, 'long-line.txt'), `${'x'.repeat(10 * 1024 * 1024)} "${secret}"\n`);
  // 1 GB sparse file: no disk used, must be skipped by size before any read.
  execFileSync('truncate', ['-s', '1G', join(root, 'huge.dat')]);
  symlinkSync('/etc', join(root, 'etc-link'));
  symlinkSync('/etc/hostname', join(root, 'hostname-link'));
  symlinkSync('..', join(root, 'src', 'sub', 'loop'));
  symlinkSync('self-a', join(root, 'self-b'));
  symlinkSync('self-b', join(root, 'self-a'));
  symlinkSync('src/a.ts', join(root, 'alias.ts'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scanDirectory', () => {
  it('finds secrets with location, honours .gitignore, skips what it must with a reason', async () => {
    const before = process.memoryUsage().rss;
    const result = await scanDirectory(join(dir, 'repo'));
    const paths = result.findings.map((f) => `${f.location?.path}:${f.location?.line}`);
    expect(paths.filter((p) => p === 'src/a.ts:2' || p === 'alias.ts:2').length).toBeGreaterThan(0);
    expect(paths).toContain('invalid-utf8.txt:2');
    expect(paths).toContain('long-line.txt:1');
    expect(paths.some((p) => p.startsWith('ignored-dir') || p.startsWith('debug.log') || p.startsWith('.git') || p.includes('local.txt'))).toBe(false);
    // The file and the symlink to it are one file: scanned once.
    expect(new Set(result.findings.filter((f) => f.location?.path === 'src/a.ts' || f.location?.path === 'alias.ts').map((f) => f.location?.path)).size).toBe(
      1,
    );
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.path, s.reason]));
    expect(reasons).toMatchObject({
      'huge.dat': 'too_large',
      'binary.bin': 'binary',
      'etc-link': 'symlink_outside_root',
      'hostname-link': 'symlink_outside_root',
      'self-a': 'symlink_loop',
      'self-b': 'symlink_loop',
    });
    expect(result.skipped.some((s) => s.path === 'src/sub/loop' && s.reason === 'symlink_loop')).toBe(true);
    expect(result.ignoredCount).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(result)).not.toContain(secret.slice(8));
    // The 1 GB file was never read; the 10 MB line is the largest thing held.
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 1024 * 1024);
  }, 60_000);

  it('stops with the abort reason when its signal aborts, files in flight included', async () => {
    const many = join(dir, 'many');
    mkdirSync(many);
    for (let i = 0; i < 40; i++) writeFileSync(join(many, `f${i}.ts`), `const t = "${secret}";\n`.repeat(2000));
    const controller = new AbortController();
    const scan = scanDirectory(many, { signal: controller.signal });
    setImmediate(() => controller.abort(new Error('stop')));
    // Rejected promises of the other files in flight must not surface as unhandled (vitest fails on those).
    await expect(scan).rejects.toThrow('stop');
    const aborted = new AbortController();
    aborted.abort(new Error('before'));
    await expect(scanDirectory(many, { signal: aborted.signal })).rejects.toThrow('before');
  });

  it('throws a typed error for a root that is not a directory', async () => {
    await expect(scanDirectory(join(dir, 'missing'))).rejects.toBeInstanceOf(ScanTargetError);
  });
});

describe('scanFile', () => {
  it('skips a 1 GB file by size with a reason', async () => {
    const result = await scanFile(join(dir, 'repo', 'huge.dat'));
    expect(result.skipped).toMatchObject({ reason: 'too_large' });
    expect(result.skipped?.detail).toContain('1073741824');
  });

  it('finds a secret split across chunk boundaries and reports lines across chunks', async () => {
    const file = join(dir, 'chunks.txt');
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} some filler text here`);
    lines[4321] = `token = "${secret}"`;
    writeFileSync(file, lines.join('\n'));
    const result = await scanFile(file, { chunkSize: 4096 });
    expect([...new Set(result.findings.map((f) => f.location?.line))]).toEqual([4322]);
    const key = `-----BEGIN RSA PRIVATE KEY-----\n${'MIIEowIBAAKCAQEAx7Vq2Lm9Rz4Tp8Nc3Kd6Hf1Jg5Bw0Ya2Ue8QZx8Kq2Lm7Rt4Vb9N\n'.repeat(20)}-----END RSA PRIVATE KEY-----\n`;
    writeFileSync(file, `${'filler line\n'.repeat(300)}${key}`);
    const pem = await scanFile(file, { chunkSize: 4096 });
    expect(pem.findings.map((f) => [f.ruleId, f.location?.line])).toEqual([['private-key', 301]]);
  }, 60_000);

  it('keeps lines, columns and offsets right with multi-byte and invalid UTF-8 across small chunks', async () => {
    const file = join(dir, 'utf8.txt');
    const long = '😀é'.repeat(200); // a line longer than maxLineLength: cut, never inside a character
    const lines = [long, `ключ ${'😀'.repeat(30)}`, `/* 😀 */ token = "${secret}"`, 'x'.repeat(10)];
    const bad = Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]);
    writeFileSync(file, Buffer.concat([Buffer.from(`${lines.join('\n')}\n`), bad, Buffer.from(` "${secret}"\n`)]));
    const text = `${lines.join('\n')}\n`;
    for (const chunkSize of [64, 4096]) {
      const result = await scanFile(file, { chunkSize, maxLineLength: 64 });
      const found = result.findings.filter((f) => f.ruleId === 'github-pat').map((f) => f.location);
      expect(found).toEqual([
        { path: file, line: 3, column: lines[2]!.indexOf(secret) + 1, offset: text.indexOf(secret) },
        // Each invalid byte sequence decodes to one U+FFFD per maximal bad subsequence.
        expect.objectContaining({ line: 5, column: Buffer.concat([bad, Buffer.from(' "')]).toString('utf8').length + 1 }),
      ]);
      expect(result.bytes).toBe(Buffer.byteLength(text) + bad.length + secret.length + 4);
    }
  }, 60_000);

  it('handles empty and unreadable files', async () => {
    expect(await scanFile(join(dir, 'repo', 'empty.txt'))).toMatchObject({ findings: [], bytes: 0 });
    expect((await scanFile(join(dir, 'nope'))).skipped?.reason).toBe('unreadable');
    expect((await scanFile(dir)).skipped?.reason).toBe('not_a_file');
  });

  it('stays linear on a pattern-bomb input crafted against backtracking regexes', async () => {
    const bomb = (n: number): string =>
      `api_key = "${'a1'.repeat(n)}` + `\n${'aws_secret_access_key='.repeat(n / 20)}` + `\n${'-----BEGIN PRIVATE KEY-----'.repeat(n / 25)}`;
    const { ratio, attempts } = growthRatio(bomb, (input) => scanString(input), 50_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});
