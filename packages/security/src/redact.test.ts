import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact, truncateUtf8 } from './redact.js';
import { isSensitiveKey } from './sensitive-names.js';
import { defaultSecretRules } from './rules/index.js';
import { tokenFormats } from './token-formats.js';
import { growthRatio } from './linear-time.test-helper.js';
import { scannerFor } from './scan.js';

describe('redact', () => {
  it('redacts sensitive keys and keeps the structure', () => {
    const input = {
      user: 'ann',
      password: 'hunter2',
      nested: { api_key: 'k-123', list: [{ Authorization: 'Bearer abc' }, 3] },
      maxTokens: 100,
      tokenCount: 5,
      ok: true,
    };
    expect(redact(input)).toEqual({
      user: 'ann',
      password: '[REDACTED]',
      nested: { api_key: '[REDACTED]', list: [{ Authorization: '[REDACTED]' }, 3] },
      maxTokens: 100,
      tokenCount: 5,
      ok: true,
    });
    expect(input.password).toBe('hunter2');
    expect(['password', 'clientSecret', 'x-api-key', 'AWS_SECRET_ACCESS_KEY', 'refresh_token', 'cookie'].every(isSensitiveKey)).toBe(true);
    expect(['max_tokens', 'tokenizer', 'username', 'author', 'keyId'].some(isSensitiveKey)).toBe(false);
  });

  it.each([
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def', 'Authorization: Bearer [REDACTED]'],
    ['curl -H "authorization: token ghp_abcdefghijklmnopqrstuvwxyz0123456789"', 'curl -H "authorization: token [REDACTED]"'],
    ['postgres://app:s3cr3t@db:5432/x', 'postgres://app:[REDACTED]@db:5432/x'],
    ['https://x.io/cb?code=1&access_token=abc.def&y=2', 'https://x.io/cb?code=1&access_token=[REDACTED]&y=2'],
    ['export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv1234', 'export OPENAI_API_KEY=[REDACTED]'],
    ['DB_PASSWORD="p@ss w0rd"', 'DB_PASSWORD="[REDACTED]"'],
    ['password: ${DB_PASSWORD}', 'password: ${DB_PASSWORD}'],
    ['key AKIAZ7VRSQ5TJN2XMPLQ here', 'key [REDACTED] here'],
    ['-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', '[REDACTED PRIVATE KEY]'],
    ['nothing to see here', 'nothing to see here'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('optionally applies the scanner rules too', () => {
    const text = 'adafruit_key = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6" ok';
    const out = redact(text, { scanner: scannerFor() });
    expect(out).not.toContain('a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6');
    expect(out).toContain('ok');
  });

  it('bounds strings in UTF-8 bytes without splitting a code point', () => {
    const s = '€'.repeat(10) + '😀'.repeat(10);
    const cut = truncateUtf8(s, 31, '|');
    expect(cut).toBe('€'.repeat(10) + '|');
    const cut2 = truncateUtf8(s, 37, '|');
    expect(cut2).toBe('€'.repeat(10) + '😀' + '|');
    expect(Buffer.byteLength(truncateUtf8('😀'.repeat(1000), 1001, ''))).toBeLessThanOrEqual(1001);
    expect(truncateUtf8('\uD800x', 2, '|')).toBe('\uD800|'.slice(0, 0) + '|');
    const long = redact('a'.repeat(100_000));
    expect(long.endsWith('…[truncated]')).toBe(true);
    expect(Buffer.byteLength(long)).toBeLessThan(17 * 1024);
  });

  it('survives cycles, deep nesting, throwing getters, and odd values', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(redact(a)).toEqual({ name: 'a', self: '[Circular]' });
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100; i++) deep = (deep.next = {}) as Record<string, unknown>;
    expect(JSON.stringify(redact(root))).toContain('too deep');
    const hostile = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get: () => {
        throw new Error('x');
      },
    });
    expect(redact(hostile)).toEqual({ boom: '[Unreadable]' });
    expect(redact(null)).toBe(null);
    expect(redact(5)).toBe(5);
    expect(redact([1, 'token=abc'])).toEqual([1, 'token=[REDACTED]']);
    expect(redact(new Error('password=hunter2'))).toMatchObject({ message: 'password=[REDACTED]' });
    expect(redact(Buffer.from('abc'))).toBe('[Binary: 3 bytes]');
  });

  it('runs in linear time on pattern-bomb input', () => {
    const bomb = (n: number): string =>
      'password'.repeat(n / 8) + 'a:'.repeat(n / 2) + '-----BEGIN PRIVATE KEY-----'.repeat(n / 27) + 'eyJ'.repeat(n / 3) + 'x://'.repeat(n / 4);
    const { ratio, attempts } = growthRatio(bomb, (input) => redact(input, { maxStringBytes: 64 * 1024 * 1024 }), 100_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});

const pem = (label: string, headers = ''): string =>
  `-----BEGIN ${label}-----\n${headers}MIIEowIBAAKCAQEA7v1n0y5mYx3QpLw2zR8sTcK4Jd9HfUa6Gb1Eo0Ni\nXw3Vt5Ys7Rq2Lp8Mn4Kj6Hg1Fd9Sa3Zx5Cv7Bn2Mq8Wr4Et6Yu0Io9Pa\n-----END ${label}-----`;
const pat = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('redact: what must not leak', () => {
  it.each([
    [
      'an encrypted PEM block (Proc-Type / DEK-Info headers)',
      pem('RSA PRIVATE KEY', 'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F2504E04F8911D39A0C0305E82C3301\n\n'),
    ],
    ['a PGP private key block', pem('PGP PRIVATE KEY BLOCK', 'Version: GnuPG v2\nComment: test-key\n\n')],
    ['an OpenSSH private key', pem('OPENSSH PRIVATE KEY')],
    ['a PKCS#8 encrypted key', pem('ENCRYPTED PRIVATE KEY')],
    [
      'an SSH2 key',
      '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "k"\nP2/56wAAAi4AAAA3aWYtbW9kbntzaWdue3JzYS1wa2NzMS1zaGExfSxlbmNyeXB0\n---- END SSH2 ENCRYPTED PRIVATE KEY ----',
    ],
  ])('%s', (_name, block) => {
    const out = redact(`before\n${block}\nafter`);
    expect(out).toBe('before\n[REDACTED PRIVATE KEY]\nafter');
    // In JSON text, with `\n` escapes, too.
    expect(redact(JSON.stringify({ key: 'x', pem: block }).replace('"pem"', '"blob"'))).not.toMatch(/MIIE|P2\/56/);
  });

  it('a private key block with no END line (cut, or streamed) loses its whole body', () => {
    const cut = pem('RSA PRIVATE KEY').slice(0, 90);
    expect(redact(`log: ${cut}`)).toBe('log: [REDACTED PRIVATE KEY]');
  });

  it('numbers and bigints under sensitive keys', () => {
    expect(redact({ password: 84736251, pin: 1234, apiKey: 12345678901234567890n, token_count: 7, passwordMinLength: 8, secure: true })).toEqual({
      password: '[REDACTED]',
      pin: 1234,
      apiKey: '[REDACTED]',
      token_count: 7,
      passwordMinLength: 8,
      secure: true,
    });
    expect(redact('{"password": 84736251, "n": 1}')).toBe('{"password": [REDACTED], "n": 1}');
  });

  it('secrets used as object keys', () => {
    const out = redact({ [pat]: 'ann', [`${pat.slice(0, -1)}X`]: 'bob', plain: 1 });
    expect(JSON.stringify(out)).not.toContain(pat.slice(4, 20));
    expect(Object.values(out)).toEqual(['ann', 'bob', 1]);
    expect(Object.keys(out)).toEqual(['[REDACTED]', '[REDACTED]#2', 'plain']);
    expect(redact(new Map([[pat, 1]]))).toEqual({ '[REDACTED]': 1 });
  });

  it('cuts after redacting: a secret across the cut is replaced whole', () => {
    for (const secret of [pat, pem('EC PRIVATE KEY')]) {
      for (const before of [16 * 1024 - 20, 16 * 1024 - 5, 16 * 1024 - 60]) {
        const out = redact(`${'a '.repeat(before / 2)}${secret} tail`);
        expect(out).not.toContain('ghp_a1B2');
        expect(out).not.toContain('MIIE');
        expect(out.endsWith('…[truncated]') || out.endsWith('tail')).toBe(true);
        expect(Buffer.byteLength(out)).toBeLessThanOrEqual(16 * 1024 + 20);
      }
    }
    // Redaction that shrinks the text below the cut still never shows a half token past the window.
    const many = `${`token=${'x'.repeat(4000)} `.repeat(40)}${pat}`;
    expect(redact(many)).not.toContain('ghp_a1B2');
  });

  it.each([
    ['Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark', 'Cookie: [REDACTED]'],
    ['< Set-Cookie: sid=Zm9vYmFyYmF6cXV4; Path=/; HttpOnly\n< Vary: Origin', '< Set-Cookie: [REDACTED]\n< Vary: Origin'],
    ['{"cookie": "sid=abc123456", "n": 1}', '{"cookie": "[REDACTED]", "n": 1}'],
  ])('cookie headers in text: %s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it("Node's rawHeaders and argv arrays", () => {
    const rawHeaders = ['Host', 'api.example.com', 'Authorization', 'Bearer abcdef123456', 'Cookie', 'sid=1', 'X-Api-Key', 'k-123', 'Accept', '*/*'];
    expect(redact(rawHeaders)).toEqual([
      'Host',
      'api.example.com',
      'Authorization',
      '[REDACTED]',
      'Cookie',
      '[REDACTED]',
      'X-Api-Key',
      '[REDACTED]',
      'Accept',
      '*/*',
    ]);
    expect(redact(['mysql', '-u', 'root', '--password', 'hunter2', 'db'])).toEqual(['mysql', '-u', 'root', '--password', '[REDACTED]', 'db']);
  });

  it('base64-wrapped secrets: HTTP Basic credentials, a known token format, a private key', () => {
    const basicCreds = b64('deploy:Tr0ub4dor&3');
    expect(redact(`curl -H 'X-Auth: Basic ${basicCreds}'`)).toBe("curl -H 'X-Auth: Basic [REDACTED]'");
    expect(redact(`creds ${basicCreds} end`)).toBe('creds [REDACTED] end');
    expect(redact(`data: ${b64(pat)}`)).toBe('data: [REDACTED]');
    expect(redact(`tls.key: ${b64(pem('RSA PRIVATE KEY'))}`)).toBe('tls.key: [REDACTED]');
    expect(redact(`GITHUB_TOKEN: ${Buffer.from(pat).toString('base64url')}`)).toBe('GITHUB_TOKEN: [REDACTED]');
    // Base64 that is not a credential stays: binary, plain words, a URL.
    const image = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 37) % 256)).toString('base64');
    expect(redact(`img ${image}`)).toBe(`img ${image}`);
    expect(redact(`v ${b64('just some words here')}`)).toBe(`v ${b64('just some words here')}`);
    expect(redact('a basic configuration for everyone')).toBe('a basic configuration for everyone');
  });

  it.each([
    'secretary: Ann Smith',
    'const password = process.env.DB_PASSWORD;',
    'password: process.env.DB_PASSWORD',
    "db_password = os.environ['DB_PASSWORD']",
    'token: ${{ secrets.NPM_TOKEN }}',
    'passwordMinLength: 12',
    'see https://example.com/docs?page=2&sort=asc',
  ])('does not over-redact: %s', (text) => {
    expect(redact(text)).toBe(text);
  });

  it('keeps objects that only look sensitive', () => {
    expect(redact({ secretary: 'Ann', secretaries: ['Bo'], tokensUsed: 3, authorName: 'x' })).toEqual({
      secretary: 'Ann',
      secretaries: ['Bo'],
      tokensUsed: 3,
      authorName: 'x',
    });
  });

  it.each([
    ['redis://:s3cr3t@cache:6379/0', 'redis://:[REDACTED]@cache:6379/0'],
    ['mongodb+srv://app:pa/ss@cluster0.example.net/db', 'mongodb+srv://app:[REDACTED]@cluster0.example.net/db'],
    ["const password = 'Tr0ub&4!dor @#3';", "const password = '[REDACTED]';"],
    ['X-Amz-Security-Token: FwoGZXIvYXdzEJr', 'X-Amz-Security-Token: [REDACTED]'],
    ['?X-Amz-Signature=abcdef0123&x=1', '?X-Amz-Signature=[REDACTED]&x=1'],
    ['sk_live_4eC39HqLyjWDarjtT1zdp7dcXYZabc', '[REDACTED]'],
    ['xoxp-1234567890-1234567890-1234567890-abcdefabcdefabcdefabcdefabcdef12', '[REDACTED]'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('every generated token format comes from a rule and finds its samples without the scanner', () => {
    expect(tokenFormats.length).toBeGreaterThan(80);
    const ids = new Set(defaultSecretRules.map((r) => r.id));
    for (const f of tokenFormats) expect(ids.has(f.id)).toBe(true);
  });
});

describe('createStreamRedactor', () => {
  const run = (chunks: readonly string[], options?: Parameters<typeof createStreamRedactor>[0]): string => {
    const r = createStreamRedactor(options);
    return chunks.map((c) => r.write(c)).join('') + r.end();
  };

  it.each([
    ['a token', `log line one\ntoken ${pat} end\n`],
    ['an assignment', 'x\nexport DB_PASSWORD=Tr0ub4dor3xyz\ny\n'],
    ['a private key', `start\n${pem('RSA PRIVATE KEY', 'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n')}\nstop\n`],
    ['a URL password', 'connect postgres://app:s3cr3t-pw@db:5432/x ok\n'],
    ['a bearer header', 'GET /\nAuthorization: Bearer abcdefghijklmnop1234\n\n'],
  ])('replaces %s split at every offset, exactly as redact() does', (_name, text) => {
    const filler = 'lorem ipsum dolor sit amet\n'.repeat(30);
    const whole = `${filler}${text}${filler}`;
    const expected = redact(whole, { maxStringBytes: 1 << 20 });
    expect(expected).not.toBe(whole);
    for (let i = 0; i <= whole.length; i += 1) {
      expect(run([whole.slice(0, i), whole.slice(i)], { window: 256 })).toBe(expected);
    }
    // Many small chunks, and the default window.
    for (const size of [1, 3, 7, 64]) {
      const chunks: string[] = [];
      for (let i = 0; i < whole.length; i += size) chunks.push(whole.slice(i, i + size));
      expect(run(chunks, { window: 256 })).toBe(expected);
      expect(run(chunks)).toBe(expected);
    }
  });

  it('releases text as it goes and holds at most a window', () => {
    const r = createStreamRedactor({ window: 1024 });
    let out = '';
    for (let i = 0; i < 100; i++) out += r.write('plain text line\n'.repeat(16));
    expect(out.length).toBeGreaterThan(100 * 256 - 3 * 1024);
    out += r.end();
    expect(out).toBe('plain text line\n'.repeat(1600));
  });

  it('holds an unfinished private key until its END line, and a stream that ends inside one loses the rest', () => {
    const r = createStreamRedactor({ window: 256 });
    const block = pem('RSA PRIVATE KEY');
    let out = r.write(`head\n${block.slice(0, 60)}`);
    for (let i = 0; i < 40; i++) out += r.write(`${'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo'.repeat(2)}\n`);
    expect(out).not.toContain('MIIE');
    expect(out).not.toContain('QUJD');
    out += r.end();
    expect(out).toBe('head\n[REDACTED PRIVATE KEY]');
  });

  it('uses the scanner when given one', () => {
    const secret = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';
    const text = `adafruit_key = "${secret}" ok\n`;
    for (let i = 0; i < text.length; i++) {
      expect(run([text.slice(0, i), text.slice(i)], { scanner: scannerFor(), window: 256 })).not.toContain(secret);
    }
  });

  it('stays linear with tiny writes and with a held secret', () => {
    const { ratio, attempts } = growthRatio(
      (n) => 'x'.repeat(n),
      (input) => {
        const r = createStreamRedactor({ window: 1024 });
        for (let i = 0; i < input.length; i += 16) r.write(input.slice(i, i + 16));
        r.end();
      },
      50_000,
    );
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});

describe('redact on shared subobjects', () => {
  it('walks a 40-level DAG of shared objects once per node, bounds the output and leaks nothing', () => {
    let node: Record<string, unknown> = { password: 'hunter2', note: 'token=ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8' };
    for (let i = 0; i < 40; i++) node = { left: node, right: node, level: i };
    const started = Date.now();
    const out = redact(node, { maxDepth: 64 });
    // Exponential walking would take 2^40 steps; a minute is a loose bound even on a loaded machine.
    expect(Date.now() - started).toBeLessThan(60_000);
    // Serialising the output must be bounded too: a shared input must not expand into 2^40 nodes.
    const text = JSON.stringify(out);
    expect(text.length).toBeLessThan(2_000_000);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ghp_a1B2');
    expect(text).toContain('[Truncated: budget]');
  });

  it('redacts a shared subobject the same everywhere and keeps small DAGs whole', () => {
    const shared = { password: 'hunter2', user: 'ann' };
    const out = redact({ a: shared, b: [shared, { c: shared }] });
    expect(out).toEqual({
      a: { password: '[REDACTED]', user: 'ann' },
      b: [{ password: '[REDACTED]', user: 'ann' }, { c: { password: '[REDACTED]', user: 'ann' } }],
    });
  });

  it('still marks real cycles', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(redact(a)).toEqual({ name: 'a', self: '[Circular]' });
  });
});
