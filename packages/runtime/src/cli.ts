import { parseArgs } from 'node:util';
import { type ConfigExplanation, explainConfig } from '@buckley/config';
import type { StoredEvent } from '@buckley/events';
import type { AgentProgress } from '@buckley/orchestrator';
import { doctor as sandboxDoctor, sanitizeForTerminal } from '@buckley/sandbox';
import { isBuckleyError } from '@buckley/utils';
import { type RuntimeOptions, createRuntime, loadRuntimeConfig, openEventStore } from './runtime.js';
import { ModelNotConfiguredError, UsageError, isRuntimeError } from './runtime-errors.js';

/** Exit codes of the `buckley` binary. */
export const ExitCode = {
  /** The command did what it was asked: `run` ended with the model's end of turn, `doctor` found nothing to fix. */
  Ok: 0,
  /** The command ran and failed: a run that stopped otherwise, a doctor check that failed, an error. */
  Failure: 1,
  /** The command line was wrong: unknown command or flag, a missing argument. */
  Usage: 2,
  /** The configuration could not be loaded (a `CONFIG_*` error of `@buckley/config`). */
  Config: 3,
  /** Interrupted (SIGINT): the run was cancelled. */
  Interrupted: 130,
} as const;

type Command = 'run' | 'events' | 'doctor';

interface Flag {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  /** `<value>` name shown in the help. */
  readonly value?: string;
  readonly description: string;
  /** The commands that take it; every command when left out. */
  readonly commands?: readonly Command[];
  /** The config key (snake_case dotted path) the flag sets, in the explicit-override layer. */
  readonly config?: string;
}

/** The one flag table: parsing, `--help` and the config overrides all come from it. */
const FLAGS = {
  json: { type: 'boolean', description: 'print JSON, one object per line', commands: ['run', 'events', 'doctor'] },
  session: { type: 'string', value: 'id', description: 'only events of this session', commands: ['events'] },
  type: { type: 'string', value: 'type', description: "only events of this type (a prefix when it ends with '.')", commands: ['events'] },
  model: { type: 'string', value: 'id', description: 'the model to use (model.id)', commands: ['run'], config: 'model.id' },
  unsafe: { type: 'boolean', description: 'allow running tools without the sandbox (sandbox.allow_unsafe)', commands: ['run'], config: 'sandbox.allow_unsafe' },
  verbose: { type: 'boolean', description: 'print the stack trace and causes of an error' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const satisfies Record<string, Flag>;

type Flags = { -readonly [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

const COMMANDS: Record<Command, { readonly args: string; readonly description: string }> = {
  run: { args: '"<task>"', description: 'run the agent on a task in this directory, streaming its text and tool calls' },
  events: { args: '', description: 'print the event log (filtered by --session and --type)' },
  doctor: { args: '', description: 'check the configuration, the event store, the sandbox and the model endpoint' },
};

/** Where the binary writes, and what it runs in: the process's own by default. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Aborting cancels a running agent (the binary aborts on SIGINT). */
  readonly signal?: AbortSignal;
}

function helpText(): string {
  const lines = ['usage: buckley <command> [flags]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${`${name} ${c.args}`.padEnd(16)}${c.description}`);
  lines.push('', 'flags:');
  for (const [name, f] of Object.entries(FLAGS) as Array<[string, Flag]>) {
    const spelled = `${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` <${f.value}>` : ''}`;
    const where = f.commands ? ` (${f.commands.join(', ')})` : '';
    lines.push(`  ${spelled.padEnd(18)}${f.description}${where}`);
  }
  lines.push('', 'exit codes: 0 ok, 1 failure, 2 usage error, 3 configuration error, 130 interrupted');
  return `${lines.join('\n')}\n`;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/** The closest of `names` to `word`, when it is close enough to be a typo. */
function closest(word: string, names: readonly string[]): string | undefined {
  const ranked = names.map((name) => ({ name, d: distance(word, name) })).toSorted((x, y) => x.d - y.d);
  const best = ranked[0];
  return best !== undefined && best.d <= Math.max(2, Math.floor(best.name.length / 2)) ? best.name : undefined;
}

/** A user value shown in a message: quoted when it looks like a command or flag name, else only described. */
function shown(word: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(word) ? JSON.stringify(word) : `an argument of ${word.length} characters`;
}

function parse(argv: readonly string[]): { command: Command | undefined; positionals: string[]; flags: Flags } {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true });
  } catch (error) {
    const match = /Unknown option '-{1,2}([^']*)'/.exec((error as Error).message);
    if (match) {
      const near = closest(match[1]!, Object.keys(FLAGS));
      throw new UsageError(`unknown flag ${match[1] && /^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(match[1]) ? `--${match[1]}` : 'given'}`, {
        fix: near ? `did you mean --${near}? (buckley --help lists the flags)` : 'buckley --help lists the flags',
      });
    }
    throw new UsageError((error as Error).message.split('\n')[0]!, { fix: 'buckley --help lists the flags' });
  }
  const [name, ...positionals] = parsed.positionals;
  const flags = parsed.values as Flags;
  if (name === undefined) return { command: undefined, positionals, flags };
  if (!(name in COMMANDS)) {
    const near = closest(name, Object.keys(COMMANDS));
    throw new UsageError(`unknown command ${shown(name)}`, { fix: near ? `did you mean "buckley ${near}"?` : 'buckley --help lists the commands' });
  }
  const command = name as Command;
  for (const [flag, value] of Object.entries(flags)) {
    const spec: Flag = FLAGS[flag as keyof typeof FLAGS];
    if (value !== undefined && spec.commands && !spec.commands.includes(command)) {
      throw new UsageError(`the flag --${flag} does not apply to "buckley ${command}"`, { fix: `it applies to: ${spec.commands.join(', ')}` });
    }
  }
  return { command, positionals, flags };
}

