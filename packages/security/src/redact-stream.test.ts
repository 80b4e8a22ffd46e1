import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact, type StreamRedactorOptions } from './redact.js';
import { defaultGlobalAllowlists, defaultSecretRules } from './rules/index.js';
import { SecretScanner } from './secret-scanner.js';

const pw = 'Tr0ub4dor3xyz';
const token = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJpYXQiOjE3MzAwMDAwMDB9.c2lnbmF0dXJlLXZhbHVlLWhlcmUtMTIzNDU2';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function run(chunks: readonly string[], options?: StreamRedactorOptions): string {
  const r = createStreamRedactor(options);
  return chunks.map((c) => r.write(c)).join('') + r.end();
}

function chunked(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** A real scanner that counts the characters it is given: the work the stream redactor does per character written. */
class CountingScanner extends SecretScanner {
  scanned = 0;
  override scanText(text: string, options?: Parameters<SecretScanner['scanText']>[1]): ReturnType<SecretScanner['scanText']> {
    this.scanned += text.length;
    return super.scanText(text, options);
  }
}

/** Structured and plain log lines, like a tool's output. */
function logLines(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Date(Date.UTC(2026, 11, 3, 7, 0, 0) + i * 137).toISOString();
    lines.push(
      i % 2 === 0
        ? JSON.stringify({ level: 30, time: t, msg: 'request completed', sessionId: `s_${(i * 7919).toString(36)}`, path: `/v1/tasks/${i}`, status: 200 })
        : `${t} INFO [worker-${i % 4}] task claimed id=${i} elapsed=${(i % 90) + 0.25}ms host=10.0.${i % 8}.${i % 250}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('createStreamRedactor: work per character', () => {
  it.each([
    ['4 KiB writes, the default window', 4096, undefined],
    ['100-character writes, the default window', 100, undefined],
    ['512-character writes, a 1 KiB window', 512, 1024],
    ['one write, the default window', Number.POSITIVE_INFINITY, undefined],
  ])('%s: each character is scanned about 1.5 times, and the output is what redact() gives', (_name, size, window) => {
    const text = logLines(3000);
    expect(text.length).toBeGreaterThan(256 * 1024);
    const scanner = new CountingScanner(defaultSecretRules, defaultGlobalAllowlists);
    const out = run(Number.isFinite(size) ? chunked(text, size) : [text], { scanner, ...(window ? { window } : {}) });
    expect(out).toBe(redact(text, { scanner, maxStringBytes: 1 << 30 }));
    expect(scanner.scanned).toBeGreaterThan(2 * text.length);
    // Counted once for the stream and once for the redact() above.
    expect((scanner.scanned - text.length) / text.length).toBeLessThan(1.75);
  });
});

describe('createStreamRedactor: secrets split across chunks', () => {
  const filler = 'lorem ipsum dolor sit amet\n'.repeat(30);
  // One long line (no line end for thousands of characters), with and without blanks.
  const longLine = 'lorem ipsum dolor sit amet '.repeat(60);
  const longWord = 'loremipsumdolorsitamet'.repeat(80);
  const basic = b64(`ann:${pw}`);
  const cases: Array<[string, string, string]> = [
    ['a Cookie header', `GET / HTTP/1.1\r\nCookie: theme=dark; JSESSIONID=${pw}\r\n\r\n`, pw],
    ['a Set-Cookie header', `HTTP/1.1 200 OK\r\nSet-Cookie: connect.sid=s%3A${pw}; Path=/; HttpOnly\r\n`, pw],
    ['a session cookie in a query string', `GET /cart?page=2&PHPSESSID=${pw}&x=1\n`, pw],
    ['a quoted value with blanks', `const password = "correct horse ${pw} staple";\n`, pw],
    ['JSON inside a JSON string', `{"body":"{\\"client_secret\\":\\"${pw}\\"}"}\n`, pw],
    ['a YAML block scalar', `db:\n  password: |\n    ${pw}\n    second-line\n  user: ann\n`, pw],
    ['a YAML block scalar whose head has a long comment', `api_token: | # ${'rotated monthly by the platform team '.repeat(10)}\n  ${pw}\nnext: 1\n`, pw],
    ['a JWT', `curl -H "x-id: ${jwt}" https://api.example\n`, jwt],
    ['a bearer token', `Authorization: Bearer ${token}\n`, token],
    ['base64 of user:password', `header ${basic} end\n`, basic],
    ['a URL password after a long user name', `connect postgres://${'u'.repeat(240)}:${pw}@db:5432/x ok\n`, pw],
    ['an assignment with a long name', `export ${'A'.repeat(40)}_DATABASE_PASSWORD_OF_THE_REPLICA=${pw}\n`, pw],
  ];

  it.each(cases)('replaces %s split at every offset, exactly as redact() does', (_name, secret, value) => {
    for (const [line, after] of [
      [filler, filler],
      [longLine, longLine],
      [longWord, ` ${longWord}`],
    ] as const) {
      // A YAML block scalar's head starts a line.
      const before = secret.includes(': |') && !line.endsWith('\n') ? `${line}\n` : line;
      const whole = `${before}${secret}${after}`;
      const expected = redact(whole, { maxStringBytes: 1 << 20 });
      expect(expected).not.toContain(value);
      const start = before.length - 300;
      const end = before.length + secret.length + 300;
      for (let i = start; i <= end; i++) {
        expect(run([whole.slice(0, i), whole.slice(i)], { window: 256 })).toBe(expected);
        expect(run([whole.slice(0, i), whole.slice(i, i + 97), whole.slice(i + 97)], { window: 256 })).toBe(expected);
      }
      for (const size of [1, 7, 64, 255, 1000]) {
        expect(run(chunked(whole, size), { window: 256 })).toBe(expected);
        expect(run(chunked(whole, size))).toBe(expected);
      }
    }
  });
});
