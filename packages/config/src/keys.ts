/** `allow_unsafe` -> `allowUnsafe`. */
function toCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `allowUnsafe` -> `allow_unsafe`. */
export function toSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deep-converts snake_case keys to camelCase, in lists of mappings too (`model.prices`). A key already in camelCase is renamed so it can
 * never match the schema (file keys must be snake_case); the validator then reports it as
 * unknown with the snake_case spelling as the suggestion.
 */
export function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const renamed = /[A-Z]/.test(key) ? `${key}\u0000` : toCamel(key);
    out[renamed] = camelize(inner);
  }
  return out;
}

/** Deep-converts camelCase keys to snake_case. */
export function snakeize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeize);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [toSnake(k), snakeize(v)]));
}

/** Leaf paths of a snake_case object: arrays and scalars are leaves. */
export function leaves(value: unknown, prefix: string[] = []): Array<{ path: string[]; value: unknown }> {
  if (!isRecord(value) || (prefix.length > 0 && Object.keys(value).length === 0)) {
    return prefix.length === 0 ? [] : [{ path: prefix, value }];
  }
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...prefix, k]));
}
