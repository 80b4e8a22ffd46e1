import { basename, isAbsolute, join, resolve } from 'node:path';
import type { SandboxConfig } from '@buckley/config';
import { type Finding, type SimpleCommand, type Word, analyzeCommand, validatePathSync } from '@buckley/security';
import { isInside } from '@buckley/utils';
import { HIDDEN_IN_WORKSPACE, READ_ONLY_IN_WORKSPACE, expandPath } from './mounts.js';
import type { SandboxViolation } from './sandbox.js';

/** What the lexical policy needs to judge a command. */
export interface PolicyContext {
  readonly mode: SandboxConfig['mode'];
  readonly allowedCommands: readonly string[];
  /** Real path of the workspace. */
  readonly workspace: string;
  /** Real path of the working directory. */
  readonly cwd: string;
  /** The home directory the command's shell expands `~` and `$HOME` to. */
  readonly home: string;
  /** Configured `denied_paths` (`~/` and relative forms allowed); writes onto them are refused. */
  readonly deniedPaths?: readonly string[] | undefined;
}

/** What {@link checkCommand} decided: a refusal, and findings that only annotate the run. */
export interface PolicyDecision {
  /** Set when the run must not start. */
  readonly violation: SandboxViolation | null;
  /** High-severity findings of `@buckley/security` that do not refuse the run (reported on the result). */
  readonly warnings: readonly Finding[];
}

/**
 * Shell builtins that run nothing else and change nothing outside the shell: strict mode lets
 * them through without listing them. `eval`, `exec`, `source`, `.`, `command`, `builtin` and
 * `trap` are not here: they run other programs. Nor are the builtins that assign variables
 * (`export`, `declare`, `typeset`, `readonly`, `local`, `set`, `read`, `mapfile`): a changed
 * `PATH`, `LD_PRELOAD`, `BASH_ENV` or `GIT_SSH_COMMAND` makes an allowed program run another
 * one. `printf -v` is refused for the same reason.
 */
export const STRICT_SAFE_BUILTINS: readonly string[] = [
  ':',
  'true',
  'false',
  'cd',
  'pwd',
  'echo',
  'printf',
  'test',
  '[',
  'exit',
  'return',
  'unset',
  'shift',
  'wait',
];

/**
 * Variables that change which program runs or what it loads. Strict mode refuses every
 * assignment a command carries; these names are also refused where the parser sees them set
 * outside one (`for PATH in ...`, `${PATH:=...}`, `$((IFS=1))`).
 */
const PROGRAM_CHANGING_VARIABLE = /^(?:PATH|LD_\w*|BASH_ENV|ENV|GIT_\w*|IFS|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|CDPATH|BASH_LOADABLES_PATH|EXECIGNORE)$/;

/** Where a command may write besides the workspace: the sandbox's private `/tmp` and harmless devices. */
const scratchRoots = ['/tmp'];
const harmlessDevice = /^\/dev\/(?:null|zero|full|stdout|stderr|stdin|tty|fd\/\d+)$/;
/** Programs whose operands are all written (created, truncated, removed). */
const writesEveryOperand = new Set(['tee', 'touch', 'mkdir', 'rm', 'rmdir', 'truncate', 'shred', 'mkfifo', 'mknod']);
/** Programs whose last operand is the destination. */
const writesLastOperand = new Set(['cp', 'mv', 'ln', 'install', 'rsync']);

function violation(rule: SandboxViolation['rule'], message: string, subject?: string, finding?: Finding): SandboxViolation {
  return { rule, message, ...(subject === undefined ? {} : { subject }), ...(finding === undefined ? {} : { finding }) };
}

/** Linux's MAX_ARG_STRLEN: one argument or one `NAME=value` string, with its NUL, is at most 32 pages. */
const MAX_ARG_BYTES = 32 * 4096;
/** argv and environment together; ARG_MAX is at least 2 MiB here, and the sandbox adds its own argv and env. */
const MAX_EXEC_BYTES = 1024 * 1024;

/**
 * Refuses, before anything starts, a command the kernel would refuse with E2BIG ("Argument list
 * too long"): one argument or environment entry over 128 KiB, or all of them over 1 MiB. A shell
 * string is one argument of `bash -c`. The message gives sizes only, never content.
 */
