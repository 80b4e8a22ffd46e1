import { v5, v7 } from 'uuid';
import { InvalidArgumentError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness, so ids sort by creation
 * time. Ids made in one process are strictly increasing, even within one millisecond.
 */
export function uuidv7(): string {
  return v7();
}

/** True for a lower-case canonical UUID string of any version. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * The creation time in Unix milliseconds carried by a UUIDv7.
 *
 * @throws {InvalidArgumentError} when `id` is not a canonical UUIDv7
 */
export function uuidv7Time(id: string): number {
  if (!isUuid(id) || id[14] !== '7') {
    throw new InvalidArgumentError(`id ${JSON.stringify(id)} is not a UUIDv7`);
  }
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** The namespace of {@link deterministicUuid}'s name-based UUIDs. */
const BUCKLEY_NAMESPACE = '6f1d3a52-9c47-4b8e-a0d2-5e7c1b94f3a8';

/**
 * A name-based UUID (version 5, RFC 9562) fixed by `parts`: the same parts give the same id in
 * every process, so a retried write produces the same event id and an idempotent append drops
 * the duplicate. Parts are joined with NUL, so `('a', 'bc')` and `('ab', 'c')` differ.
 *
 * @throws {InvalidArgumentError} when no part is given or a part is not a string or a finite number
 */
export function deterministicUuid(...parts: ReadonlyArray<string | number>): string {
  if (parts.length === 0) throw new InvalidArgumentError('deterministicUuid needs at least one part');
  for (const part of parts) {
    if (typeof part !== 'string' && !(typeof part === 'number' && Number.isFinite(part))) {
      throw new InvalidArgumentError(`deterministicUuid part ${String(part)} must be a string or a finite number`);
    }
  }
  return v5(parts.map(String).join('\u0000'), BUCKLEY_NAMESPACE);
}
