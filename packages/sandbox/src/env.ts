const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Names that never enter a sandbox, whatever the allow-list says: API keys, tokens, secrets,
 * passwords, cloud credentials, Buckley's own settings and the SSH agent socket.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  /_KEY$/i,
  /_KEYS$/i,
  /^KEY$/i,
  /TOKEN/i,
  /SECRET/i,
  /PASSWORD/i,
  /PASSWD/i,
  /CREDENTIAL/i,
  /^AWS_/i,
  /^BUCKLEY_/i,
  /^SSH_AUTH_SOCK$/i,
  /^GOOGLE_APPLICATION_CREDENTIALS$/i,
  /^NPM_CONFIG_.*AUTH/i,
];

/** True when an environment variable name looks like it carries a secret. */
export function isSecretEnvName(name: string): boolean {
  return SECRET_PATTERNS.some((pattern) => pattern.test(name));
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
 * secret-named variables withheld from both and invalid names dropped.
 */
export function buildEnvironment(
  parent: NodeJS.ProcessEnv,
  allow: readonly string[],
  overrides: Readonly<Record<string, string>> = {},
): SandboxEnvironment {
  const env: Record<string, string> = {};
  const withheld: string[] = [];
  const invalid: string[] = [];
  for (const name of allow) {
    const value = parent[name];
    if (value === undefined || !NAME.test(name)) continue;
    if (isSecretEnvName(name)) withheld.push(name);
    else env[name] = value;
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (!NAME.test(name)) invalid.push(name);
    else if (isSecretEnvName(name)) withheld.push(name);
    else env[name] = String(value);
  }
  return { env, withheld: [...new Set(withheld)], invalid };
}
