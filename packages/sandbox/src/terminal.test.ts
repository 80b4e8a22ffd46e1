import { describe, expect, it } from 'vitest';
import { sanitizeForTerminal } from './terminal.js';

const ESC = '\x1b';
const BEL = '\x07';

describe('sanitizeForTerminal', () => {
  it('keeps ordinary text, unicode, newlines and tabs as they are', () => {
    const text = 'build ok\n\tcafé 日本 🙂 100%\n';
    expect(sanitizeForTerminal(text)).toBe(text);
    expect(sanitizeForTerminal('a\r\nb\r\n')).toBe('a\nb\n');
  });

  it.each([
    ['an OSC 52 clipboard write (BEL)', `${ESC}]52;c;cm0gLXJmIH4K${BEL}`],
    ['an OSC 52 clipboard write (ST)', `${ESC}]52;c;cm0gLXJmIH4K${ESC}\\`],
    ['an OSC 52 clipboard write (8-bit OSC and ST)', '\u009d52;c;cm0gLXJmIH4K\u009c'],
    ['a window title set', `${ESC}]0;pwned${BEL}${ESC}]2;pwned${ESC}\\`],
    ['a hyperlink', `${ESC}]8;;https://evil.example${ESC}\\`],
    ['a screen clear and home', `${ESC}[2J${ESC}[H${ESC}[3J`],
    ['cursor moves and line erases', `${ESC}[10A${ESC}[2K${ESC}[1;1H`],
    ['a full reset', `${ESC}c`],
    ['a device status query (the terminal would answer into stdin)', `${ESC}[6n${ESC}[c`],
    ['an 8-bit CSI', '\u009b2J'],
    ['a DCS, PM and APC string', `${ESC}Pq#0;2;0;0;0${ESC}\\${ESC}^private${ESC}\\${ESC}_app${ESC}\\`],
    ['charset and keypad switches', `${ESC}(0${ESC}=${ESC}7${ESC}8`],
    ['colours (by default)', `${ESC}[31;1m${ESC}[0m`],
  ])('removes %s', (_name, sequence) => {
    expect(sanitizeForTerminal(`before${sequence}after\n`)).toBe('beforeafter\n');
  });

  it('an unterminated control string is removed to the end, as a terminal swallows it', () => {
    expect(sanitizeForTerminal(`ok${ESC}]52;c;AAAA never ends\nmore`)).toBe('ok');
  });

  it('shows the other control characters instead of letting them act', () => {
    expect(sanitizeForTerminal('safe\rrm -rf ~')).toBe('safe^Mrm -rf ~');
    expect(sanitizeForTerminal('abc\b\b\bxyz')).toBe('abc^H^H^Hxyz');
    expect(sanitizeForTerminal(`ding${BEL}\u0000\u007f`)).toBe('ding^G^@^?');
    expect(sanitizeForTerminal('next\u0085line')).toBe('next<U+0085>line');
    expect(sanitizeForTerminal('file\u202Etxt.exe')).toBe('file<U+202E>txt.exe');
    expect(sanitizeForTerminal(`lone${ESC}`)).toBe('lone');
  });

  it('with colors: true keeps plain SGR, still removes everything else', () => {
    const red = `${ESC}[31mred${ESC}[0m`;
    expect(sanitizeForTerminal(`${red}${ESC}[2J${ESC}]0;t${BEL}`, { colors: true })).toBe(red);
    // A CSI that is not SGR but ends in m with private parameters is not a colour.
    expect(sanitizeForTerminal(`${ESC}[?1000m`, { colors: true })).toBe('');
  });

  it('stays linear on hostile input', () => {
    const big = `${ESC}[`.repeat(200_000) + `${ESC}]`.repeat(200_000) + 'x'.repeat(400_000);
    const started = performance.now();
    sanitizeForTerminal(big);
    // Loose bound for a loaded shared machine; a quadratic walk over 1.2 M characters takes minutes.
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
