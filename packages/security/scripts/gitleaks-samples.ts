/**
 * Extracts gitleaks' own true- and false-positive samples from its rule generator
 * (cmd/generate/config: rules/*.go and utils/*.go), by evaluating the small subset of Go those
 * files use to build them: string literals and `+`, slice and map literals, `append`, `for ...
 * range`, `fmt.Sprintf`, base64, the package's own helper functions (interpreted from their
 * source), `utils.GenerateSampleSecrets` (its templates read from generate.go) and
 * `secrets.NewSecret` (random text matching a regex, generated here with a seeded randexp).
 * Whatever it cannot evaluate is reported, never silently dropped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import RandExp from 'randexp';

/** A sample as gitleaks validates it: text alone, or text scanned under a file path. */
export type Sample = string | { readonly path: string; readonly text: string };

export interface RuleSamples {
  readonly truePositives: Sample[];
  readonly falsePositives: Sample[];
}

type Tok = { t: 'id' | 'str' | 'num' | 'op' | ';'; v: string };

export function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const endsStatement = (): boolean => {
    const last = out.at(-1);
    if (!last) return false;
    if (last.t === 'id')
      return !['func', 'if', 'for', 'else', 'var', 'range', 'import', 'package'].includes(last.v) || ['return', 'break', 'continue'].includes(last.v);
    if (last.t === 'str' || last.t === 'num') return true;
    return last.t === 'op' && [')', ']', '}', '++', '--'].includes(last.v);
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      if (endsStatement()) out.push({ t: ';', v: ';' });
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (src.slice(i, end).includes('\n') && endsStatement()) out.push({ t: ';', v: ';' });
      i = end + 2;
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1);
      out.push({ t: 'str', v: src.slice(i + 1, end).replaceAll('\r', '') });
      i = end + 1;
    } else if (c === '"' || c === "'") {
      let v = '';
      i++;
      while (src[i] !== c) {
        if (src[i] === '\\') {
          const e = src[i + 1]!;
          i += 2;
          if (e === 'n') v += '\n';
          else if (e === 't') v += '\t';
          else if (e === 'r') v += '\r';
          else if (e === 'x') {
            v += String.fromCharCode(Number.parseInt(src.slice(i, i + 2), 16));
            i += 2;
          } else if (e === 'u') {
            v += String.fromCodePoint(Number.parseInt(src.slice(i, i + 4), 16));
            i += 4;
          } else if (e === 'U') {
            v += String.fromCodePoint(Number.parseInt(src.slice(i, i + 8), 16));
            i += 8;
          } else if (/[0-7]/.test(e)) {
            v += String.fromCharCode(Number.parseInt(src.slice(i - 1, i + 2), 8));
            i += 2;
          } else v += e;
        } else v += src[i++];
      }
      i++;
      out.push({ t: c === "'" ? 'num' : 'str', v: c === "'" ? String(v.codePointAt(0)) : v });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_0-9]+/.exec(src.slice(i, i + 200))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9a-fA-Fx._]+/.exec(src.slice(i, i + 50))!;
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else {
      const op = [':=', '...', '==', '!=', '&&', '||', '+=', '<=', '>=', '++', '--', '<-'].find((o) => src.startsWith(o, i)) ?? c;
      out.push({ t: 'op', v: op });
      i += op.length;
    }
  }
  if (endsStatement()) out.push({ t: ';', v: ';' });
  return out;
}

class Unsupported extends Error {}

/** A Go value: string, number, bool, null (nil), array (slice), Map, struct (lazy fields), function. */
type Value = unknown;

interface GoFunc {
  readonly params: string[];
  readonly body: Tok[];
}

interface Struct {
  readonly fields: Map<string, () => Value>;
}

interface Validation {
  readonly rule: Struct;
  readonly tps: Value;
  readonly fps: Value;
}

export class Interp {
  readonly funcs = new Map<string, GoFunc>();
  readonly natives = new Map<string, (...args: Value[]) => Value>();
  problems: string[] = [];

