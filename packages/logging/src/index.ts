export { createLogger } from './logger.js';
export type { Logger, LoggerOptions, LogLevel, LogFields, LogRecord, RedactHook } from './logger.js';
export { sessionLogPath, createSessionLogger, InvalidSessionIdError } from './session.js';
