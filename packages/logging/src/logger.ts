import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { BuckleyError } from '@buckley/utils';
import { configure as configureStringify } from 'safe-stable-stringify';
import winston from 'winston';
import Transport from 'winston-transport';

/** Severity, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Structured fields bound to a logger or passed with one record. The attribution fields match
 * the event envelope's metadata so logs and events can be joined.
 */
export interface LogFields {
  sessionId?: string;
  planId?: string;
  taskId?: string;
  experimentId?: string;
  modelId?: string;
  toolName?: string;
  agentId?: string;
  traceId?: string;
  spanId?: string;
  [key: string]: unknown;
}

/** One record as the redaction hook sees it, and as it is written. */
export interface LogRecord {
  level: LogLevel;
  message: string;
  /** ISO-8601 time the record was made. */
  time: string;
  fields: Record<string, unknown>;
}

/**
 * Called on every record before any output sees it; returns the record to write. The security
 * package provides the real one (`redact`); a hook that throws causes the record to be replaced
 * by a marker, never written raw.
 */
export type RedactHook = (record: LogRecord) => LogRecord;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Least severe level written. Default `info`. */
  readonly level?: LogLevel;
  /** Terminal output on `stream` (default stderr, so stdout stays free for protocols). */
  readonly console?: 'pretty' | 'json' | 'off';
  /** Where terminal output goes. Default `process.stderr`. */
  readonly stream?: Writable;
  /** A JSON-lines file every record is appended to; its directory is created. */
  readonly file?: string;
  /** Applied to every record before it is written. */
  readonly redact?: RedactHook;
  /** Fields bound to every record of this logger and its children. */
  readonly fields?: LogFields;
  /**
   * Read on every record: the fields of the current async context, e.g. the attribution of
   * `@buckley/observability` (`sessionId`, `planId`, `taskId`, `traceId`, `spanId`, ...), so a
   * log line joins the events and spans of the operation it was written in. Bound and call
   * fields override them. A hook that throws is reported to `onError` and adds nothing.
   */
  readonly context?: () => LogFields | undefined;
  /** Told about failures to write (a full disk, an unwritable file); logging itself never throws. */
  readonly onError?: (error: unknown) => void;
}

/** A structured logger. No method throws into the caller. */
export interface Logger extends AsyncDisposable {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record; it shares this logger's outputs. */
  child(fields: LogFields): Logger;
  /** Whether a record at `level` would be written. */
  isLevelEnabled(level: LogLevel): boolean;
  /** Flushes and closes the outputs; later records are dropped silently. */
  close(): Promise<void>;
}

const levels: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const stringify = configureStringify({ bigint: true, circularValue: '[Circular]', deterministic: false });
const REDACT_FAILED = '[record withheld: the redaction hook failed]';

/** Turns values JSON cannot hold faithfully (errors, bigints) into plain data. */
function plain(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code: unknown = value instanceof BuckleyError ? value.code : (value as Error & { code?: unknown }).code;
    if (typeof code === 'string') out['code'] = code;
    if (value.stack) out['stack'] = value.stack;
    if (value.cause !== undefined) out['cause'] = plain(value.cause, seen);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => plain(v, seen));
  if (value instanceof Date) return value.toISOString();
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, seen)]));
}

const MESSAGE = Symbol.for('message');

function jsonLine(record: LogRecord): string {
  return stringify({ time: record.time, level: record.level, message: record.message, ...record.fields }) ?? '{}';
}

function prettyLine(record: LogRecord, color: boolean): string {
  const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const levelColor = { error: 31, warn: 33, info: 36, debug: 90 }[record.level];
  const fields = Object.entries(record.fields)
    .map(([k, v]) => `${paint(90, `${k}=`)}${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : stringify(v)}`)
    .join(' ');
  return `${paint(90, record.time.slice(11, 23))} ${paint(levelColor, record.level.toUpperCase().padEnd(5))} ${record.message}${fields ? ` ${fields}` : ''}`;
}

