import type { EventMetadata } from '@buckley/events';
import type { LogFields, LogRecord, LoggerOptions } from '@buckley/logging';
import type { AttributionContext } from './attribution.js';
import { type Redactor, createRedactor, redactMetadata } from './redaction.js';

/** Options of {@link createLoggingHooks}. */
export interface LoggingHooksOptions {
  /** The attribution context whose current fields every log record carries (e.g. `recorder.context`). */
  readonly context: AttributionContext;
  /** Applied to the message and every field. Default `@buckley/security`'s redactor. */
  readonly redact?: Redactor;
}

/**
 * The `context` and `redact` hooks of `@buckley/logging`'s `createLogger`: every record carries
 * the current attribution (`sessionId`, `planId`, `taskId`, `experimentId`, `attempt`,
 * `correlationId`, `traceId`, `spanId`, ...; inside `observe()` the operation's span), so a log
 * line joins its events and spans, and its message and fields pass the same redactor as events,
 * metric labels and spans. Attribution ids are redacted as values, like event metadata.
 *
 * @example
 * ```ts
 * const log = createLogger({ file: '.buckley/logs/buckley.jsonl', ...createLoggingHooks({ context: recorder.context }) });
 * ```
 */
export function createLoggingHooks(options: LoggingHooksOptions): Required<Pick<LoggerOptions, 'context' | 'redact'>> {
  const { context } = options;
  const redactor = options.redact ?? createRedactor();
  return {
    context: () => context.current() as LogFields,
    redact: (record: LogRecord): LogRecord => ({
      ...record,
      message: redactor(record.message),
      fields: redactMetadata(record.fields as EventMetadata, redactor) as Record<string, unknown>,
    }),
  };
}
