import { describe, expect, it } from 'vitest';
import { buildEnvironment, isSecretEnvName } from './env.js';

describe('isSecretEnvName', () => {
  it.each([
    'OPENROUTER_API_KEY',
    'GITHUB_TOKEN',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_REGION',
    'BUCKLEY_IPC_TOKEN',
    'BUCKLEY_UNSAFE',
    'SSH_AUTH_SOCK',
    'DB_PASSWORD',
    'CLIENT_SECRET',
    'npm_token',
    'STRIPE_APIKEY',
    'OPENAI_APIKEY',
    'GITHUB_PAT',
    'GITLAB_PAT',
    'NPM_AUTH',
    'REGISTRY_AUTH_HEADER',
    'BASIC_AUTH',
    'SENTRY_DSN',
    'DATABASE_URL',
    'database_url',
    'PGPASSFILE_AUTHTOKEN',
    'SESSION_COOKIE',
    // Passwords, credentials and pwd-style names by their class, not one spelling each.
    'XPASS',
    'DB_PASS',
    'SSHPASS',
    'mysql_pass',
    'GPG_PASSPHRASE',
    'PASS',
    'DEPLOY_CRED',
    'GIT_CREDS',
    'CRED_FILE',
    'MYSQL_PWD',
    'DBPWD',
    'PWD_FILE',
    'ftp_pwd',
  ])('%s is a secret', (name) => expect(isSecretEnvName(name)).toBe(true));
  it.each([
    'PATH',
    'HOME',
    'LANG',
    'TERM',
    'KEYBOARD',
    'MONKEY_BUSINESS',
    'PWD',
    'OLDPWD',
    'USER',
    'TZ',
    'LC_ALL',
    'PATHEXT',
    'AUTHOR_NAME',
    'GIT_AUTHOR_NAME',
  ])('%s is not a secret', (name) => expect(isSecretEnvName(name)).toBe(false));
});

describe('buildEnvironment', () => {
  const parent = { PATH: '/usr/bin', HOME: '/h', GITHUB_TOKEN: 'ghp_x', SHELL: '/bin/bash', OPENAI_API_KEY: 'sk-x' };

  it('copies only allow-listed names and withholds secrets even when allow-listed', () => {
    const out = buildEnvironment(parent, ['PATH', 'HOME', 'GITHUB_TOKEN', 'MISSING']);
    expect(out.env).toEqual({ PATH: '/usr/bin', HOME: '/h' });
    expect(out.withheld).toEqual(['GITHUB_TOKEN']);
  });

  it('withholds values that carry a credential whatever their name, from the parent and from overrides', () => {
    const env = {
      DB: 'postgres://app:hunter2@db.internal:5432/app',
      MIRROR: 'https://user:pw@mirror.example/npm/',
      PLAIN: 'https://mirror.example/npm/',
      GH: 'ghp_' + 'a'.repeat(36),
      LANG: 'C.UTF-8',
    };
    const out = buildEnvironment(env, ['DB', 'MIRROR', 'PLAIN', 'GH', 'LANG'], { UPSTREAM: 'redis://:s3cret@cache:6379', REPO: 'git@github.com:o/r.git' });
    expect(out.env).toEqual({ PLAIN: 'https://mirror.example/npm/', LANG: 'C.UTF-8', REPO: 'git@github.com:o/r.git' });
    expect(out.withheld).toEqual(['DB', 'MIRROR', 'GH', 'UPSTREAM']);
  });

  it('withholds pass, cred and pwd names passed per run too, and keeps the working directory variables', () => {
    const out = buildEnvironment({}, [], { XPASS: 'a', DEPLOY_CRED: 'b', APP_PASS: 'c', AWS_CRED_FILE: 'd', MYSQL_PWD: 'e', PWD: '/w', OLDPWD: '/w/x' });
    expect(out.env).toEqual({ PWD: '/w', OLDPWD: '/w/x' });
    expect(out.withheld.toSorted()).toEqual(['APP_PASS', 'AWS_CRED_FILE', 'DEPLOY_CRED', 'MYSQL_PWD', 'XPASS']);
  });

  it('keeps only absolute PATH entries: relative, empty and dot entries would run programs from the working directory', () => {
    const parent = { PATH: './node_modules/.bin::/usr/local/bin:.:bin:/usr/bin:../x:/bin' };
    expect(buildEnvironment(parent, ['PATH']).env.PATH).toBe('/usr/local/bin:/usr/bin:/bin');
    expect(buildEnvironment({}, [], { PATH: 'node_modules/.bin:/opt/tool/bin:' }).env.PATH).toBe('/opt/tool/bin');
    // Nothing absolute left: the system directories, never an empty PATH (which means the working directory).
    expect(buildEnvironment({ PATH: './bin:' }, ['PATH']).env.PATH).toBe('/usr/local/bin:/usr/bin:/bin');
  });

  it('applies overrides, dropping invalid and secret names', () => {
    const out = buildEnvironment(parent, ['PATH'], { FOO: 'bar', '1A': 'x', 'A-B': 'y', '': 'z', MY_API_KEY: 'k', PATH: '/bin' });
    expect(out.env).toEqual({ PATH: '/bin', FOO: 'bar' });
    expect(out.invalid).toEqual(['1A', 'A-B', '']);
    expect(out.withheld).toEqual(['MY_API_KEY']);
  });
});
