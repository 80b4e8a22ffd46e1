import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact } from './redact.js';

const pw = 'Zq7!hunter2#Xk';

describe('redact: object shapes an attacker controls', () => {
  it('keeps a __proto__ key as an own key, redacts under it, and pollutes nothing', () => {
    const input = JSON.parse(`{"__proto__": {"password": "${pw}", "isAdmin": true}, "a": "b"}`) as Record<string, unknown>;
    const out = redact(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ password: '[REDACTED]', isAdmin: true });
    expect((out as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"password":"[REDACTED]","isAdmin":true},"a":"b"}');
    // A __proto__ key whose value is itself a secret, and one under a sensitive name.
    const pat = 'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q';
    const direct = redact(JSON.parse(`{"__proto__": "${pat}", "constructor": {"prototype": {"token": "${pw}"}}}`)) as object;
    expect(JSON.stringify(direct)).toBe('{"__proto__":"[REDACTED]","constructor":{"prototype":{"token":"[REDACTED]"}}}');
    expect(Object.getPrototypeOf(direct)).toBe(Object.prototype);
  });

  it('redacts null-prototype objects like any other and keeps them null-prototype', () => {
    const input = Object.assign(Object.create(null) as Record<string, unknown>, {
      password: pw,
      nested: Object.assign(Object.create(null) as object, { token: pw }),
      x: 'y',
    });
    const out = redact(input);
    expect(Object.getPrototypeOf(out)).toBe(null);
    expect(JSON.stringify(out)).toBe('{"password":"[REDACTED]","nested":{"token":"[REDACTED]"},"x":"y"}');
  });

  it('redacts arrays under sensitive keys element by element, numbers too', () => {
    expect(
      redact({
        tokens: ['ab12cd34', 'ef56'],
        passwords: ['p1', 84736251],
        api_keys: [['k1'], { id: 'x', key: 'k2' }],
        password: 84736251,
        max_tokens: 5,
        tokens_used: [1, 2],
      }),
    ).toEqual({
      tokens: ['[REDACTED]', '[REDACTED]'],
      passwords: ['[REDACTED]', '[REDACTED]'],
      api_keys: [['[REDACTED]'], '[REDACTED]'],
      password: '[REDACTED]',
      max_tokens: 5,
      tokens_used: [1, 2],
    });
    // A token count stays; a list of tokens goes.
    expect(redact({ usage: { tokens: 1234 } })).toEqual({ usage: { tokens: 1234 } });
    expect(redact({ secrets: [null, true, ''] })).toEqual({ secrets: [null, true, ''] });
  });
});

describe('redact: argv arrays', () => {
  it.each([
    [
      ['mysql', '-p', pw],
      ['mysql', '-p', '[REDACTED]'],
    ],
    [
      ['mysql', `-p${pw}`, 'db'],
      ['mysql', '-p[REDACTED]', 'db'],
    ],
    [
      ['/usr/bin/curl', '-u', `deploy:${pw}`, 'https://x'],
      ['/usr/bin/curl', '-u', 'deploy:[REDACTED]', 'https://x'],
    ],
    [
      ['curl', `--user=deploy:${pw}`],
      ['curl', '--user=deploy:[REDACTED]'],
    ],
    [[`--password=${pw}`], ['--password=[REDACTED]']],
    [
      ['sshpass', '-p', pw, 'scp', 'a', 'b:'],
      ['sshpass', '-p', '[REDACTED]', 'scp', 'a', 'b:'],
    ],
    [
      ['sudo', 'redis-cli', '-a', pw],
      ['sudo', 'redis-cli', '-a', '[REDACTED]'],
    ],
    [
      ['docker', 'login', '-u', 'me', '-p', pw],
      ['docker', 'login', '-u', 'me', '-p', '[REDACTED]'],
    ],
    [
      ['htpasswd', '-b', 'file', 'ann', pw],
      ['htpasswd', '-b', 'file', 'ann', '[REDACTED]'],
    ],
    [
      ['ssh', '-p', '2222', 'host'],
      ['ssh', '-p', '2222', 'host'],
    ],
    [
      ['git', 'log', '-p', 'HEAD'],
      ['git', 'log', '-p', 'HEAD'],
    ],
  ])('%j', (argv, expected) => {
    expect(redact(argv)).toEqual(expected);
  });
});

describe('redact: text forms', () => {
  it.each([
    // JSON inside JSON strings, at any escaping depth.
    [`{"body":"{\\"password\\":\\"${pw}\\",\\"user\\":\\"ann\\"}"}`, `{"body":"{\\"password\\":\\"[REDACTED]\\",\\"user\\":\\"ann\\"}"}`],
    [`"{\\\\\\"token\\\\\\": \\\\\\"${pw}\\\\\\"}"`, `"{\\\\\\"token\\\\\\": \\\\\\"[REDACTED]\\\\\\"}"`],
    // An escaped quote inside a quoted value does not end it.
    [`{"password":"ab\\"${pw}"}`, `{"password":"[REDACTED]"}`],
    // $-prefixed values are secrets unless they are a reference.
    [`password: $${pw}`, 'password: [REDACTED]'],
    ['DB_PASSWORD=$2b$10$abcdefghijklmnopqrstuv', 'DB_PASSWORD=[REDACTED]'],
    ['password: $DB_PASSWORD', 'password: $DB_PASSWORD'],
    ['password: ${DB_PASSWORD}', 'password: ${DB_PASSWORD}'],
    ['token: ${{ secrets.TOKEN }}', 'token: ${{ secrets.TOKEN }}'],
    // YAML block scalars.
    [`db:\n  password: |\n    ${pw}\n    second-line\n  user: ann\n`, 'db:\n  password: |\n    [REDACTED]\n  user: ann\n'],
    [`private_key: >-\n  ${pw}\n\n  more\nnext: 1`, 'private_key: >-\n  [REDACTED]\nnext: 1'],
    ['password: |\nnext: 1', 'password: |\nnext: 1'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
    // The streaming form gives the same, split anywhere.
    for (const at of [1, Math.floor(input.length / 2), input.length - 1]) {
      const s = createStreamRedactor();
      expect(s.write(input.slice(0, at)) + s.write(input.slice(at)) + s.end()).toBe(expected);
    }
  });
});
