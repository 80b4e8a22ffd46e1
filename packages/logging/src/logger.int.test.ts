import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuckleyError } from '@buckley/utils';
import { type LogRecord, createLogger, createSessionLogger, InvalidSessionIdError, sessionLogPath } from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'buckley-logging-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, message and bound fields', async () => {
    const file = join(dir, 'logs', 'buckley.jsonl');
    const log = createLogger({ file, console: 'off', fields: { nodeId: 'n1' } });
    const session = log.child({ sessionId: 's1', planId: 'p1' });
    session.info('tool finished', { toolName: 'shell', durationMs: 12 });
    session.child({ taskId: 't1' }).warn('slow');
    await log.close();
    const [first, second] = lines(file);
    expect(first).toMatchObject({ level: 'info', message: 'tool finished', nodeId: 'n1', sessionId: 's1', planId: 'p1', toolName: 'shell', durationMs: 12 });
    expect(Number.isNaN(Date.parse(String(first?.['time'])))).toBe(false);
    expect(second).toMatchObject({ level: 'warn', message: 'slow', sessionId: 's1', taskId: 't1' });
  });

  it('filters by level', async () => {
    const file = join(dir, 'l.jsonl');
    const log = createLogger({ file, console: 'off', level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    await log.close();
    expect(lines(file).map((l) => l['message'])).toEqual(['w', 'e']);
  });

  it('readable terminal lines go to the given stream (stderr by default), JSON when asked', async () => {
    const pretty = capture();
    const log = createLogger({ stream: pretty.stream, fields: { sessionId: 's1' } });
    log.error('it broke', { reason: 'disk full' });
    await log.close();
    expect(pretty.text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR it broke sessionId=s1 reason="disk full"\n$/);
    const json = capture();
    const jlog = createLogger({ stream: json.stream, console: 'json' });
    jlog.info('x', { n: 1 });
    await jlog.close();
    expect(JSON.parse(json.text())).toMatchObject({ level: 'info', message: 'x', n: 1 });
  });

  it('adds the fields of the context hook to every record, under bound and call fields', async () => {
    const file = join(dir, 'c.jsonl');
    let current: Record<string, string> | undefined = { sessionId: 'ctx-s', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) };
    const errors: unknown[] = [];
    const log = createLogger({ file, console: 'off', context: () => current, onError: (e) => errors.push(e) });
    log.info('in context');
    log.child({ sessionId: 'bound-s' }).info('bound wins', { spanId: 'c'.repeat(16) });
    current = undefined;
    log.info('no context');
    const broken = createLogger({
      file: join(dir, 'c2.jsonl'),
      console: 'off',
      context: () => {
        throw new Error('hook bug');
      },
      onError: (e) => errors.push(e),
    });
    broken.info('still written');
    await log.close();
    await broken.close();
    const [a, b, c] = lines(file);
    expect(a).toMatchObject({ message: 'in context', sessionId: 'ctx-s', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) });
    expect(b).toMatchObject({ message: 'bound wins', sessionId: 'bound-s', traceId: 'a'.repeat(32), spanId: 'c'.repeat(16) });
    expect(c).toEqual({ time: expect.any(String), level: 'info', message: 'no context' });
    expect(lines(join(dir, 'c2.jsonl'))[0]).toMatchObject({ message: 'still written' });
    expect(errors).toMatchObject([{ message: 'hook bug' }]);
  });

  it('applies the redaction hook to every record before any output sees it', async () => {
    const file = join(dir, 'r.jsonl');
    const term = capture();
    const redact = (r: LogRecord): LogRecord => ({
      ...r,
      message: r.message.replaceAll('sk-live-123', '[REDACTED]'),
      fields: Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, k === 'token' ? '[REDACTED]' : v])),
    });
    const log = createLogger({ file, stream: term.stream, redact });
    log.child({ token: 'sk-live-123' }).info('key sk-live-123 used');
    await log.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('sk-live-123');
    expect(term.text()).not.toContain('sk-live-123');
    expect(lines(file)[0]).toMatchObject({ message: 'key [REDACTED] used', token: '[REDACTED]' });
  });

  it('a redaction hook that throws withholds the record instead of writing it raw', async () => {
    const file = join(dir, 'w.jsonl');
    const errors: unknown[] = [];
    const log = createLogger({
      file,
      console: 'off',
      redact: () => {
        throw new Error('redactor bug');
      },
      onError: (e) => errors.push(e),
    });
    log.info('password=hunter2', { secret: 'hunter2' });
    await log.close();
    expect(readFileSync(file, 'utf8')).not.toContain('hunter2');
    expect(lines(file)[0]?.['message']).toBe('[record withheld: the redaction hook failed]');
    expect(errors).toHaveLength(1);
  });

  it('serializes errors, bigints and cycles without throwing', async () => {
    const file = join(dir, 'e.jsonl');
    const log = createLogger({ file, console: 'off' });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const error = new BuckleyError('STORE_DOWN', 'store is down', { cause: new Error('ECONNREFUSED') });
    log.error('failed', { error, big: 10n ** 20n, cyclic });
    await log.close();
    const [line] = lines(file);
    expect(line?.['error']).toMatchObject({ name: 'BuckleyError', message: 'store is down', code: 'STORE_DOWN', cause: { message: 'ECONNREFUSED' } });
    expect(line?.['big']).toBe('100000000000000000000');
    expect(line?.['cyclic']).toEqual({ a: 1, self: '[Circular]' });
  });

  it('never throws into the caller: unwritable file, logging after close, odd messages', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const errors: unknown[] = [];
    const log = createLogger({ file: join(blocker, 'sub', 'x.jsonl'), console: 'off', onError: (e) => errors.push(e) });
    expect(() => log.info('lost')).not.toThrow();
    expect(() => log.info(undefined as unknown as string)).not.toThrow();
    await log.close();
    expect(() => log.error('after close')).not.toThrow();
    expect(errors.length).toBeGreaterThan(0);
  });

  it('closes with `await using` and flushes everything written before', async () => {
    const file = join(dir, 'flush.jsonl');
    {
      await using log = createLogger({ file, console: 'off' });
      for (let i = 0; i < 1000; i++) log.info(`m${i}`);
    }
    const all = lines(file);
    expect(all).toHaveLength(1000);
    expect(all.at(-1)?.['message']).toBe('m999');
  });
});

