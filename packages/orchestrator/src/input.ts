import { describeValue } from '@buckley/utils';
import { InvalidOrchestratorInputError } from './orchestrator-errors.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Checks an id (session, plan, task, message): 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit. */
export function checkId(what: string, value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new InvalidOrchestratorInputError(
      `${what} must be 1 to 128 characters of letters, digits, ".", "_", ":" or "-" starting with a letter or digit, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Checks a text field: a string of at most `max` characters (and at least one unless `allowEmpty`). */
export function checkText(what: string, value: unknown, max: number, allowEmpty = false): string {
  if (typeof value !== 'string' || (!allowEmpty && value.trim() === '') || value.length > max) {
    throw new InvalidOrchestratorInputError(
      `${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${max} characters, got ${describeValue(value)}`,
    );
  }
  return value;
}
