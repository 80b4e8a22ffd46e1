/**
 * A shell lexer and lenient parser for the bash subset agents actually send: quotes and
 * escapes, `$VAR` / `${VAR}`, `$(...)`, backticks, `$((...))`, process substitution, lists
 * (`;` `&&` `||` `&` newline), pipelines (`|` `|&`), redirections, subshells, groups, function
 * definitions and the reserved words of compound commands. It never throws and never
 * evaluates anything: expansions stay as their source text and are marked unresolved.
 *
 * Linear in the input: every character is consumed once (substitutions are parsed in place,
 * backtick bodies once more after unescaping), and nesting is capped.
 */

/** One expansion inside a word: left as written, since nothing is evaluated. */
export interface Expansion {
  readonly kind: 'parameter' | 'command' | 'arithmetic' | 'process' | 'tilde' | 'glob';
  /** The source text, e.g. `$HOME`, `$(curl x)`, `*`. */
  readonly raw: string;
  /** For `parameter`: the variable name (`HOME`, `1`, `@`). */
  readonly name?: string;
  /** For `command` and `process`: indexes into the analysis' `commands` of the commands inside. */
  readonly commands?: readonly number[];
}

/** A shell word after quote removal. */
export interface Word {
  /** The value after quote removal; expansions appear as their source text. */
  readonly text: string;
  /** Offset of the word's first character in the analysed string (0-based). */
  readonly start: number;
  readonly end: number;
  /** True when any part of the word was quoted. */
  readonly quoted: boolean;
  /** Expansions the shell would perform; empty means `text` is exactly what runs. */
  readonly expansions: readonly Expansion[];
}

/** A redirection such as `2>&1`, `> out.txt`, `<<EOF`. */
export interface Redirection {
  /** The operator: `<` `>` `>>` `>|` `<>` `<<` `<<-` `<<<` `>&` `<&` `&>` `&>>`. */
  readonly op: string;
  /** The explicit file descriptor before the operator, if any. */
  readonly fd?: number;
  readonly target: Word;
}

/** Where a simple command sits. */
export type CommandContext = 'top' | 'subshell' | 'command_substitution' | 'process_substitution' | 'shell_c';

/** One simple command: assignments, words and redirections, as bash would run it. */
export interface SimpleCommand {
  /** `argv[0]`, the program as written (e.g. `/bin/rm`, `sudo`); undefined for a bare assignment or redirection. */
  readonly program?: Word;
  /** All words including the program. */
  readonly argv: readonly Word[];
  readonly assignments: readonly { readonly name: string; readonly value: Word }[];
  readonly redirections: readonly Redirection[];
  /** Pipeline id: commands joined by `|` share it. */
  readonly pipeline: number;
  /** Position within its pipeline (0 = first). */
  readonly pipeIndex: number;
  /** Ends with `&`. */
  readonly background: boolean;
  readonly context: CommandContext;
  /** Nesting depth of substitutions and subshells (0 at the top). */
  readonly depth: number;
  /** The function whose body this command is in, if any. */
  readonly inFunction?: string;
  readonly start: number;
  readonly end: number;
}

/**
 * A variable the command sets, wherever the syntax puts it: `NAME=v cmd` (`prefix`, for that
 * command), `NAME=v` alone (`shell`), a `for` / `select` loop variable, `${NAME:=v}` /
 * `${NAME=v}` (`default`), an arithmetic assignment in `$((...))` / `((...))` (`arithmetic`),
 * or a builtin that assigns its operands (`export`, `declare`, `typeset`, `local`,
 * `readonly`, `read`, `mapfile`, `readarray`, `printf -v`, `getopts`, `let`: `builtin`).
 */
export interface VariableAssignment {
  readonly name: string;
  readonly kind: 'prefix' | 'shell' | 'loop' | 'default' | 'arithmetic' | 'builtin';
  /** Offset of the assignment (or of the word naming the variable) in the analysed string. */
  readonly offset: number;
}

/** A problem of the input itself (an unterminated quote, nesting too deep). */
interface ParseIssue {
  readonly message: string;
  readonly offset: number;
}