describe('session log files', () => {
  it('lives under <dir>/sessions/<id>.jsonl with sessionId bound', async () => {
    const log = createSessionLogger(dir, '0190a4b8-2f6e-7c3a-8b1d-123456789abc');
    log.info('hello');
    await log.close();
    const file = join(dir, 'sessions', '0190a4b8-2f6e-7c3a-8b1d-123456789abc.jsonl');
    expect(lines(file)[0]).toMatchObject({ message: 'hello', sessionId: '0190a4b8-2f6e-7c3a-8b1d-123456789abc' });
  });

  for (const bad of ['../escape', '..', '.', '.hidden', 'a/b', 'a\\b', 'nul\u0000byte', '', 'x'.repeat(129), '/etc/passwd']) {
    it(`refuses the session id ${JSON.stringify(bad)} and creates nothing`, () => {
      expect(() => sessionLogPath(dir, bad)).toThrow(InvalidSessionIdError);
      expect(() => createSessionLogger(dir, bad)).toThrow(/cannot name a log file/);
      expect(existsSync(join(dir, 'sessions'))).toBe(false);
    });
  }

  it('keeps dots inside an id without escaping', () => {
    mkdirSync(join(dir, 'sessions'));
    expect(sessionLogPath(dir, 'run.2026-11-24')).toBe(join(dir, 'sessions', 'run.2026-11-24.jsonl'));
  });
});