export function checkArgumentSize(command: string | readonly string[], env: Readonly<Record<string, string>> | undefined): SandboxViolation | null {
  const args = typeof command === 'string' ? [command] : command;
  let total = 0;
  for (const [i, arg] of args.entries()) {
    const bytes = Buffer.byteLength(arg) + 1;
    if (bytes > MAX_ARG_BYTES) {
      const which = typeof command === 'string' ? 'the shell command' : `argument ${i}`;
      return violation(
        'invalid_command',
        `${which} is ${bytes - 1} bytes; the kernel takes at most ${MAX_ARG_BYTES - 1} bytes in one argument (pass large data on stdin or in a file)`,
      );
    }
    total += bytes;
  }
  for (const [name, value] of Object.entries(env ?? {})) {
    const bytes = Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
    if (bytes > MAX_ARG_BYTES) {
      return violation(
        'invalid_command',
        `an environment entry is ${bytes - 2} bytes (its name is not shown: it may be a secret); the kernel takes at most ${MAX_ARG_BYTES - 2} bytes in one entry`,
      );
    }
    total += bytes;
  }
  if (total > MAX_EXEC_BYTES) {
    return violation(
      'invalid_command',
      `the arguments and environment are ${total} bytes together; at most ${MAX_EXEC_BYTES} are taken (pass large data on stdin or in a file)`,
    );
  }
  return null;
}

/**
 * The lexical command policy: early, readable refusals before anything starts, built on
 * `@buckley/security`'s shell analysis (no second parser). Shell strings are parsed and every
 * simple command is judged, including those in pipelines, lists, subshells, functions and
 * `$(...)`: strict mode's allow-list, writes outside the workspace or onto protected paths, and
 * critical findings (fork bomb, `rm -rf /`, `/dev/tcp`, `curl | sh`, ...). Argv runs are checked
 * against the strict allow-list only; nothing in them is shell syntax.
 *
 * Advisory: the boundary is the operating system (namespaces, read-only mounts, limits), so a
 * command this lets through (a path in a variable set at run time) still cannot write outside
 * the workspace or reach the network.
 */
export function checkCommand(command: string | readonly string[], ctx: PolicyContext): PolicyDecision {
  if (typeof command === 'string' ? command.trim() === '' : command.length === 0 || command[0] === '') {
    return { violation: violation('empty_command', 'command must be a non-empty string or argv'), warnings: [] };
  }
  if (typeof command !== 'string') {
    if (command.some((arg) => arg.includes('\0'))) return { violation: violation('invalid_command', 'argv contains a NUL byte'), warnings: [] };
    if (ctx.mode === 'strict' && !isAllowedProgram(command[0]!, ctx.allowedCommands)) return { violation: notAllowed(command[0]!), warnings: [] };
    return { violation: null, warnings: [] };
  }

  const analysis = analyzeCommand(command);
  const warnings: Finding[] = [];
  for (const finding of analysis.findings) {
    if (finding.category === 'invalid_input' && finding.severity !== 'medium' && finding.severity !== 'low') {
      return { violation: violation('invalid_command', `command cannot be analysed: ${finding.message}`, undefined, finding), warnings };
    }
    if (finding.severity === 'critical') {
      return { violation: violation('dangerous_command', `${finding.message} (${finding.ruleId})`, finding.match, finding), warnings };
    }
    if (finding.severity === 'high') warnings.push(finding);
  }

  if (ctx.mode === 'strict') {
    const parseError = analysis.findings.find((f) => f.ruleId === 'command.parse-error');
    if (parseError)
      return {
        violation: violation('command_not_allowed', `strict mode cannot judge a command it cannot parse: ${parseError.message}`, undefined, parseError),
        warnings,
      };
    // Assignments no simple command carries (a loop variable, `${NAME:=...}`, arithmetic) come from the parser too.
    const hidden = analysis.assignments.find(
      (a) => (a.kind === 'loop' || a.kind === 'default' || a.kind === 'arithmetic') && PROGRAM_CHANGING_VARIABLE.test(a.name),
    );
    if (hidden !== undefined) return { violation: assignmentRefused(hidden.name), warnings };
    for (const c of analysis.commands) {
      const refused = checkStrict(c, ctx.allowedCommands);
      if (refused) return { violation: refused, warnings };
    }
  }

  if (ctx.mode !== 'disabled') {
    for (const c of analysis.commands) {
      for (const target of writeTargets(c)) {
        const refused = checkWrite(target, ctx);
        if (refused) return { violation: refused, warnings };
      }
    }
  }
  return { violation: null, warnings };
}

function notAllowed(program: string): SandboxViolation {
  return violation('command_not_allowed', `program ${JSON.stringify(program)} is not in sandbox.allowed_commands (strict mode)`, program);
}

/**
 * A bare name is allowed only as a bare name (found through the sandbox's `PATH`); a program
 * written with a `/` only when that exact path is listed, so `./scripts/git` is not `git`.
 */
function isAllowedProgram(program: string, allowed: readonly string[]): boolean {
  return program.includes('/') ? allowed.includes(program) : allowed.some((entry) => entry === program && !entry.includes('/'));
}

function assignmentRefused(name: string): SandboxViolation {
  return violation(
    'command_not_allowed',
    `assignment to ${JSON.stringify(name)} is refused in strict mode: a changed variable can make an allowed program run another one`,
    name,
  );
}