function overrides(flags: Flags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(flags)) {
    const spec: Flag = FLAGS[flag as keyof typeof FLAGS];
    if (spec.config !== undefined && value !== undefined) out[spec.config] = value;
  }
  return out;
}

function colours(io: CliIo) {
  const env = io.env ?? process.env;
  const on = io.stdout.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  const paint = (code: string) => (text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
  return { green: paint('32'), red: paint('31'), dim: paint('2') };
}

/** All events matching `filter`, page by page. */
async function readEvents(store: { readAll: (o: object) => Promise<StoredEvent[]> }, filter: object): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.readAll({ filter, limit: 1000, ...(after !== undefined ? { after } : {}) });
    all.push(...page);
    if (page.length < 1000) return all;
    after = page.at(-1)!.position;
  }
}

function runtimeOptions(io: CliIo, flags: Flags): RuntimeOptions {
  return { cwd: io.cwd ?? process.cwd(), env: io.env ?? process.env, overrides: overrides(flags) };
}

async function runCommand(task: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (task === undefined || task.trim() === '') throw new UsageError('"buckley run" needs a task', { fix: 'buckley run "<what the agent should do>"' });
  const options = runtimeOptions(io, flags);
  const loaded = loadRuntimeConfig(options);
  if (loaded.config.model.id === null) throw new ModelNotConfiguredError();
  await using runtime = await createRuntime({ ...options, config: loaded });
  const { sessionId } = await runtime.orchestrator.startSession({ title: task.slice(0, 200) });
  await runtime.orchestrator.addMessage(sessionId, { role: 'user', content: task });
  const paint = colours(io);
  let midLine = false;
  const onProgress = (update: AgentProgress) => {
    if (flags.json) return;
    if (update.type === 'text') {
      const text = sanitizeForTerminal(update.delta);
      io.stdout.write(text);
      if (text.length > 0) midLine = !text.endsWith('\n');
    } else if (update.type === 'tool_call_finished') {
      const mark = update.outcome === 'success' ? paint.green(update.outcome) : paint.red(update.outcome);
      io.stdout.write(`${midLine ? '\n' : ''}${paint.dim('tool')} ${sanitizeForTerminal(update.name)} ${mark}\n`);
      midLine = false;
    }
  };
  const result = await runtime.agent.run(sessionId, { onProgress, ...(io.signal ? { signal: io.signal } : {}) });
  await runtime.recorder.flush();
  if (flags.json) {
    for (const event of await readEvents(runtime.store, { sessionId })) io.stdout.write(`${JSON.stringify(event)}\n`);
  } else {
    if (midLine) io.stdout.write('\n');
    if (result.stopReason !== 'end_turn') {
      const why = result.error ? `${result.error.code}: ${sanitizeForTerminal(result.error.message)}` : (result.limit ?? result.stopReason);
      io.stderr.write(`buckley: the run stopped (${result.stopReason}): ${why}\n`);
    }
    io.stderr.write(`${paint.dim(`session ${sessionId}`)}\n`);
  }
  if (result.stopReason === 'cancelled') return ExitCode.Interrupted;
  return result.stopReason === 'end_turn' ? ExitCode.Ok : ExitCode.Failure;
}

async function eventsCommand(flags: Flags, io: CliIo): Promise<number> {
  const loaded = loadRuntimeConfig(runtimeOptions(io, flags));
  const opened = await openEventStore(loaded);
  try {
    const filter = {
      ...(flags.session !== undefined ? { sessionId: flags.session } : {}),
      ...(flags.type !== undefined ? (flags.type.endsWith('.') ? { typePrefix: flags.type } : { types: [flags.type] }) : {}),
    };
    for (const event of await readEvents(opened.store, filter)) {
      if (flags.json) io.stdout.write(`${JSON.stringify(event)}\n`);
      else {
        const outcome = event.metadata.outcome !== undefined ? ` ${event.metadata.outcome}` : '';
        io.stdout.write(`${event.position}\t${event.occurredAt}\t${event.streamId}\t${event.type}${outcome}\n`);
      }
    }
  } finally {
    await opened.close();
  }
  return ExitCode.Ok;
}

