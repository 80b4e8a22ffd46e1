import { v7 } from 'uuid';
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
