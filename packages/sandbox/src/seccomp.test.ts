import { InvalidArgumentError } from '@buckley/utils';
import { describe, expect, it } from 'vitest';
import { REFUSED_SYSCALLS, compileSeccompFilter } from './seccomp.js';

/** Decodes `struct sock_filter` entries. */
function decode(bytes: Buffer): Array<{ code: number; jt: number; jf: number; k: number }> {
  const out = [];
  for (let at = 0; at < bytes.length; at += 8)
    out.push({ code: bytes.readUInt16LE(at), jt: bytes[at + 2]!, jf: bytes[at + 3]!, k: bytes.readUInt32LE(at + 4) });
  return out;
}

describe('compileSeccompFilter', () => {
  it('checks the architecture first and ends every path in a return', () => {
    const program = decode(compileSeccompFilter());
    expect(program[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 });
    expect(program[1]).toMatchObject({ code: 0x15, k: 0xc000003e });
    expect(program.at(-1)).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0x00050001 });
    // Every jump lands inside the program.
    const landings = program.flatMap((i, pc) => ((i.code & 0x07) === 0x05 ? [pc + 1 + Math.max(i.jt, i.jf)] : []));
    expect(landings.length).toBeGreaterThan(30);
    expect(landings.filter((target) => target >= program.length)).toEqual([]);
  });

  it('refuses each listed number on its architecture and nothing unlisted', () => {
    const program = decode(compileSeccompFilter());
    const compared = new Set(program.filter((i) => i.code === 0x15).map((i) => i.k));
    const missing = REFUSED_SYSCALLS.flatMap((s) => [s.x86_64, s.aarch64].filter((n) => n !== undefined && !compared.has(n)).map((n) => `${s.name} ${n}`));
    expect(missing).toEqual([]);
    const listed = new Set(REFUSED_SYSCALLS.flatMap((s) => [s.x86_64, s.aarch64]).filter((n) => n !== undefined));
    expect([...compared].filter((k) => !listed.has(k) && k < 0x1000)).toEqual([]);
  });

  it('takes another errno, within the range the kernel accepts', () => {
    expect(decode(compileSeccompFilter({ errno: 38 })).at(-1)?.k).toBe(0x00050026);
    expect(() => compileSeccompFilter({ errno: 0 })).toThrow(InvalidArgumentError);
    expect(() => compileSeccompFilter({ errno: 5000 })).toThrow('errno must be an integer from 1 to 4095, got 5000');
  });
});