  /** Package-level variables of the rules package, evaluated in file order. */
  readonly globals = new Map<string, Value>();

  addFile(src: string, pkg: string): void {
    const toks = tokenize(src);
    for (let i = 0; i < toks.length; i++) {
      if (pkg === 'rules' && toks[i]!.t === 'id' && toks[i]!.v === 'var' && (i === 0 || toks[i - 1]!.t === ';')) {
        const end = statementEnd(toks, i);
        this.statement(toks.slice(i, end), this.globals);
        i = end;
        continue;
      }
      if (toks[i]!.v !== 'func' || toks[i]!.t !== 'id' || (i > 0 && toks[i - 1]!.t !== ';')) continue;
      const name = toks[i + 1]!.v;
      let j = i + 3;
      const params: string[] = [];
      let depth = 1;
      let expectName = true;
      while (depth > 0) {
        const t = toks[j]!;
        if (t.v === '(') depth++;
        else if (t.v === ')') depth--;
        else if (t.v === ',' && depth === 1) expectName = true;
        else if (t.t === 'id' && expectName && depth === 1) {
          params.push(t.v);
          expectName = false;
        }
        j++;
      }
      while (toks[j]!.v !== '{') j++;
      const end = matching(toks, j);
      this.funcs.set(pkg === 'rules' ? name : `${pkg}.${name}`, { params, body: toks.slice(j + 1, end) });
      i = end;
    }
  }

  call(name: string, args: Value[]): Value {
    const native = this.natives.get(name);
    if (native) return native(...args);
    const f = this.funcs.get(name);
    if (!f) throw new Unsupported(`function ${name}`);
    const env = new Map<string, Value>([...this.globals, ...f.params.map((p, k): [string, Value] => [p, args[k]])]);
    const result = this.block(f.body, env);
    return result?.value;
  }

  /** Runs statements; returns `{ value }` on `return`. */
  block(toks: Tok[], env: Map<string, Value>): { value: Value } | undefined {
    let i = 0;
    while (i < toks.length) {
      let end = statementEnd(toks, i);
      const stmt = toks.slice(i, end);
      if (stmt.length > 0 && stmt[0]!.v === 'for' && stmt[0]!.t === 'id') {
        // for k, v := range EXPR { body }
        const open = stmt.findIndex((t) => t.v === '{');
        const close = matching(stmt, open);
        if (close !== stmt.length - 1) {
          end = i + close + 1;
        }
        const head = stmt.slice(1, open);
        const r = head.findIndex((t) => t.v === 'range');
        if (r < 0) throw new Unsupported('for without range');
        const names = head
          .slice(0, r - 1)
          .filter((t) => t.t === 'id')
          .map((t) => t.v);
        const over = new Parser(head.slice(r + 1), this, env).expr();
        const body = stmt.slice(open + 1, close);
        const entries: [Value, Value][] =
          over instanceof Map
            ? [...over]
            : Array.isArray(over)
              ? over.map((v, k) => [k, v])
              : typeof over === 'string'
                ? [...over].map((ch, k) => [k, ch])
                : [];
        for (const [k, v] of entries) {
          const inner = new Map(env);
          if (names[0] && names[0] !== '_') inner.set(names[0], k);
          if (names[1] && names[1] !== '_') inner.set(names[1], v);
          const result = this.block(body, inner);
          for (const key of env.keys()) env.set(key, inner.get(key));
          if (result) return result;
        }
      } else if (stmt.length > 0) {
        const result = this.statement(stmt, env);
        if (result) return result;
      }
      i = end + 1;
    }
    return undefined;
  }