interface DoctorResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

async function doctorCommand(flags: Flags, io: CliIo): Promise<number> {
  const env = io.env ?? process.env;
  const loaded = loadRuntimeConfig(runtimeOptions(io, flags));
  const checks: DoctorResult[] = [];
  try {
    const opened = await openEventStore(loaded);
    try {
      await opened.store.readAll({ limit: 1 });
      checks.push({ name: 'store', ok: true, detail: `${opened.kind} event store reachable (${opened.location})` });
    } finally {
      await opened.close();
    }
  } catch (error) {
    checks.push({ name: 'store', ok: false, detail: oneLine(error), fix: fixOf(error) ?? 'check store.url, or the embedded data directory' });
  }
  const sandbox = await sandboxDoctor();
  for (const check of sandbox.checks) {
    if (check.ok || !check.optional)
      checks.push({ name: `sandbox.${check.name}`, ok: check.ok, detail: check.detail, ...(check.fix ? { fix: check.fix } : {}) });
  }
  const model = loaded.config.model;
  const keySet = (env[model.apiKeyEnv] ?? '') !== '';
  checks.push({
    name: 'model',
    ok: model.id !== null && keySet,
    detail: `${model.baseUrl}, model ${model.id === null ? 'not set' : JSON.stringify(model.id)}, key variable ${model.apiKeyEnv} ${keySet ? 'set' : 'not set'}`,
    ...(model.id === null ? { fix: 'set BUCKLEY_MODEL or model.id' } : keySet ? {} : { fix: `export ${model.apiKeyEnv}=<your API key>` }),
  });
  const ok = checks.every((c) => c.ok);
  if (flags.json) {
    const config = { projectRoot: loaded.projectRoot, files: loaded.files, values: explainConfig(loaded).map(originOf) };
    io.stdout.write(`${JSON.stringify({ ok, config, checks, sandbox: { limitMechanism: sandbox.limitMechanism, uidStrategy: sandbox.uidStrategy } })}\n`);
  } else {
    const paint = colours(io);
    io.stdout.write(`config: project root ${loaded.projectRoot}; files: ${loaded.files.length > 0 ? loaded.files.join(', ') : 'none (defaults and env)'}\n`);
    for (const c of explainConfig(loaded).filter((e) => e.origin.layer !== 'default')) io.stdout.write(`  ${c.path} from ${describeOrigin(c)}\n`);
    for (const c of checks) {
      io.stdout.write(`${c.ok ? paint.green('ok  ') : paint.red('FAIL')} ${c.name}: ${c.detail}\n`);
      if (!c.ok && c.fix) io.stdout.write(`     fix: ${c.fix}\n`);
    }
  }
  return ok ? ExitCode.Ok : ExitCode.Failure;
}

/** Origins without values: a value may be a secret-bearing URL. */
function originOf(e: ConfigExplanation) {
  return { path: e.path, origin: e.origin };
}

function describeOrigin(e: ConfigExplanation): string {
  const o = e.origin as { layer: string; file?: string; line?: number; env?: string };
  if (o.env) return `env ${o.env}`;
  if (o.file) return `${o.layer} ${o.file}${o.line !== undefined ? `:${o.line}` : ''}`;
  return o.layer;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = isBuckleyError(error) ? `${error.code}: ` : '';
  return `${code}${message}`.replaceAll(/\s*\n\s*/g, '; ');
}

function fixOf(error: unknown): string | undefined {
  return isRuntimeError(error) ? error.fix : undefined;
}

/**
 * The `buckley` command line: parses `argv` (without the node and script paths), runs the
 * command and resolves with its exit code ({@link ExitCode}). Errors are printed as one line
 * with the fix (the stack and causes only with `--verbose`), never thrown.
 */
export async function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    const { command, positionals, flags } = parse(argv);
    if (flags.help || command === undefined) {
      (command === undefined && !flags.help ? io.stderr : io.stdout).write(helpText());
      return command === undefined && !flags.help ? ExitCode.Usage : ExitCode.Ok;
    }
    if (command === 'run') {
      if (positionals.length > 1) throw new UsageError('"buckley run" takes one task; quote it', { fix: 'buckley run "<task>"' });
      return await runCommand(positionals[0], flags, io);
    }
    if (positionals.length > 0) throw new UsageError(`"buckley ${command}" takes no arguments`, { fix: 'buckley --help' });
    return command === 'events' ? await eventsCommand(flags, io) : await doctorCommand(flags, io);
  } catch (error) {
    const fix = fixOf(error);
    io.stderr.write(`buckley: ${oneLine(error)}${fix ? `; ${fix}` : ''}\n`);
    if (verbose) io.stderr.write(`${inspectChain(error)}\n`);
    if (error instanceof UsageError) return ExitCode.Usage;
    if (isBuckleyError(error) && error.code.startsWith('CONFIG_')) return ExitCode.Config;
    return ExitCode.Failure;
  }
}

function inspectChain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  return parts.join('\ncaused by: ');
}
