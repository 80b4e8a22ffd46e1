import { InvalidOrchestratorInputError } from './orchestrator-errors.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Checks an id (session, plan, task, message): 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit. */
export function checkId(what: string, value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new InvalidOrchestratorInputError(
      `${what} must be 1 to 128 characters of letters, digits, ".", "_", ":" or "-" starting with a letter or digit, got ${describe(value)}`,
    );
  }
  return value;
}

/** Checks a text field: a string of at most `max` characters (and at least one unless `allowEmpty`). */
export function checkText(what: string, value: unknown, max: number, allowEmpty = false): string {
  if (typeof value !== 'string' || (!allowEmpty && value.trim() === '') || value.length > max) {
    throw new InvalidOrchestratorInputError(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${max} characters, got ${describe(value)}`);
  }
  return value;
}

/** A short, safe rendering of a bad value for an error message (long strings are cut, so a 10 MB input never lands in a message). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 64 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : String(value).slice(0, 64);
}