  statement(stmt: Tok[], env: Map<string, Value>): { value: Value } | undefined {
    const first = stmt[0]!;
    if (first.t === 'id' && first.v === 'return') return { value: stmt.length > 1 ? new Parser(stmt.slice(1), this, env).expr() : undefined };
    if (first.t === 'id' && (first.v === 'if' || first.v === 'switch' || first.v === 'defer' || first.v === 'go')) return undefined;
    if (first.t === 'id' && first.v === 'var' && stmt[1]?.v === '(') {
      const inner = stmt.slice(2, matching(stmt, 1));
      for (let k = 0; k < inner.length;) {
        const e = statementEnd(inner, k);
        if (e > k) this.statement([{ t: 'id', v: 'var' }, ...inner.slice(k, e)], env);
        k = e + 1;
      }
      return undefined;
    }
    if (first.t === 'id' && first.v === 'var') {
      const name = stmt[1]!.v;
      const eq = stmt.findIndex((t) => t.v === '=');
      env.set(name, eq < 0 ? null : this.tryEval(stmt.slice(eq + 1), env, name));
      return undefined;
    }
    const assign = stmt.findIndex((t) => t.v === ':=' || t.v === '=' || t.v === '+=');
    if (assign > 0) {
      const lhs = stmt.slice(0, assign);
      if (lhs.length !== 1 || lhs[0]!.t !== 'id') return undefined; // r.Allowlists = ..., a, b := ...
      const name = lhs[0]!.v;
      const value = this.tryEval(stmt.slice(assign + 1), env, name);
      env.set(name, stmt[assign]!.v === '+=' ? String(env.get(name)) + String(value) : value);
      return undefined;
    }
    return undefined;
  }

  tryEval(toks: Tok[], env: Map<string, Value>, name: string): Value {
    try {
      return new Parser(toks, this, env).expr();
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      if (name === 'tps' || name === 'fps') this.problems.push(`${name}: ${error.message}`);
      return new Poison(error.message);
    }
  }
}

class Poison {
  constructor(readonly reason: string) {}
}

function matching(toks: Tok[], open: number): number {
  let depth = 0;
  for (let j = open; j < toks.length; j++) {
    const v = toks[j]!;
    if (v.t !== 'op') continue;
    if (v.v === '{' || v.v === '(' || v.v === '[') depth++;
    else if (v.v === '}' || v.v === ')' || v.v === ']') {
      depth--;
      if (depth === 0) return j;
    }
  }
  throw new Error('unbalanced');
}

function statementEnd(toks: Tok[], from: number): number {
  let depth = 0;
  for (let j = from; j < toks.length; j++) {
    const v = toks[j]!;
    if (v.t === 'op' && (v.v === '{' || v.v === '(' || v.v === '[')) depth++;
    else if (v.t === 'op' && (v.v === '}' || v.v === ')' || v.v === ']')) depth--;
    else if (v.t === ';' && depth === 0) return j;
  }
  return toks.length;
}

class Parser {
  #i = 0;
  constructor(
    readonly toks: Tok[],
    readonly interp: Interp,
    readonly env: Map<string, Value>,
  ) {}

  #peek(): Tok | undefined {
    return this.toks[this.#i];
  }

  #take(v?: string): Tok {
    const t = this.toks[this.#i++];
    if (!t || (v !== undefined && t.v !== v)) throw new Unsupported(`expected ${v ?? 'token'}, got ${t?.v}`);
    return t;
  }

  expr(): Value {
    let left = this.#unary();
    for (;;) {
      const t = this.#peek();
      if (t?.t === 'op' && t.v === '+') {
        this.#take();
        const right = this.#unary();
        left = typeof left === 'number' && typeof right === 'number' ? left + right : str(left) + str(right);
      } else if (t?.t === 'op' && (t.v === '==' || t.v === '!=')) {
        this.#take();
        const right = this.#unary();
        left = t.v === '==' ? left === right : left !== right;
      } else return left;
    }
  }

