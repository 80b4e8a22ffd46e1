import { BuckleyError, type BuckleyErrorOptions } from '@buckley/utils';

/** Base of every sandbox failure; `code` is stable, the message says what is wrong and how to fix it. */
export class SandboxError extends BuckleyError {}

/** True when `value` is a {@link SandboxError} (optionally with the given `code`). */
export function isSandboxError(value: unknown, code?: string): value is SandboxError {
  return value instanceof SandboxError && (code === undefined || value.code === code);
}

/**
 * The chosen tier cannot start (bubblewrap missing, user namespaces disabled, isolated-vm not
 * installed) and the unsafe override is off, so the call refuses instead of running unconfined.
 */
export class SandboxUnavailableError extends SandboxError {
  /** What is missing, e.g. `bwrap`, `user_namespaces`, `isolated-vm`. */
  readonly missing: string;
  /** One line telling the operator how to fix it. */
  readonly fix: string;

  constructor(missing: string, message: string, fix: string, options?: BuckleyErrorOptions) {
    super('SANDBOX_UNAVAILABLE', `${message}; fix: ${fix}`, options);
    this.missing = missing;
    this.fix = fix;
  }
}

/** The JavaScript runner's child process died or stopped answering; the runner restarts it on the next call. */
export class JsRunnerCrashedError extends SandboxError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super('JS_RUNNER_CRASHED', message, { retryable: true, ...options });
  }
}

/** The directory given as the workspace may not be one: a system directory, the home, or a directory holding the home. */
export class SandboxWorkspaceError extends SandboxError {
  /** The refused directory (its real path). */
  readonly workspace: string;

  constructor(workspace: string, reason: string) {
    super('SANDBOX_WORKSPACE_REFUSED', `${JSON.stringify(workspace)} cannot be a sandbox workspace: ${reason}; fix: use a project directory`);
    this.workspace = workspace;
  }
}
