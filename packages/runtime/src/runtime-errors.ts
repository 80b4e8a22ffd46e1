import { BuckleyError, type BuckleyErrorOptions } from '@buckley/utils';

/** Stable codes of the runtime's and the binary's errors. */
export const RuntimeErrorCode = {
  Usage: 'CLI_USAGE',
  MissingPackage: 'RUNTIME_MISSING_PACKAGE',
  ModelNotConfigured: 'MODEL_NOT_CONFIGURED',
  StoreUnavailable: 'RUNTIME_STORE_UNAVAILABLE',
} as const;

/** One of {@link RuntimeErrorCode}'s values. */
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

/** The base of every error the runtime and the `buckley` binary throw; `fix` says what to do. */
export class RuntimeError extends BuckleyError {
  declare readonly code: RuntimeErrorCode;
  /** One sentence for the person at the terminal: what to do about it. */
  readonly fix: string | undefined;

  constructor(code: RuntimeErrorCode, message: string, options?: BuckleyErrorOptions & { readonly fix?: string }) {
    super(code, message, options);
    this.fix = options?.fix;
  }
}

/** The command line was wrong (unknown command or flag, a missing argument): exit code 2. */
export class UsageError extends RuntimeError {
  constructor(message: string, options?: BuckleyErrorOptions & { readonly fix?: string }) {
    super(RuntimeErrorCode.Usage, message, options);
  }
}

/** An adapter package the configuration selects is not installed. */
export class MissingPackageError extends RuntimeError {
  /** The package to install. */
  readonly packageName: string;

  constructor(packageName: string, options?: BuckleyErrorOptions) {
    super(RuntimeErrorCode.MissingPackage, `the package ${JSON.stringify(packageName)} is not installed`, {
      ...options,
      fix: `install ${packageName}`,
    });
    this.packageName = packageName;
  }
}

/** `model.id` is not set, so there is no model to run an agent with. */
export class ModelNotConfiguredError extends RuntimeError {
  constructor(options?: BuckleyErrorOptions) {
    super(RuntimeErrorCode.ModelNotConfigured, 'no model is configured (model.id is null)', {
      ...options,
      fix: 'set BUCKLEY_MODEL=<model id> (and BUCKLEY_MODEL_BASE_URL for a non-OpenAI endpoint), or model.id in ~/.config/buckley/config.yaml',
    });
  }
}

/** The configured event store could not be opened; the driver's error is the `cause`. */
export class StoreUnavailableError extends RuntimeError {
  constructor(what: string, options?: BuckleyErrorOptions & { readonly fix?: string }) {
    super(RuntimeErrorCode.StoreUnavailable, `cannot open the ${what}`, { retryable: true, ...options });
  }
}

/** True when `value` is a {@link RuntimeError} (by shape: its code is one of {@link RuntimeErrorCode}). */
export function isRuntimeError(value: unknown): value is RuntimeError {
  return value instanceof Error && Object.values<string>(RuntimeErrorCode).includes((value as { code?: string }).code ?? '');
}