  #unary(): Value {
    const t = this.#peek();
    if (t?.t === 'op' && t.v === '&') {
      this.#take();
      return this.#unary();
    }
    if (t?.t === 'op' && t.v === '!') {
      this.#take();
      return !this.#unary();
    }
    return this.#postfix(this.#primary());
  }

  /** A type expression's tokens (`[]string`, `map[string][]string`, `*config.Allowlist`), skipped. */
  #type(): string {
    let text = '';
    for (;;) {
      const t = this.#peek();
      if (!t) return text;
      if (t.v === '[') {
        this.#take();
        if (this.#peek()?.v !== ']') text += `[${this.#type()}`;
        this.#take(']');
        text += '[]';
      } else if (t.v === '*') {
        this.#take();
        text += '*';
      } else if (t.v === 'map') {
        this.#take();
        this.#take('[');
        const k = this.#type();
        this.#take(']');
        return `${text}map[${k}]${this.#type()}`;
      } else if (t.t === 'id') {
        this.#take();
        text += t.v;
        if (this.#peek()?.v === '.') {
          this.#take();
          text += `.${this.#take().v}`;
        }
        return text;
      } else return text;
    }
  }

  #composite(type: string): Value {
    this.#take('{');
    const isMap = type.includes('map[');
    const isSlice = type.startsWith('[]');
    const entries: [Value, Value][] = [];
    const fields = new Map<string, () => Value>();
    const list: Value[] = [];
    while (this.#peek()?.v !== '}') {
      if (this.#peek()?.t === ';') {
        this.#take();
        continue;
      }
      const start = this.#i;
      const end = this.#elementEnd();
      const colon = this.#topLevel(start, end, ':');
      if (!isSlice && !isMap && colon >= 0 && this.toks[start]!.t === 'id' && colon === start + 1) {
        // struct field, evaluated when read
        const toks = this.toks.slice(colon + 1, end);
        const env = this.env;
        const interp = this.interp;
        fields.set(this.toks[start]!.v, () => new Parser(toks, interp, env).expr());
      } else if (isMap && colon >= 0) {
        try {
          const key = new Parser(this.toks.slice(start, colon), this.interp, this.env).expr();
          const valueType = type.slice(type.indexOf(']') + 1);
          const value =
            this.toks[colon + 1]!.v === '{'
              ? new Parser(this.toks.slice(colon + 1, end), this.interp, this.env).#composite(valueType)
              : new Parser(this.toks.slice(colon + 1, end), this.interp, this.env).expr();
          entries.push([key, value]);
        } catch (error) {
          if (!(error instanceof Unsupported)) throw error;
          this.interp.problems.push(`map element: ${error.message}`);
        }
      } else {
        try {
          const toks = this.toks.slice(start, end);
          list.push(toks[0]!.v === '{' ? new Parser(toks, this.interp, this.env).#composite(type.slice(2)) : new Parser(toks, this.interp, this.env).expr());
        } catch (error) {
          if (!(error instanceof Unsupported)) throw error;
          this.interp.problems.push(`slice element: ${error.message}`);
        }
      }
      this.#i = end;
      if (this.#peek()?.v === ',') this.#take();
    }
    this.#take('}');
    if (isMap) return new Map(entries);
    if (isSlice) return list;
    return { fields } satisfies Struct;
  }

  #elementEnd(): number {
    let depth = 0;
    for (let j = this.#i; j < this.toks.length; j++) {
      const v = this.toks[j]!;
      if (v.t === 'op' && (v.v === '{' || v.v === '(' || v.v === '[')) depth++;
      else if (v.t === 'op' && (v.v === '}' || v.v === ')' || v.v === ']')) {
        if (depth === 0) return j;
        depth--;
      } else if (depth === 0 && v.t === 'op' && v.v === ',') return j;
    }
    return this.toks.length;
  }

  #topLevel(from: number, to: number, op: string): number {
    let depth = 0;
    for (let j = from; j < to; j++) {
      const v = this.toks[j]!;
      if (v.t === 'op' && (v.v === '{' || v.v === '(' || v.v === '[')) depth++;
      else if (v.t === 'op' && (v.v === '}' || v.v === ')' || v.v === ']')) depth--;
      else if (depth === 0 && v.t === 'op' && v.v === op) return j;
    }
    return -1;
  }

  #args(): Value[] {
    this.#take('(');
    const args: Value[] = [];
    while (this.#peek()?.v !== ')') {
      if (this.#peek()?.t === ';') {
        this.#take();
        continue;
      }
      const v = this.expr();
      if (this.#peek()?.v === '...') {
        this.#take();
        if (!Array.isArray(v)) throw new Unsupported('spread of a non-slice');
        args.push(...(v as Value[]));
      } else args.push(v);
      if (this.#peek()?.v === ',') this.#take();
    }
    this.#take(')');
    return args;
  }

  #primary(): Value {
    const t = this.#peek();
    if (!t) throw new Unsupported('empty expression');
    if (t.t === 'str') {
      this.#take();
      return t.v;
    }
    if (t.t === 'num') {
      this.#take();
      return Number(t.v.replaceAll('_', ''));
    }
    if (t.v === '(') {
      this.#take();
      const v = this.expr();
      this.#take(')');
      return v;
    }
    if (t.v === '[' || t.v === 'map' || t.v === '*') {
      const type = this.#type();
      if (this.#peek()?.v === '{') return this.#composite(type);
      if (this.#peek()?.v === '(') {
        const [arg] = this.#args();
        return arg; // []byte(s), string(b)
      }
      return { type }; // a type as an argument: make([]string, 0, n)
    }
    if (t.t === 'id') {
      this.#take();
      if (t.v === 'nil') return null;
      if (t.v === 'true' || t.v === 'false') return t.v === 'true';
      if (t.v === 'func') throw new Unsupported('function literal');
      // qualified name: pkg.Name or value.Field
      let name = t.v;
      if (!this.env.has(name) && this.#peek()?.v === '.' && this.toks[this.#i + 1]?.t === 'id') {
        this.#take();
        name += `.${this.#take().v}`;
        if (this.#peek()?.v === '{') return this.#composite(name);
        if (this.#peek()?.v === '(') return this.interp.call(name, this.#args());
        const native = this.interp.natives.get(name);
        if (native) return native();
        throw new Unsupported(`name ${name}`);
      }
      if (this.env.has(name)) {
        const v = this.env.get(name);
        if (v instanceof Poison) throw new Unsupported(`${name} (${v.reason})`);
        return v;
      }
      if (this.#peek()?.v === '(') return this.interp.call(name, this.#args());
      if (this.#peek()?.v === '{' && /^[A-Z]/.test(name)) return this.#composite(name);
      throw new Unsupported(`name ${name}`);
    }
    throw new Unsupported(`token ${t.v}`);
  }

  #postfix(value: Value): Value {
    let v = value;
    for (;;) {
      const t = this.#peek();
      if (t?.v === '.' && this.toks[this.#i + 1]?.t === 'id') {
        this.#take();
        const field = this.#take().v;
        if (this.#peek()?.v === '(') {
          const args = this.#args();
          const method = (v as Record<string, unknown> | null)?.[field];
          if (typeof method !== 'function') throw new Unsupported(`method ${field}`);
          v = (method as (...a: Value[]) => Value)(...args);
        } else if (v && typeof v === 'object' && 'fields' in v) {
          const thunk = (v as Struct).fields.get(field);
          v = thunk ? thunk() : null;
        } else if (v && typeof v === 'object' && field in v) v = (v as Record<string, Value>)[field];
        else throw new Unsupported(`field ${field}`);
      } else if (t?.v === '[') {
        this.#take();
        const start = this.#peek()?.v === ':' ? 0 : this.expr();
        if (this.#peek()?.v === ':') {
          this.#take();
          const end = this.#peek()?.v === ']' ? undefined : this.expr();
          this.#take(']');
          v = (v as string).slice(start as number, end as number | undefined);
        } else {
          this.#take(']');
          v = v instanceof Map ? v.get(start) : (v as Value[])[start as number];
        }
      } else return v;
    }
  }
}

function str(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String.fromCodePoint(v);
  throw new Unsupported(`string of ${typeof v}`);
}

function sprintf(format: string, ...args: Value[]): string {
  let k = 0;
  return format.replace(/%([-+# 0]*\d*)([svdqx%])/g, (_, __, verb: string) => {
    if (verb === '%') return '%';
    const a = args[k++];
    if (verb === 'q') return JSON.stringify(a);
    if (verb === 'd') return String(a);
    if (verb === 'x') return Buffer.from(String(a)).toString('hex');
    return typeof a === 'string' ? a : String(a);
  });
}

/** Go regex (as gitleaks writes it) to a JS regex randexp can generate from. */
export function toJs(source: string): RegExp {
  // Only a leading (?i) covers the whole pattern; a mid-pattern one is dropped, which generates
  // the lower-case variant RE2 also accepts.
  const insensitive = source.startsWith('(?i)');
  const js = source
    .replaceAll('(?i)', '')
    .replaceAll('(?-i:', '(?:')
    .replaceAll('(?i:', '(?:')
    .replaceAll('(?s)', '')
    .replaceAll('(?s:.)', '[\\s\\S]')
    .replaceAll('\\z', '$')
    .replaceAll('\\A', '^')
    .replaceAll('(?P<', '(?<')
    .replaceAll('[[:alnum:]]', '[a-zA-Z0-9]')
    .replaceAll('[:alnum:]', 'a-zA-Z0-9')
    .replaceAll('\\pL', 'a-zA-Z')
    .replaceAll('\\p{L}', 'a-zA-Z');
  return new RegExp(js, insensitive ? 'i' : '');
}

/** Seeded xorshift, so the port is reproducible. */
export function seededRandom(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Random printable-ASCII text matching `regex` (as gitleaks' generator, reggen, makes). */
export function generate(regex: string, random: () => number): string {
  const gen = new RandExp(toJs(regex));
  gen.max = 4;
  gen.defaultRange.subtract(0, 32);
  gen.defaultRange.subtract(127, 65535);
  gen.randInt = (a: number, b: number) => a + Math.floor(random() * (b - a + 1));
  return gen.gen();
}

/**
 * Every rule's samples from gitleaks' generator sources at `configDir` (cmd/generate/config).
 * `stopwords` are gitleaks' default stop words (for `newPlausibleSecret`).
 */
export function extractSamples(configDir: string, stopwords: readonly string[]): { samples: Map<string, RuleSamples>; problems: Map<string, string[]> } {
  const interp = new Interp();
  const random = seededRandom(0x2545f491);
  const rulesDir = join(configDir, 'rules');
  const utilsDir = join(configDir, 'utils');

  const newSecret = (regex: Value): string => generate(str(regex), random);
  const encoding = (alphabet: 'base64' | 'base64url', pad: boolean) => ({
    EncodeToString: (b: Value) => {
      const s = Buffer.from(str(b), 'latin1').toString(alphabet);
      return pad ? s.padEnd(Math.ceil(s.length / 4) * 4, '=') : s.replace(/=+$/, '');
    },
  });
  const b64 = {
    StdEncoding: encoding('base64', true),
    RawStdEncoding: encoding('base64', false),
    URLEncoding: encoding('base64url', true),
    RawURLEncoding: encoding('base64url', false),
  };
  const n = interp.natives;
  n.set('secrets.NewSecret', newSecret);
  n.set('newPlausibleSecret', (regex) => {
    for (;;) {
      const s = newSecret(regex);
      if (!/[1-9]/.test(s)) continue;
      const lower = s.toLowerCase();
      if (stopwords.some((w) => lower.includes(w))) continue;
      return s;
    }
  });
  n.set('fmt.Sprintf', (f, ...args) => sprintf(str(f), ...args));
  n.set('strings.Repeat', (s, k) => str(s).repeat(k as number));
  n.set('strings.ToUpper', (s) => str(s).toUpperCase());
  n.set('strings.ToLower', (s) => str(s).toLowerCase());
  n.set('strings.ReplaceAll', (s, a, b) => str(s).replaceAll(str(a), str(b)));
  n.set('strings.Join', (xs, sep) => (xs as string[]).join(str(sep)));
  n.set('strings.NewReplacer', (...pairs) => ({
    Replace: (s: Value) => {
      let out = '';
      const text = str(s);
      for (let k = 0; k < text.length;) {
        let hit = false;
        for (let p = 0; p < pairs.length; p += 2) {
          const from = str(pairs[p]);
          if (from.length > 0 && text.startsWith(from, k)) {
            out += str(pairs[p + 1]);
            k += from.length;
            hit = true;
            break;
          }
        }
        if (!hit) out += text[k++];
      }
      return out;
    },
  }));
  n.set('make', () => []);
  n.set('len', (x) => (x instanceof Map ? x.size : (x as string | Value[]).length));
  n.set('append', (list, ...items) => [...((list as Value[] | null) ?? []), ...items]);
  n.set('regexp.MustCompile', (s) => ({ String: () => s, source: s }));
  n.set('b64.StdEncoding', () => b64.StdEncoding);
  n.set('b64.RawStdEncoding', () => b64.RawStdEncoding);
  n.set('b64.URLEncoding', () => b64.URLEncoding);
  n.set('b64.RawURLEncoding', () => b64.RawURLEncoding);
  n.set('base64.StdEncoding', () => b64.StdEncoding);
  n.set('base64.RawStdEncoding', () => b64.RawStdEncoding);
  n.set('base64.URLEncoding', () => b64.URLEncoding);
  n.set('base64.RawURLEncoding', () => b64.RawURLEncoding);
  n.set('utils.Validate', (rule, tps, fps) => ({ rule, tps, fps }) as Validation);
  n.set('utils.ValidateWithPaths', (rule, tps, fps) => ({ rule, tps, fps }) as Validation);
  // Rule constructors' other helpers need not run: only the samples and the rule id are read.
  for (const name of ['utils.GenerateSemiGenericRegex', 'utils.GenerateUniqueTokenRegex', 'utils.MergeRegexps']) n.set(name, () => ({ String: () => '' }));

  for (const f of readdirSync(utilsDir).filter((n) => n.endsWith('.go') && !n.endsWith('_test.go')))
    interp.addFile(readFileSync(join(utilsDir, f), 'utf8'), 'utils');
  const ruleFiles = readdirSync(rulesDir)
    .filter((n) => n.endsWith('.go') && !n.endsWith('_test.go'))
    .sort();
  for (const f of ruleFiles) interp.addFile(readFileSync(join(rulesDir, f), 'utf8'), 'rules');

  const samples = new Map<string, RuleSamples>();
  const problems = new Map<string, string[]>();
  const asSamples = (v: Value): Sample[] => {
    if (v === null || v === undefined) return [];
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
    if (v instanceof Map) return [...v].map(([path, text]) => ({ path: str(path), text: str(text) }));
    throw new Unsupported('samples of an unknown shape');
  };
  for (const f of ruleFiles) {
    const src = readFileSync(join(rulesDir, f), 'utf8');
    for (const m of src.matchAll(/^func ([A-Z]\w*)\(\) \*config\.Rule \{/gm)) {
      interp.problems = [];
      let id = m[1]!;
      try {
        const result = interp.call(m[1]!, []) as Validation | undefined;
        if (!result?.rule) throw new Unsupported('rule function returned no validation');
        id = str(result.rule.fields.get('RuleID')?.());
        samples.set(id, { truePositives: asSamples(result.tps), falsePositives: asSamples(result.fps) });
      } catch (error) {
        if (!(error instanceof Unsupported)) throw error;
        interp.problems.push(`rule function ${m[1]}: ${error.message}`);
      }
      if (interp.problems.length > 0) problems.set(id, interp.problems);
    }
  }
  return { samples, problems };
}