/** Writes the already-formatted line to a caller's stream; errors go to `onError`. */
class StreamTransport extends Transport {
  readonly #stream: Writable;
  constructor(stream: Writable, level: LogLevel) {
    super({ level });
    this.#stream = stream;
  }
  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    try {
      this.#stream.write(`${String(info[MESSAGE])}\n`);
    } catch (error) {
      this.emit('error', error);
    }
    next();
  }
}

/**
 * Creates a logger: JSON lines to `file`, readable (or JSON) lines on a terminal stream, levels,
 * child loggers with bound fields, and `redact` applied to every record before any output.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'debug', file: '.buckley/logs/buckley.jsonl', redact });
 * log.child({ sessionId }).info('tool finished', { toolName: 'shell', durationMs: 12 });
 * await log.close();
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const redact = options.redact ?? ((r: LogRecord) => r);
  const onError = options.onError ?? (() => {});
  const contextFields = options.context;
  const current = (): LogFields | undefined => {
    if (contextFields === undefined) return undefined;
    try {
      return contextFields();
    } catch (error) {
      onError(error);
      return undefined;
    }
  };
  const consoleMode = options.console ?? 'pretty';
  const stream = options.stream ?? process.stderr;
  const color = consoleMode === 'pretty' && (stream as { isTTY?: boolean }).isTTY === true;

  const transports: Transport[] = [];
  let fileTransport: winston.transports.FileTransportInstance | undefined;
  if (options.file !== undefined) {
    try {
      mkdirSync(dirname(options.file), { recursive: true });
      fileTransport = new winston.transports.File({
        filename: options.file,
        level,
        format: winston.format.printf((info) => String(info['json'])),
      });
      transports.push(fileTransport);
    } catch (error) {
      onError(error);
    }
  }
  if (consoleMode !== 'off') {
    const t = new StreamTransport(stream, level);
    t.format = winston.format.printf((info) => String(consoleMode === 'json' ? info['json'] : info['pretty']));
    transports.push(t);
  }
  const base = winston.createLogger({
    levels,
    level,
    transports,
    exitOnError: false,
    // With every output off there is nothing to write to; silence winston's warning about it.
    silent: transports.length === 0,
  });
  base.on('error', onError);
  for (const t of transports) t.on('error', onError);

  let closed = false;
  const write = (lvl: LogLevel, message: string, bound: LogFields, fields: LogFields | undefined) => {
    if (closed || levels[lvl] > levels[level]) return;
    try {
      let record: LogRecord = {
        level: lvl,
        message: String(message),
        time: new Date().toISOString(),
        fields: plain({ ...current(), ...bound, ...fields }) as Record<string, unknown>,
      };
      try {
        record = redact(record);
      } catch (error) {
        onError(error);
        record = { level: lvl, message: REDACT_FAILED, time: record.time, fields: {} };
      }
      base.log({
        level: lvl,
        message: record.message,
        json: jsonLine(record),
        pretty: consoleMode === 'pretty' ? prettyLine(record, color) : undefined,
      });
    } catch (error) {
      onError(error);
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      const finished = fileTransport
        ? new Promise<void>((resolve) => {
            const done = () => resolve();
            fileTransport!.once('finish', done);
            fileTransport!.once('error', done);
            // A transport whose file never opened emits nothing: don't wait for it forever.
            setTimeout(done, 2_000).unref();
          })
        : Promise.resolve();
      base.end();
      await finished;
    } catch (error) {
      onError(error);
    }
  };

  const make = (bound: LogFields): Logger => ({
    error: (m, f) => write('error', m, bound, f),
    warn: (m, f) => write('warn', m, bound, f),
    info: (m, f) => write('info', m, bound, f),
    debug: (m, f) => write('debug', m, bound, f),
    child: (fields) => make({ ...bound, ...fields }),
    isLevelEnabled: (lvl) => levels[lvl] <= levels[level],
    close,
    [Symbol.asyncDispose]: close,
  });
  return make(options.fields ?? {});
}
