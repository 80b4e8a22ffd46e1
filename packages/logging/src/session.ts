import { isAbsolute, join, relative, resolve } from 'node:path';
import { BuckleyError, type BuckleyErrorOptions } from '@buckley/utils';
import { type Logger, type LoggerOptions, createLogger } from './logger.js';

/** A session id that cannot name a file inside the log directory. */
export class InvalidSessionIdError extends BuckleyError {
  readonly sessionId: string;
  constructor(sessionId: string, options?: BuckleyErrorOptions) {
    super(
      'INVALID_SESSION_ID',
      `session id ${JSON.stringify(sessionId)} cannot name a log file: expected 1-128 of letters, digits, "-", "_" or ".", not starting with "."`,
      options,
    );
    this.sessionId = sessionId;
  }
}

const SESSION_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * The per-session log file `<dir>/sessions/<sessionId>.jsonl`. The id must be a plain file name
 * (no separators, no leading dot, no NUL), and the result is checked to stay inside `dir`.
 *
 * @throws {InvalidSessionIdError}
 */
export function sessionLogPath(dir: string, sessionId: string): string {
  if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) throw new InvalidSessionIdError(String(sessionId));
  const base = resolve(dir, 'sessions');
  const file = resolve(base, `${sessionId}.jsonl`);
  const rel = relative(base, file);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.includes('/')) throw new InvalidSessionIdError(sessionId);
  return join(base, `${sessionId}.jsonl`);
}

/**
 * A logger for one session: JSON lines in {@link sessionLogPath}, with `sessionId` bound to
 * every record.
 *
 * @throws {InvalidSessionIdError}
 */
export function createSessionLogger(dir: string, sessionId: string, options: Omit<LoggerOptions, 'file'> = {}): Logger {
  const file = sessionLogPath(dir, sessionId);
  return createLogger({ console: 'off', ...options, file, fields: { ...options.fields, sessionId } });
}
