import { describe, expect, it } from 'vitest';
import { parseShell } from './shell-parse.js';

const argv = (src: string): string[][] => parseShell(src).commands.map((c) => c.argv.map((w) => w.text));
const assigned = (src: string): [string, string][] => parseShell(src).assignments.map((a) => [a.kind, a.name]);

describe('parseShell', () => {
  it('returns commands, functions, issues and assignments, with offsets in the source', () => {
    const parsed = parseShell('A=1 ls -l "$HOME"; f() { echo hi; }');
    expect(parsed.commands.map((c) => [c.program?.text, c.start, c.end])).toEqual([
      ['ls', 0, 17],
      ['echo', 25, 32],
    ]);
    expect(parsed.functions).toEqual([{ name: 'f', start: 19 }]);
    expect(parsed.issues).toEqual([]);
    expect(parsed.assignments).toEqual([{ name: 'A', kind: 'prefix', offset: 0 }]);
    const [ls] = parsed.commands;
    expect(ls!.argv.map((w) => [w.start, w.end, w.quoted])).toEqual([
      [4, 6, false],
      [7, 9, false],
      [10, 17, true],
    ]);
  });

  it('offsets every position by base, and pipelines from firstPipeline', () => {
    const parsed = parseShell('a | b', 100, 7);
    expect(parsed.commands.map((c) => [c.start, c.pipeline, c.pipeIndex])).toEqual([
      [100, 7, 0],
      [104, 7, 1],
    ]);
    expect(parsed.nextPipeline).toBe(8);
  });

  it.each([
    ['line continuation inside and between words', 'ec\\\nho a\\\n b', [['echo', 'a', 'b']]],
    ['an escaped newline in double quotes', '"a\\\nb" c', [['ab', 'c']]],
    ['a backslash before an ordinary character in double quotes stays', '"a\\b\\$c"', [['a\\b$c']]],
    ['adjacent quoted parts make one word', `a'b'"c"$'d'e`, [['abcde']]],
    ['ANSI-C escapes', `$'\\x41\\101\\u00e9\\'\\\\'`, [["AAé'\\"]]],
    ['an empty quoted word', `x '' ""`, [['x', '', '']]],
    ['a comment only at a word start', 'a#b #c\nd', [['a#b'], ['d']]],
    ['an operator glued to words', 'a;b&&c||d|e&f', [['a'], ['b'], ['c'], ['d'], ['e'], ['f']]],
    ['a redirection glued to a word', 'a>b 2>&1 c<d', [['a', 'c']]],
    ['reserved words only at a command start', 'echo if then fi; if x; then y; fi', [['echo', 'if', 'then', 'fi'], ['x'], ['y']]],
    ['a here-document body is not parsed, several on one line', 'cat <<A <<-B\nrm -rf /\nA\n\tcurl x | sh\n\tB\necho ok', [['cat'], ['echo', 'ok']]],
    ['a quoted here-document delimiter', "cat <<'E O'\n$(rm x)\nE O\nls", [['cat'], ['ls']]],
    ['a here-string', 'cat <<< "a b"', [['cat']]],
    ['extglob patterns stay in the word', 'ls @(a|b) !(c)', [['ls', '@(a|b)', '!(c)']]],
  ])('%s', (_name, src, expected) => {
    expect(argv(src)).toEqual(expected);
  });

  it('marks each kind of expansion with its source text', () => {
    const c = parseShell('x $a ${b:-c} $(d) `e` $((1+2)) <(f) ~/g *.h "$@"').commands.find((x) => x.program?.text === 'x');
    expect(c!.argv.slice(1).map((w) => w.expansions.map((e) => [e.kind, e.raw, e.name ?? null]))).toEqual([
      [['parameter', '$a', 'a']],
      [['parameter', '${b:-c}', 'b']],
      [['command', '$(d)', null]],
      [['command', '`e`', null]],
      [['arithmetic', '$((1+2))', null]],
      [['process', '<(f)', null]],
      [['tilde', '~', null]],
      [['glob', '*', null]],
      [['parameter', '$@', '@']],
    ]);
  });

  it('sees every assignment, wherever the syntax hides it', () => {
    expect(assigned('A=1 B+=2 cmd; C=3')).toEqual([
      ['prefix', 'A'],
      ['prefix', 'B'],
      ['shell', 'C'],
    ]);
    expect(assigned('for PATH in a b; do x; done; select S in a; do y; done')).toEqual([
      ['loop', 'PATH'],
      ['loop', 'S'],
    ]);
    expect(assigned(': ${IFS:=x} ${LD_PRELOAD=y} ${KEEP:-z} ${ALT:+w}')).toEqual([
      ['default', 'IFS'],
      ['default', 'LD_PRELOAD'],
    ]);
    expect(assigned('echo $((X=1, Y+=2, Z==3, W<=4)); ((N++)); ((--M)); for ((i=0; i<3; i++)); do :; done')).toEqual([
      ['arithmetic', 'X'],
      ['arithmetic', 'Y'],
      ['arithmetic', 'N'],
      ['arithmetic', 'M'],
      ['arithmetic', 'i'],
      ['arithmetic', 'i'],
    ]);
    expect(assigned('echo "$(PATH=x y)" `BASH_ENV=z w`')).toEqual([
      ['prefix', 'PATH'],
      ['prefix', 'BASH_ENV'],
    ]);
    // Quoted or escaped, it is a word, not an assignment; text that only looks like a loop is not one.
    expect(assigned(`'A=1' cmd; \\B=2 cmd; echo "for PATH in x"; echo for PATH in x`)).toEqual([]);
  });

  it('reports problems of the input as issues, never throwing', () => {
    for (const [src, message] of [
      ['echo "x', 'unterminated double quote'],
      ["echo 'x", 'unterminated single quote'],
      ["echo $'x", "unterminated $' quote"],
      ['echo `x', 'unterminated backtick'],
      ['echo ${x', 'unterminated "${"'],
      ['(a', 'missing ")"'],
      ['a )', 'unbalanced ")"'],
      ['cat <<EOF\nx', 'here-document "EOF" is not terminated'],
      ['a >', 'redirection ">" has no target'],
      ['[[ a', 'missing "]]"'],
    ] as const) {
      expect({ src, messages: parseShell(src).issues.map((i) => i.message) }).toEqual({ src, messages: [message] });
    }
    expect(parseShell('$('.repeat(100) + ')'.repeat(100)).issues.map((i) => i.message)).toContain('nesting deeper than 64 levels');
  });
});
