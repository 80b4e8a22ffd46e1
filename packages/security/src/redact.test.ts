import { describe, expect, it } from 'vitest';
import { isSensitiveKey, redact, truncateUtf8 } from './redact.js';
import { growthRatio } from './linear-time.test-helper.js';
import { scannerFor } from './scan.js';


describe('redact', () => {
  it('redacts sensitive keys and keeps the structure', () => {
    const input = { user: 'ann', password: 'hunter2', nested: { api_key: 'k-123', list: [{ Authorization: 'Bearer abc' }, 3] }, maxTokens: 100, tokenCount: 5, ok: true };
    expect(redact(input)).toEqual({ user: 'ann', password: '[REDACTED]', nested: { api_key: '[REDACTED]', list: [{ Authorization: '[REDACTED]' }, 3] }, maxTokens: 100, tokenCount: 5, ok: true });
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
    ['DB_PASSWORD="p@ss w0rd"', 'DB_PASSWORD="[REDACTED] w0rd"'],
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
    const hostile = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('x'); } });
    expect(redact(hostile)).toEqual({ boom: '[Unreadable]' });
    expect(redact(null)).toBe(null);
    expect(redact(5)).toBe(5);
    expect(redact([1, 'token=abc'])).toEqual([1, 'token=[REDACTED]']);
    expect(redact(new Error('password=hunter2'))).toMatchObject({ message: 'password=[REDACTED]' });
    expect(redact(Buffer.from('abc'))).toBe('[Binary: 3 bytes]');
  });

  it('runs in linear time on pattern-bomb input', () => {
    const bomb = (n: number): string => 'password'.repeat(n / 8) + 'a:'.repeat(n / 2) + '-----BEGIN PRIVATE KEY-----'.repeat(n / 27) + 'eyJ'.repeat(n / 3) + 'x://'.repeat(n / 4);
    const { ratio, attempts } = growthRatio(bomb, (input) => redact(input, { maxStringBytes: 64 * 1024 * 1024 }), 100_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});