/** Result of {@link parseShell}. */
export interface ShellParse {
  readonly commands: SimpleCommand[];
  readonly functions: { readonly name: string; readonly start: number }[];
  readonly issues: ParseIssue[];
  /** Every variable assignment the parser sees, in source order of discovery. */
  readonly assignments: VariableAssignment[];
  /** One more than the highest pipeline id used. */
  readonly nextPipeline: number;
}

const maxNesting = 64;
const reservedPrefix = new Set(['!', 'then', 'do', 'else', 'if', 'elif', 'while', 'until', 'time', 'fi', 'done', 'esac', 'in']);

interface Builder {
  argv: Word[];
  assignments: { name: string; value: Word }[];
  redirections: Redirection[];
  start: number;
}

interface MutableWord {
  text: string;
  start: number;
  end: number;
  quoted: boolean;
  expansions: Expansion[];
}

class Parser {
  pos = 0;
  pipelineCounter = 0;
  readonly commands: SimpleCommand[] = [];
  readonly functions: { name: string; start: number }[] = [];
  readonly issues: ParseIssue[] = [];
  readonly assignments: VariableAssignment[] = [];
  /** Open `{` groups; each remembers the function it is the body of, if any. */
  readonly braces: (string | undefined)[] = [];
  pendingFunction: string | undefined;

  constructor(
    readonly src: string,
    readonly base: number,
  ) {}

  assign(name: string, kind: VariableAssignment['kind'], offset: number): void {
    if (this.assignments.length < 4096) this.assignments.push({ name, kind, offset: offset + this.base });
  }

