import { isSensitiveKey, redact } from '@buckley/security';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Names that never enter a sandbox, whatever the allow-list says: API keys, tokens, personal
 * access tokens, auth settings, DSNs and database URLs, secrets, passwords, cloud credentials,
 * Buckley's own settings and the SSH agent socket.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  /_KEY$/i,
  /_KEYS$/i,
  /^KEY$/i,
  /TOKEN/i,
  /SECRET/i,
  // By class, not by spelling: `XPASS`, `DB_PASS`, `PASSPHRASE`, `PASSWD`; `DEPLOY_CRED`,
  // `GIT_CREDS`, `CREDENTIALS`; `MYSQL_PWD`, `PWD_FILE` (`PWD` and `OLDPWD` aside, see below).
  // A harmless name caught here (`BYPASS_CACHE`) is withheld and listed, never silently passed.
  /PASS/i,
  /CRED/i,
  /PWD/i,
  /^AWS_/i,
  /^BUCKLEY_/i,
  /^SSH_AUTH_SOCK$/i,
  /^GOOGLE_APPLICATION_CREDENTIALS$/i,
  /^NPM_CONFIG_.*AUTH/i,
  /APIKEY/i,
  /_PAT$/i,
  /^PAT$/i,
  // `*_AUTH*` but not `GIT_AUTHOR_NAME`.
  /_AUTH(?!OR)/i,
  /^AUTH_/i,
  /_DSN$/i,
  /^DSN$/i,
  /^DATABASE_URL$/i,
];

/** The shell's working directory variables: they match `PWD` but hold a path, not a password. */
const NOT_SECRET = new Set(['PWD', 'OLDPWD']);

/**
 * True when an environment variable name looks like it carries a secret: the sandbox's own
 * patterns (names holding `KEY` as a word, `TOKEN`, `SECRET`, `PASS`, `CRED`, `PWD`, `AUTH`,
 * `APIKEY`, `_PAT`, `_DSN`, `AWS_*`, `BUCKLEY_*`, ...), plus every key name
 * `@buckley/security`'s redactor treats as sensitive. `PWD` and `OLDPWD` are not secrets.
 */
export function isSecretEnvName(name: string): boolean {
  if (NOT_SECRET.has(name.toUpperCase())) return false;
  return SECRET_PATTERNS.some((pattern) => pattern.test(name)) || isSensitiveKey(name);
}

/** What `PATH` becomes when none of its entries is absolute (an empty `PATH` means the working directory). */
const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * `PATH` with only its absolute entries: a relative one (`./node_modules/.bin`, `bin`), `.` or
 * an empty one (`a::b`, a leading or trailing `:`) is looked up from the working directory, so
 * a program the command planted there would run in place of the one asked for.
 */
function absolutePath(path: string): string {
  const kept = path.split(':').filter((entry) => entry.startsWith('/'));
  return kept.length === 0 ? SYSTEM_PATH : kept.join(':');
}

/**
 * True when a value carries a credential whatever its name: a URL with a password
 * (`postgres://user:pass@host/db`) or a known token shape (`ghp_...`, `sk-...`, a JWT). Judged by
 * `@buckley/security`'s redactor: a value it would change is withheld.
 */
export function isSecretEnvValue(value: string): boolean {
  // The redactor wants a user name before the password; `redis://:pass@host` has none.
  if (/[a-z][a-z0-9+.-]{0,20}:\/\/:[^\s@/]{1,256}@/i.test(value)) return true;
  return redact(value, { maxStringBytes: Buffer.byteLength(value) + 64 }) !== value;
}

/** The environment a sandboxed command gets, and what was held back. */
export interface SandboxEnvironment {
  readonly env: Record<string, string>;
  /** Names asked for (allow-listed and present, or passed explicitly) but withheld as secrets. */
  readonly withheld: string[];
  /** Explicit names dropped because they are not valid identifiers. */
  readonly invalid: string[];
}

/**
 * Builds a cleared environment: only `allow` names copied from `parent`, then `overrides`, with
 * secret-named variables withheld from both, invalid names dropped, and only the absolute
 * entries of `PATH` kept.
 */
export function buildEnvironment(parent: NodeJS.ProcessEnv, allow: readonly string[], overrides: Readonly<Record<string, string>> = {}): SandboxEnvironment {
  const env: Record<string, string> = {};
  const withheld: string[] = [];
  const invalid: string[] = [];
  for (const name of allow) {
    const value = parent[name];
    if (value === undefined || !NAME.test(name)) continue;
    if (isSecretEnvName(name) || isSecretEnvValue(value)) withheld.push(name);
    else env[name] = value;
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (!NAME.test(name)) invalid.push(name);
    else if (isSecretEnvName(name) || isSecretEnvValue(String(value))) withheld.push(name);
    else env[name] = String(value);
  }
  if (env.PATH !== undefined) env.PATH = absolutePath(env.PATH);
  return { env, withheld: [...new Set(withheld)], invalid };
}
