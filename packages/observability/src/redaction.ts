import type { EventMetadata, JsonObject, JsonValue } from '@buckley/events';
import { type RedactOptions, redact, tooDeepMarker } from '@buckley/security';
import { ATTRIBUTION_FIELDS } from './attribution.js';

/**
 * Replaces secrets in a value before it is persisted, logged, exported or used as a label.
 * Must return a value of the same shape and never throw.
 */
export type Redactor = <T>(value: T) => T;

/**
 * The redactor every output of this package goes through: `@buckley/security`'s `redact`
 * (sensitive keys, credentials in URLs and headers, private keys, JWTs, every provider token
 * format), with its options (a `scanner` adds the secret scanner's rules).
 */
export function createRedactor(options: RedactOptions = {}): Redactor {
  return <T>(value: T): T => redact(value, options);
}

const ids = new Set<string>(ATTRIBUTION_FIELDS);
ids.add('modelId');
ids.add('toolName');
ids.add('outcome');
ids.add('durationMs');

/**
 * Redacts event metadata. Attribution ids are redacted as values only, so no key-name rule can
 * ever drop an id (`sessionId` itself is not a sensitive name). Other keys are redacted by name
 * and value.
 */
export function redactMetadata(metadata: EventMetadata, redactor: Redactor): EventMetadata {
  const out: Record<string, JsonValue> = {};
  const rest: Record<string, JsonValue> = {};
  let hasRest = false;
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined) continue;
    if (ids.has(key)) out[key] = typeof value === 'string' ? redactor(value) : value;
    else {
      rest[key] = value;
      hasRest = true;
    }
  }
  return hasRest ? { ...toJsonObject(redactor(rest)), ...out } : out;
}

/**
 * A JSON value for a payload: `undefined` (and what JSON cannot hold) becomes `null`, objects
 * lose `undefined` members. A value nested too deep to serialise becomes `redact()`'s depth
 * marker ({@link tooDeepMarker}, `[Truncated: too deep]`), so the payload says what was lost.
 * What the store accepts, whatever the operation returned.
 */
export function toJsonValue(value: unknown): JsonValue {
  if (value === undefined) return null;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : (JSON.parse(text) as JsonValue);
  } catch (error) {
    // JSON.stringify recurses: a stack overflow means the value was nested too deep.
    return error instanceof RangeError ? tooDeepMarker : null;
  }
}

function toJsonObject(value: unknown): JsonObject {
  const json = toJsonValue(value);
  return json !== null && typeof json === 'object' && !Array.isArray(json) ? json : {};
}