function checkStrict(c: SimpleCommand, allowed: readonly string[]): SandboxViolation | null {
  // `PATH=./bin git`, `LD_PRELOAD=./x.so ls`, or a bare `PATH=./bin` before `git`: refused whatever the name.
  const assigned = c.assignments[0];
  if (assigned !== undefined) return assignmentRefused(assigned.name);
  const program = c.program;
  // A bare redirection runs no program.
  if (program === undefined) return null;
  if (program.expansions.length > 0) {
    return violation(
      'command_not_allowed',
      `program ${JSON.stringify(program.text)} is only known when the command runs, so strict mode cannot allow it`,
      program.text,
    );
  }
  if (program.text === 'printf' && c.argv.some((w) => w.text.startsWith('-v'))) return assignmentRefused(c.argv.find((w) => w.text.startsWith('-v'))!.text);
  if (isAllowedProgram(program.text, allowed)) return null;
  if (STRICT_SAFE_BUILTINS.includes(program.text)) return null;
  return notAllowed(program.text);
}

/** The words a simple command writes to: `>`-style redirections and the operands of a few file tools. */
function writeTargets(c: SimpleCommand): Word[] {
  const out: Word[] = [];
  for (const r of c.redirections) {
    if (!r.op.includes('>')) continue;
    // `2>&1`, `>&-`: a file descriptor, not a file.
    if ((r.op === '>&' || r.op === '<&') && /^(?:\d+|-)$/.test(r.target.text)) continue;
    out.push(r.target);
  }
  const name = c.program === undefined ? undefined : basename(c.program.text);
  if (name === undefined) return out;
  const operands: Word[] = [];
  let options = true;
  for (const w of c.argv.slice(1)) {
    if (options && w.text === '--') options = false;
    else if (options && w.text.startsWith('-') && w.text.length > 1) continue;
    else operands.push(w);
  }
  // `mv` removes its sources as well as writing its destination.
  if (writesEveryOperand.has(name) || (name === 'mv' && operands.length >= 2)) out.push(...operands);
  else if (writesLastOperand.has(name) && operands.length >= 2) out.push(operands.at(-1)!);
  else if (name === 'dd') {
    for (const w of c.argv) if (w.text.startsWith('of=')) out.push({ ...w, text: w.text.slice(3) });
  }
  return out;
}

/**
 * The path a shell would write for `word`, when it can be known before the command runs: `~`
 * and `$HOME` / `${HOME}` / `$PWD` prefixes are expanded; any other expansion (a variable set at
 * run time, `$(...)`) makes it unknowable, and the OS layer judges it.
 */
function literalPath(word: Word, ctx: PolicyContext): string | null {
  let text = word.text;
  for (const e of word.expansions) {
    if (e.kind === 'glob') continue;
    if (e.kind === 'tilde' && text.startsWith('~')) continue;
    if (e.kind === 'parameter' && (e.name === 'HOME' || e.name === 'PWD') && text.startsWith(e.raw)) {
      text = (e.name === 'HOME' ? ctx.home : ctx.cwd) + text.slice(e.raw.length);
      continue;
    }
    return null;
  }
  if (text === '') return null;
  if (text === '~' || text.startsWith('~/')) return expandPath(text, ctx.home, ctx.cwd);
  return isAbsolute(text) ? resolve(text) : resolve(ctx.cwd, text);
}

function checkWrite(word: Word, ctx: PolicyContext): SandboxViolation | null {
  const path = literalPath(word, ctx);
  if (path === null) return null;
  if (harmlessDevice.test(path)) return null;
  if (scratchRoots.some((root) => isInside(root, path)) && !isInside(ctx.workspace, path)) return null;
  const checked = validatePathSync(path, { root: ctx.workspace });
  if (!checked.ok) {
    const finding = checked.findings[0];
    return violation(
      'path_outside_workspace',
      `write to ${JSON.stringify(word.text)} is outside the workspace ${JSON.stringify(ctx.workspace)}${finding ? `: ${finding.message}` : ''}`,
      path,
      finding,
    );
  }
  const real = checked.resolved ?? path;
  const protectedRoots = [...READ_ONLY_IN_WORKSPACE, ...HIDDEN_IN_WORKSPACE].map((rel) => join(ctx.workspace, rel));
  for (const denied of ctx.deniedPaths ?? []) protectedRoots.push(expandPath(denied, ctx.home, ctx.workspace));
  const hit = protectedRoots.find((root) => isInside(root, real));
  if (hit !== undefined) {
    return violation('protected_path', `write to ${JSON.stringify(word.text)} touches the protected path ${JSON.stringify(hit)}`, real);
  }
  if (ctx.mode !== 'workspace') {
    return violation(
      'write_in_read_only_mode',
      `write to ${JSON.stringify(word.text)} in sandbox.mode ${JSON.stringify(ctx.mode)}, where the workspace is read-only`,
      real,
    );
  }
  return null;
}
