import { BuckleyError, type BuckleyErrorOptions, isBuckleyError } from '@buckley/utils';

/** What every model error carries besides its code: the HTTP status and the provider's own words. */
export interface ModelErrorOptions extends BuckleyErrorOptions {
  /** HTTP status of the response, when there was one. */
  readonly status?: number;
  /** The provider's error code (`invalid_api_key`, `context_length_exceeded`), when it sent one. */
  readonly providerCode?: string;
}

/**
 * The base of every error of a model call. `code` is stable; `status` and `providerCode` say
 * what the endpoint answered. Messages and fields never contain the API key: text the endpoint
 * sent is scrubbed of it before it is put in an error.
 */
export class ModelError extends BuckleyError {
  /** HTTP status of the response, when there was one. */
  readonly status: number | undefined;
  /** The provider's error code, when it sent one. */
  readonly providerCode: string | undefined;

  constructor(code: string, message: string, options?: ModelErrorOptions) {
    super(code, message, options);
    this.status = options?.status;
    this.providerCode = options?.providerCode;
  }
}

/**
 * `name` when it has the shape of an environment variable name (upper case, digits, `_`),
 * else `undefined`. `model.api_key_env` is often given the key itself by mistake; an error
 * quotes the setting only when it cannot be one.
 */
export function quotableVariableName(name: unknown): string | undefined {
  return typeof name === 'string' && /^[A-Z_][A-Z0-9_]{0,127}$/.test(name) ? name : undefined;
}

/**
 * The environment variable named by `model.api_key_env` is not set. When the setting is not
 * shaped like a variable name (it may be the key itself), the message gives only its length.
 */
export class ModelApiKeyMissingError extends ModelError {
  /** The variable, when the setting has the shape of a variable name; else `undefined`. */
  readonly variable: string | undefined;
  constructor(variable: string) {
    const name = quotableVariableName(variable);
    super(
      'MODEL_API_KEY_MISSING',
      name !== undefined
        ? `environment variable ${name} (model.api_key_env) is not set; expected the API key there (any non-empty value for a server that needs no key)`
        : `model.api_key_env (a ${typeof variable === 'string' ? `string of ${variable.length} characters` : typeof variable}) is not an upper-case environment variable name; it must name the variable that holds the API key, not hold the key`,
    );
    this.variable = name;
  }
}

/** The request itself is invalid (no messages, a bad temperature, a bad tool name); nothing was sent. */
export class ModelRequestError extends ModelError {
  constructor(message: string) {
    super('MODEL_INVALID_REQUEST', message);
  }
}

/** 401 or 403: the key is wrong, expired or lacks access. */
export class ModelAuthError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_AUTH_FAILED', message, options);
  }
}

/** 404: the endpoint does not know the model (or the base URL points at the wrong path). */
export class ModelNotFoundError extends ModelError {
  readonly model: string;
  constructor(model: string, message: string, options?: ModelErrorOptions) {
    super('MODEL_NOT_FOUND', message, options);
    this.model = model;
  }
}

/** 429: rate limited. Retried with the server's `Retry-After` while retries last. */
export class ModelRateLimitError extends ModelError {
  /** What the server asked to wait, in milliseconds, when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined, options?: ModelErrorOptions) {
    super('MODEL_RATE_LIMITED', message, { retryable: true, ...options });
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx, or an error event inside the stream: the provider failed. Retried while retries last. */
export class ModelServerError extends ModelError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined, options?: ModelErrorOptions) {
    super('MODEL_SERVER_ERROR', message, { retryable: true, ...options });
    this.retryAfterMs = retryAfterMs;
  }
}

/** Any other 4xx: the endpoint refused the request as sent. */
export class ModelBadRequestError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_BAD_REQUEST', message, options);
  }
}

/** The prompt (plus `maxTokens`) does not fit the model's context window. */
export class ModelContextLengthError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_CONTEXT_LENGTH_EXCEEDED', message, options);
  }
}

/** The response is not what the API promises: not JSON, not SSE, a chunk without choices. */
export class ModelMalformedResponseError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_MALFORMED_RESPONSE', message, options);
  }
}

/** The stream ended (or the connection dropped) before a finish reason arrived. */
export class ModelStreamInterruptedError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_STREAM_INTERRUPTED', message, { retryable: true, ...options });
  }
}

/** The response passed `maxResponseBytes` or `maxChunks`; the connection was dropped. */
export class ModelResponseTooLargeError extends ModelError {
  readonly limit: 'bytes' | 'chunks';
  readonly max: number;
  constructor(limit: 'bytes' | 'chunks', max: number) {
    super(
      'MODEL_RESPONSE_TOO_LARGE',
      `the model response passed the limit of ${max} ${limit === 'bytes' ? 'bytes (limits.maxResponseBytes)' : 'chunks (limits.maxChunks)'}; the stream was dropped`,
    );
    this.limit = limit;
    this.max = max;
  }
}

/** The connection could not be made or broke before a response. Retried while retries last. */
export class ModelConnectionError extends ModelError {
  constructor(message: string, options?: ModelErrorOptions) {
    super('MODEL_CONNECTION_FAILED', message, { retryable: true, ...options });
  }
}

/** An attempt ran past `model.timeout_seconds`. Retried while retries last. */
export class ModelTimeoutError extends ModelError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('MODEL_TIMEOUT', `the model call took longer than ${timeoutMs} ms (model.timeout_seconds)`, { retryable: true });
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's signal aborted, or the consumer stopped reading the stream. */
export class ModelAbortedError extends ModelError {
  constructor(message = 'the model call was aborted', options?: ModelErrorOptions) {
    super('MODEL_ABORTED', message, options);
  }
}

/** The circuit breaker is open after repeated provider failures: the call was not made. */
export class ModelCircuitOpenError extends ModelError {
  /** Milliseconds until a probe call will be let through. */
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number, consecutiveFailures: number) {
    super('MODEL_CIRCUIT_OPEN', `the model endpoint failed ${consecutiveFailures} time(s) in a row; calls are refused for ${Math.ceil(retryAfterMs)} ms more`);
    this.retryAfterMs = retryAfterMs;
  }
}

/** True when `value` is a {@link ModelError}, optionally with the given `code` (checks the shape, so it holds across duplicate installs). */
export function isModelError(value: unknown, code?: string): value is ModelError {
  return isBuckleyError(value, code) && value.code.startsWith('MODEL_');
}
