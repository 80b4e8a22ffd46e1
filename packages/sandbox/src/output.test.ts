import { describe, expect, it } from 'vitest';
import { CappedBuffer } from './output.js';

describe('CappedBuffer', () => {
  it('keeps everything under the cap', () => {
    const b = new CappedBuffer(10);
    b.push(Buffer.from('abc'));
    b.push(Buffer.from('def'));
    expect(b.result()).toEqual({ text: 'abcdef', totalBytes: 6, truncated: false });
  });

  it('keeps the head, counts the rest and flags truncation', () => {
    const b = new CappedBuffer(4);
    b.push(Buffer.from('abcdef'));
    b.push(Buffer.from('ghij'));
    expect(b.result()).toEqual({ text: 'abcd', totalBytes: 10, truncated: true });
  });

  it('exactly at the cap is not truncated', () => {
    const b = new CappedBuffer(3);
    b.push(Buffer.from('abc'));
    expect(b.result().truncated).toBe(false);
  });

  it('a multibyte character cut at the cap decodes to U+FFFD instead of throwing', () => {
    const b = new CappedBuffer(4);
    b.push(Buffer.from('abc€'));
    expect(b.result()).toEqual({ text: 'abc\uFFFD', totalBytes: 6, truncated: true });
  });

  it('invalid UTF-8 decodes with replacement characters', () => {
    const b = new CappedBuffer(8);
    b.push(Buffer.from([0x61, 0xff, 0xfe, 0x62]));
    expect(b.result().text).toBe('a\uFFFD\uFFFDb');
  });
});