  /** Assignments inside arithmetic text (`i=0`, `x+=2`, `n++`, `--n`); comparisons (`==`, `<=`) are not. */
  arithmetic(text: string, offset: number): void {
    for (const m of text.matchAll(
      /([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]{0,256}\])?[ \t]{0,64}(?:(?:[-+*/%&|^]|<<|>>|\*\*)?=(?!=)|\+\+|--)|(?:\+\+|--)[ \t]{0,64}([A-Za-z_][A-Za-z0-9_]*)/g,
    )) {
      this.assign((m[1] ?? m[2])!, 'arithmetic', offset + m.index);
    }
  }

  issue(message: string, offset: number): void {
    if (this.issues.length < 32) this.issues.push({ message, offset: offset + this.base });
  }

  currentFunction(): string | undefined {
    return this.braces.at(-1);
  }

  skipBlanks(): void {
    const s = this.src;
    for (;;) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === '\r') this.pos++;
      else if (c === '\\' && s[this.pos + 1] === '\n') this.pos += 2;
      else return;
    }
  }

  /**
   * Parses a list until the end of input or, when `stop` is `)`, the matching close paren
   * (consumed). Commands land in `this.commands`; returns the indexes added.
   */
  parseList(stop: ')' | undefined, context: CommandContext, depth: number): number[] {
    const s = this.src;
    const added: number[] = [];
    let pipeline = this.pipelineCounter++;
    let pipeIndex = 0;
    let cmd: Builder | undefined;
    let caseDepth = 0;
    let casePatterns = false;

    const finish = (background: boolean, end: number): void => {
      if (cmd && (cmd.argv.length > 0 || cmd.assignments.length > 0 || cmd.redirections.length > 0)) {
        for (const a of cmd.assignments) this.assign(a.name, cmd.argv.length > 0 ? 'prefix' : 'shell', a.value.start - this.base);
        const inFunction = this.currentFunction();
        this.commands.push({
          ...(cmd.argv[0] ? { program: cmd.argv[0] } : {}),
          argv: cmd.argv,
          assignments: cmd.assignments,
          redirections: cmd.redirections,
          pipeline,
          pipeIndex,
          background,
          context,
          depth,
          ...(inFunction !== undefined ? { inFunction } : {}),
          start: cmd.start + this.base,
          end: end + this.base,
        });
        added.push(this.commands.length - 1);
      }
      cmd = undefined;
    };
    const newPipeline = (): void => {
      pipeline = this.pipelineCounter++;
      pipeIndex = 0;
    };

    while (this.pos < s.length) {
      this.skipBlanks();
      if (this.pos >= s.length) break;
      const c = s[this.pos]!;
      const atCommandStart = cmd === undefined || (cmd.argv.length === 0 && cmd.assignments.length === 0 && cmd.redirections.length === 0);

      if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
        continue;
      }
      if (c === ')' && stop === ')') {
        finish(false, this.pos);
        this.pos++;
        return added;
      }
      if (c === ')' && casePatterns) {
        this.pos++;
        casePatterns = false;
        continue;
      }
      if (c === '\n' || c === ';') {
        finish(false, this.pos);
        newPipeline();
        if (c === ';' && s[this.pos + 1] === ';') {
          this.pos += s[this.pos + 2] === '&' ? 3 : 2;
          if (caseDepth > 0) casePatterns = true;
        } else if (c === ';' && s[this.pos + 1] === '&') {
          this.pos += 2;
          if (caseDepth > 0) casePatterns = true;
        } else this.pos++;
        if (c === '\n') this.skipHeredocBodies();
        continue;
      }
      if (c === '&' && s[this.pos + 1] === '&') {
        finish(false, this.pos);
        newPipeline();
        this.pos += 2;
        continue;
      }
      if (c === '|' && s[this.pos + 1] === '|') {
        finish(false, this.pos);
        newPipeline();
        this.pos += 2;
        continue;
      }
      if (c === '|') {
        finish(false, this.pos);
        pipeIndex++;
        this.pos += s[this.pos + 1] === '&' ? 2 : 1;
        continue;
      }
      if (c === '&' && s[this.pos + 1] !== '>') {
        finish(true, this.pos);
        newPipeline();
        this.pos++;
        continue;
      }
      if (c === '(') {
        if (cmd && cmd.argv.length === 1 && cmd.assignments.length === 0) {
          // `name()` starts a function definition; its body is the next compound command.
          const save = this.pos;
          this.pos++;
          this.skipBlanks();
          if (s[this.pos] === ')') {
            this.pos++;
            const name = cmd.argv[0]!.text;
            this.functions.push({ name, start: cmd.start + this.base });
            this.pendingFunction = name;
            cmd = undefined;
            continue;
          }
          this.pos = save;
        }
        if (s[this.pos + 1] === '(' && atCommandStart) {
          // `(( arithmetic ))` command: nothing to run inside, skip it balanced.
          const from = this.pos + 2;
          this.skipBalanced(from, 2);
          this.arithmetic(s.slice(from, this.pos), from);
          continue;
        }
        finish(false, this.pos);
        this.pos++;
        if (depth + 1 > maxNesting) {
          this.issue(`nesting deeper than ${maxNesting} levels`, this.pos);
          this.skipBalanced(this.pos, 1);
          continue;
        }
        this.parseList(')', 'subshell', depth + 1);
        continue;
      }
      if (c === ')') {
        this.issue('unbalanced ")"', this.pos);
        this.pos++;
        continue;
      }
      if ((c === '<' || c === '>') && s[this.pos + 1] === '(') {
        cmd ??= this.builder();
        this.pushWord(cmd, this.parseWord(depth), caseDepth > 0 && casePatterns);
        continue;
      }
      const redirection = this.tryRedirection(depth);
      if (redirection) {
        cmd ??= this.builder();
        cmd.redirections.push(redirection);
        continue;
      }
      // A word.
      const word = this.parseWord(depth);
      if (word.end === word.start) {
        // Defensive: an unexpected character that forms no word; skip it.
        this.pos++;
        continue;
      }
      if (casePatterns) continue;
      if (atCommandStart && !word.quoted && (word.expansions.length === 0 || word.text === '[[')) {
        const t = word.text;
        if (t === '{') {
          // Each entry is the innermost enclosing function, so lookups are O(1) at any depth.
          this.braces.push(this.pendingFunction ?? this.braces.at(-1));
          this.pendingFunction = undefined;
          continue;
        }
        if (t === '}') {
          this.braces.pop();
          continue;
        }
        if (t === 'case') {
          this.skipBlanks();
          this.parseWord(depth);
          this.skipBlanks();
          if (s.startsWith('in', this.pos)) this.pos += 2;
          caseDepth++;
          casePatterns = true;
          continue;
        }
        if (t === 'esac') {
          caseDepth = Math.max(0, caseDepth - 1);
          casePatterns = false;
          continue;
        }
        if (t === 'for' || t === 'select') {
          // `for NAME [in WORDS]` up to `;`, newline or `do`: the words may hold substitutions,
          // which parseWord records; the loop header itself runs nothing but sets NAME.
          let first = true;
          for (;;) {
            this.skipBlanks();
            const n = s[this.pos];
            if (n === undefined || n === ';' || n === '\n' || n === '&' || n === '|' || n === ')') break;
            if (n === '(' && s[this.pos + 1] === '(') {
              const from = this.pos + 2;
              this.skipBalanced(from, 2);
              this.arithmetic(s.slice(from, this.pos), from);
              first = false;
              continue;
            }
            const w = this.parseWord(depth);
            if (w.end === w.start) {
              this.pos++;
              continue;
            }
            if (first && /^[A-Za-z_][A-Za-z0-9_]*$/.test(w.text)) this.assign(w.text, 'loop', w.start - this.base);
            first = false;
            if (w.text === 'do') break;
          }
          continue;
        }
        if (t === 'function') {
          this.skipBlanks();
          const name = this.parseWord(depth);
          this.skipBlanks();
          if (s[this.pos] === '(') {
            const save = this.pos;
            this.pos++;
            this.skipBlanks();
            if (s[this.pos] === ')') this.pos++;
            else this.pos = save;
          }
          this.functions.push({ name: name.text, start: word.start + this.base });
          this.pendingFunction = name.text;
          continue;
        }
        if (reservedPrefix.has(t)) continue;
        if (t === '[[' || (word.text === '[[' && !word.quoted)) {
          cmd = this.builder(word.start - this.base);
          cmd.argv.push(word);
          this.readTestExpression(cmd, depth);
          continue;
        }
      }
      if (atCommandStart || (cmd && cmd.argv.length === 0)) {
        // Assignments are recognised on the raw source, so only an unquoted literal `NAME=` counts.
        const assignment = /^([A-Za-z_][A-Za-z0-9_]*)\+?=/.exec(s.slice(word.start - this.base, word.start - this.base + 260));
        if (assignment) {
          cmd ??= this.builder(word.start - this.base);
          const prefix = word.text.indexOf('=') + 1;
          cmd.assignments.push({ name: assignment[1]!, value: { ...word, text: word.text.slice(prefix) } });
          continue;
        }
      }
      cmd ??= this.builder(word.start - this.base);
      cmd.argv.push(word);
    }
    if (stop === ')') this.issue('missing ")"', this.pos);
    finish(false, this.pos);
    return added;
  }

  builder(start = this.pos): Builder {
    return { argv: [], assignments: [], redirections: [], start };
  }

  pushWord(cmd: Builder, word: Word, skip: boolean): void {
    if (!skip) cmd.argv.push(word);
  }

  /** Inside `[[ ... ]]`, `<`, `>`, `&&`, `||`, `(` are operators of the test, not the shell. */
  readTestExpression(cmd: Builder, depth: number): void {
    const s = this.src;
    for (;;) {
      this.skipBlanks();
      if (this.pos >= s.length) {
        this.issue('missing "]]"', this.pos);
        return;
      }
      if (s.startsWith(']]', this.pos)) {
        cmd.argv.push(this.plainWord(']]', this.pos));
        this.pos += 2;
        return;
      }
      const c = s[this.pos]!;
      if (c === '\n' || c === ';') return;
      if ('<>&|()!'.includes(c)) {
        const len = (c === '&' || c === '|') && s[this.pos + 1] === c ? 2 : 1;
        cmd.argv.push(this.plainWord(s.slice(this.pos, this.pos + len), this.pos));
        this.pos += len;
        continue;
      }
      const w = this.parseWord(depth);
      if (w.end === w.start) this.pos++;
      else cmd.argv.push(w);
    }
  }

  plainWord(text: string, start: number): Word {
    return { text, start: start + this.base, end: start + text.length + this.base, quoted: false, expansions: [] };
  }

  /** Skips to after `count` closing parens that balance the ones already open. */
  skipBalanced(from: number, open: number): void {
    const s = this.src;
    let depth = open;
    let i = from;
    while (i < s.length && depth > 0) {
      const c = s[i]!;
      if (c === '\\') i++;
      else if (c === "'") {
        const close = s.indexOf("'", i + 1);
        i = close < 0 ? s.length : close;
      } else if (c === '(') depth++;
      else if (c === ')') depth--;
      i++;
    }
    if (depth > 0) this.issue('missing ")"', s.length);
    this.pos = i;
  }

  tryRedirection(depth: number): Redirection | undefined {
    const s = this.src;
    const m = /^(\d{1,9})?(&>>|&>|>>|>\||>&|<<<|<<-|<<|<>|<&|>|<)/.exec(s.slice(this.pos, this.pos + 16));
    if (!m) return undefined;
    const start = this.pos;
    this.pos += m[0].length;
    this.skipBlanks();
    const op = m[2]!;
    const target = this.parseWord(depth);
    if (op === '<<' || op === '<<-') this.heredocs.push({ delimiter: target.text, stripTabs: op === '<<-', offset: start });
    if (target.end === target.start) this.issue(`redirection ${JSON.stringify(op)} has no target`, start);
    return { op, ...(m[1] !== undefined ? { fd: Number(m[1]) } : {}), target };
  }

  /** Here-documents whose bodies start at the next newline. */
  readonly heredocs: { delimiter: string; stripTabs: boolean; offset: number }[] = [];

  /** Skips the bodies of pending here-documents; `this.pos` is just after a newline. */
  skipHeredocBodies(): void {
    const s = this.src;
    while (this.heredocs.length > 0) {
      const { delimiter, stripTabs, offset } = this.heredocs.shift()!;
      let found = false;
      while (this.pos < s.length) {
        let end = s.indexOf('\n', this.pos);
        if (end < 0) end = s.length;
        let line = s.slice(this.pos, end);
        if (stripTabs) line = line.replace(/^\t+/, '');
        this.pos = Math.min(end + 1, s.length);
        if (line === delimiter) {
          found = true;
          break;
        }
      }
      if (!found) this.issue(`here-document ${JSON.stringify(delimiter)} is not terminated`, offset);
    }
  }

  /** Parses one word starting at `this.pos`. */
  parseWord(depth: number): Word {
    const s = this.src;
    const start = this.pos;
    const w: MutableWord = { text: '', start: start + this.base, end: start, quoted: false, expansions: [] };
    if (s[this.pos] === '~') {
      let j = this.pos + 1;
      while (j < s.length && /[A-Za-z0-9_.-]/.test(s[j]!)) j++;
      if (j >= s.length || '/ \t\n;&|)<>'.includes(s[j]!)) {
        w.expansions.push({ kind: 'tilde', raw: s.slice(this.pos, j) });
      }
    }
    loop: while (this.pos < s.length) {
      const c = s[this.pos]!;
      switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case ';':
        case '&':
        case '|':
        case ')':
          break loop;
        case '(':
          if (this.pos > start && /[@?*+!]$/.test(w.text)) {
            // extglob `@(a|b)`: part of the word
            const close = s.indexOf(')', this.pos);
            const end = close < 0 ? s.length : close + 1;
            w.text += s.slice(this.pos, end);
            this.pos = end;
            continue;
          }
          break loop;
        case '<':
        case '>':
          if (s[this.pos + 1] === '(' && this.pos === start) {
            this.processSubstitution(w, depth);
            continue;
          }
          break loop;
        case '\\':
          if (s[this.pos + 1] === '\n') this.pos += 2;
          else {
            w.quoted = true;
            w.text += s[this.pos + 1] ?? '';
            this.pos += 2;
          }
          continue;
        case "'": {
          w.quoted = true;
          const close = s.indexOf("'", this.pos + 1);
          if (close < 0) {
            this.issue('unterminated single quote', this.pos);
            w.text += s.slice(this.pos + 1);
            this.pos = s.length;
          } else {
            w.text += s.slice(this.pos + 1, close);
            this.pos = close + 1;
          }
          continue;
        }
        case '"':
          w.quoted = true;
          this.pos++;
          this.doubleQuoted(w, depth);
          continue;
        case '`':
          this.backtick(w, depth);
          continue;
        case '$':
          this.dollar(w, depth, false);
          continue;
        case '*':
        case '?':
        case '[':
          w.expansions.push({ kind: 'glob', raw: c });
          w.text += c;
          this.pos++;
          continue;
        default:
          w.text += c;
          this.pos++;
      }
    }
    w.end = this.pos + this.base;
    return w;
  }

  doubleQuoted(w: MutableWord, depth: number): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '"') {
        this.pos++;
        return;
      }
      if (c === '\\') {
        const n = s[this.pos + 1];
        if (n === '\n') this.pos += 2;
        else if (n === '$' || n === '`' || n === '"' || n === '\\') {
          w.text += n;
          this.pos += 2;
        } else {
          w.text += '\\';
          this.pos++;
        }
        continue;
      }
      if (c === '$') {
        this.dollar(w, depth, true);
        continue;
      }
      if (c === '`') {
        this.backtick(w, depth);
        continue;
      }
      w.text += c;
      this.pos++;
    }
    this.issue('unterminated double quote', this.pos);
  }

  dollar(w: MutableWord, depth: number, inDouble: boolean): void {
    const s = this.src;
    const start = this.pos;
    const n = s[this.pos + 1];
    if (n === '(' && s[this.pos + 2] === '(') {
      this.skipBalanced(this.pos + 3, 2);
      this.arithmetic(s.slice(start + 3, this.pos), start + 3);
      const raw = s.slice(start, this.pos);
      w.expansions.push({ kind: 'arithmetic', raw });
      w.text += raw;
      return;
    }
    if (n === '(') {
      this.pos += 2;
      let commands: number[] = [];
      if (depth + 1 > maxNesting) {
        this.issue(`nesting deeper than ${maxNesting} levels`, this.pos);
        this.skipBalanced(this.pos, 1);
      } else commands = this.parseList(')', 'command_substitution', depth + 1);
      const raw = s.slice(start, this.pos);
      w.expansions.push({ kind: 'command', raw, commands });
      w.text += raw;
      return;
    }
    if (n === '{') {
      let i = this.pos + 2;
      let braces = 1;
      while (i < s.length && braces > 0) {
        const c = s[i]!;
        if (c === '\\') i++;
        else if (c === '{') braces++;
        else if (c === '}') braces--;
        i++;
      }
      if (braces > 0) this.issue('unterminated "${"', start);
      const raw = s.slice(start, i);
      const name = /^\$\{[#!]?([A-Za-z_][A-Za-z0-9_]*|\d+|[@*#?$!-])/.exec(raw)?.[1];
      const defaulted = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?=/.exec(raw);
      if (defaulted) this.assign(defaulted[1]!, 'default', start);
      w.expansions.push({ kind: 'parameter', raw, ...(name !== undefined ? { name } : {}) });
      w.text += raw;
      this.pos = i;
      return;
    }
    if (n === "'" && !inDouble) {
      w.quoted = true;
      this.pos += 2;
      w.text += this.ansiC();
      return;
    }
    if (n === '"' && !inDouble) {
      // $"..." (locale translation) behaves like "..."
      w.quoted = true;
      this.pos += 2;
      this.doubleQuoted(w, depth);
      return;
    }
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*|\d|[@*#?$!-])/.exec(s.slice(this.pos, this.pos + 256));
    if (m) {
      w.expansions.push({ kind: 'parameter', raw: m[0], name: m[1]! });
      w.text += m[0];
      this.pos += m[0].length;
      return;
    }
    w.text += '$';
    this.pos++;
  }

  /** Decodes an ANSI-C `$'...'` string body; `this.pos` is after the opening quote. */
  ansiC(): string {
    const s = this.src;
    let out = '';
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === "'") {
        this.pos++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const e = s[this.pos + 1] ?? '';
      this.pos += 2;
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        e: '\x1b',
        E: '\x1b',
        f: '\f',
        v: '\v',
        '\\': '\\',
        "'": "'",
        '"': '"',
        '?': '?',
      };
      if (e in simple) out += simple[e];
      else if (e === 'x') {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(this.pos, this.pos + 2));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 16));
          this.pos += m[0].length;
        } else out += '\\x';
      } else if (e === 'u' || e === 'U') {
        const m = (e === 'u' ? /^[0-9a-fA-F]{1,4}/ : /^[0-9a-fA-F]{1,8}/).exec(s.slice(this.pos, this.pos + 8));
        const cp = m ? parseInt(m[0], 16) : NaN;
        if (m && cp <= 0x10ffff) {
          out += String.fromCodePoint(cp);
          this.pos += m[0].length;
        } else out += `\\${e}`;
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{0,2}/.exec(s.slice(this.pos, this.pos + 2))!;
        out += String.fromCharCode(parseInt(e + m[0], 8) & 0xff);
        this.pos += m[0].length;
      } else out += `\\${e}`;
    }
    this.issue("unterminated $' quote", this.pos);
    return out;
  }

  backtick(w: MutableWord, depth: number): void {
    const s = this.src;
    const start = this.pos;
    let i = this.pos + 1;
    let body = '';
    while (i < s.length && s[i] !== '`') {
      if (s[i] === '\\' && (s[i + 1] === '`' || s[i + 1] === '\\' || s[i + 1] === '$')) {
        body += s[i + 1];
        i += 2;
      } else body += s[i++];
    }
    if (i >= s.length) this.issue('unterminated backtick', start);
    this.pos = Math.min(i + 1, s.length);
    let commands: number[] = [];
    if (depth + 1 > maxNesting) this.issue(`nesting deeper than ${maxNesting} levels`, start);
    else {
      const inner = new Parser(body, this.base + start + 1);
      inner.pipelineCounter = this.pipelineCounter;
      inner.parseList(undefined, 'command_substitution', depth + 1);
      this.pipelineCounter = inner.pipelineCounter;
      for (const issue of inner.issues) if (this.issues.length < 32) this.issues.push(issue);
      for (const a of inner.assignments) if (this.assignments.length < 4096) this.assignments.push(a);
      this.functions.push(...inner.functions);
      const offset = this.commands.length;
      for (const command of inner.commands) this.commands.push(remapCommands(command, offset));
      commands = inner.commands.map((_, k) => offset + k);
    }
    const raw = s.slice(start, this.pos);
    w.expansions.push({ kind: 'command', raw, commands });
    w.text += raw;
  }

  processSubstitution(w: MutableWord, depth: number): void {
    const start = this.pos;
    this.pos += 2;
    let commands: number[] = [];
    if (depth + 1 > maxNesting) {
      this.issue(`nesting deeper than ${maxNesting} levels`, this.pos);
      this.skipBalanced(this.pos, 1);
    } else commands = this.parseList(')', 'process_substitution', depth + 1);
    const raw = this.src.slice(start, this.pos);
    w.expansions.push({ kind: 'process', raw, commands });
    w.text += raw;
  }
}

/** Shifts the command indexes inside a nested parse's expansions by `offset`. */
export function remapCommands(command: SimpleCommand, offset: number): SimpleCommand {
  if (offset === 0) return command;
  const word = (w: Word): Word =>
    w.expansions.some((e) => e.commands)
      ? { ...w, expansions: w.expansions.map((e) => (e.commands ? { ...e, commands: e.commands.map((i) => i + offset) } : e)) }
      : w;
  return {
    ...command,
    ...(command.program ? { program: word(command.program) } : {}),
    argv: command.argv.map(word),
    assignments: command.assignments.map((a) => ({ name: a.name, value: word(a.value) })),
    redirections: command.redirections.map((r) => ({ ...r, target: word(r.target) })),
  };
}

/**
 * Parses `source` into simple commands without evaluating anything. Never throws; problems of
 * the input are returned as `issues`.
 */
export function parseShell(source: string, base = 0, firstPipeline = 0): ShellParse {
  const parser = new Parser(source, base);
  parser.pipelineCounter = firstPipeline;
  parser.parseList(undefined, 'top', 0);
  return {
    commands: parser.commands,
    functions: parser.functions,
    issues: parser.issues,
    assignments: parser.assignments,
    nextPipeline: parser.pipelineCounter,
  };
}
