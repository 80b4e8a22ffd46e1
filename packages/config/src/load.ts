import { type Stats, existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { parse as parseYamlScalar } from 'yaml';
import type { z } from 'zod';
import {
  type ConfigIssue,
  type ConfigLayer,
  type ConfigOrigin,
  ConfigOutsideProjectError,
  ConfigReadError,
  ConfigTrustError,
  ConfigValidationError,
  type TrustViolation,
  describeValue,
  formatOrigin,
} from './errors.js';
import { isInside } from '@buckley/utils';
import { camelize, isRecord, leaves, snakeize, toSnake } from './keys.js';
import { type BuckleyConfig, configSchema } from './schema.js';
import { parseYamlLayer } from './yaml-source.js';

/** Options of {@link loadConfig}. Every input is explicit so tests and embedders control it. */
export interface LoadConfigOptions {
  /** Where to look for the project file (walking up to the repository root). Default `process.cwd()`. */
  readonly cwd?: string;
  /** Environment to read `BUCKLEY_*` and `XDG_CONFIG_HOME` from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The user's home directory. Default `os.homedir()`. */
  readonly homeDir?: string;
  /** The user config file; default `$XDG_CONFIG_HOME/buckley/config.yaml`, else `~/.config/buckley/config.yaml`. */
  readonly userConfigPath?: string;
  /**
   * Explicit overrides (CLI flags), highest layer: dotted snake_case paths to values,
   * e.g. `{ 'sandbox.mode': 'strict', 'sandbox.allow_unsafe': true }`.
   */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** The effective configuration with the origin of every value. */
export interface LoadedConfig {
  readonly config: BuckleyConfig;
  /** snake_case dotted leaf path -> where its effective value came from. */
  readonly origins: ReadonlyMap<string, ConfigOrigin>;
  /** The files that were read, lowest layer first. */
  readonly files: readonly string[];
  /** The project root ({@link findProjectRoot}): the only place a project file is read from. */
  readonly projectRoot: string;
}

/** What a key name looks like (snake_case or camelCase, as typed by a person): only such words are quoted in errors. */
const KEY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Keys whose lists add up across layers instead of replacing: a layer can only add protection. */
const additiveLists = new Set(['sandbox.denied_paths']);

const USER_FILE_HINT = 'set it in the user config (~/.config/buckley/config.yaml)';
const modeRank: Record<string, number> = { disabled: 0, workspace: 1, read_only: 2, strict: 3 };
const approvalRank: Record<string, number> = { yolo: 0, auto: 1, safe: 2, ask: 3 };

function notSubset(value: unknown, allowed: readonly string[]): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && !allowed.includes(v)) : [];
}

/** Extra list items as a trust error names them: names quoted, anything else only counted (it may be text that was never config). */
function nameItems(items: readonly string[]): string {
  const names = items.filter((item) => KEY_NAME.test(item));
  const others = items.length - names.length;
  return [...names, ...(others > 0 ? [`${others} other ${others === 1 ? 'item' : 'items'}`] : [])].join(', ');
}

function escapesProject(value: unknown): boolean {
  return typeof value === 'string' && (isAbsolute(value) || value.startsWith('~') || value.split(/[\\/]/).includes('..'));
}

/**
 * What a project file may set. The project file comes with the repository, so each rule
 * compares the project's value with what the lower layers (defaults and the user file) already
 * give, and refuses anything that loosens it; a reason says why and where the setting may live.
 */
const trustRules: Array<{ path: string; weakens: (value: unknown, lower: BuckleyConfig) => string | undefined }> = [
  {
    path: 'sandbox.allow_unsafe',
    weakens: (v) => (v === true ? `the unsafe override may only come from the user: ${USER_FILE_HINT}, or use BUCKLEY_UNSAFE=1 or --unsafe` : undefined),
  },
  {
    path: 'sandbox.mode',
    weakens: (v, lower) => {
      if (v === 'disabled') return 'only the user config, with sandbox.allow_unsafe: true, may disable the sandbox';
      const rank = modeRank[String(v)];
      return rank !== undefined && rank < modeRank[lower.sandbox.mode]!
        ? `a project may only tighten the mode (workspace < read-only < strict) and the user's is ${JSON.stringify(lower.sandbox.mode)}; ${USER_FILE_HINT}`
        : undefined;
    },
  },
  {
    path: 'sandbox.network',
    weakens: (v) => (v === true ? `${USER_FILE_HINT}, or pass --set sandbox.network=true` : undefined),
  },
  {
    path: 'sandbox.javascript.allow_wasm',
    weakens: (v) => (v === true ? `WebAssembly memory is not counted by the isolate heap limit; ${USER_FILE_HINT}` : undefined),
  },
  ...(
    [
      'timeout_seconds',
      'max_output_bytes',
      'limits.max_processes',
      'limits.max_memory_mb',
      'limits.max_file_size_mb',
      'limits.cpu_seconds',
      'limits.max_write_mb',
      'limits.max_files',
      'javascript.process_memory_mb',
    ] as const
  ).map((key) => ({
    path: `sandbox.${key}`,
    weakens: (v: unknown, lower: BuckleyConfig) => {
      const current = getPath(snakeize(lower.sandbox), key.split('.'));
      return typeof v === 'number' && typeof current === 'number' && v > current
        ? `a project may only lower this limit (the user's is ${current}); ${USER_FILE_HINT}`
        : undefined;
    },
  })),
  {
    path: 'sandbox.home_allow',
    weakens: (v, lower) => {
      const extra = notSubset(v, lower.sandbox.homeAllow);
      return extra.length > 0 ? `a project may only shrink the readable home entries (not ${extra.join(', ')}); ${USER_FILE_HINT}` : undefined;
    },
  },
  {
    path: 'sandbox.protected_paths',
    weakens: (v, lower) => {
      // The entries named are the lower layers' own (defaults or the user file), never the project's text.
      const dropped = Array.isArray(v) ? lower.sandbox.protectedPaths.filter((p) => !v.includes(p)) : [];
      return dropped.length > 0 ? `a project may only add protected paths (it drops ${dropped.join(', ')}); ${USER_FILE_HINT}` : undefined;
    },
  },
  {
    path: 'sandbox.env_allow',
    weakens: (v, lower) => {
      const extra = notSubset(v, lower.sandbox.envAllow);
      return extra.length > 0 ? `a project may not pass more environment variables (${nameItems(extra)}); ${USER_FILE_HINT}` : undefined;
    },
  },
  {
    path: 'sandbox.allowed_commands',
    weakens: (v, lower) => {
      if (lower.sandbox.mode !== 'strict') return undefined;
      const extra = notSubset(v, lower.sandbox.allowedCommands);
      return extra.length > 0 ? `the user's strict allow-list does not include ${nameItems(extra)}; ${USER_FILE_HINT}` : undefined;
    },
  },
  {
    path: 'approval.mode',
    weakens: (v, lower) => {
      const rank = approvalRank[String(v)];
      return rank !== undefined && rank < approvalRank[lower.approval.mode]!
        ? `a project may only ask for more approval (yolo < auto < safe < ask) and the user's mode is ${JSON.stringify(lower.approval.mode)}; ${USER_FILE_HINT}, or use BUCKLEY_APPROVAL_MODE`
        : undefined;
    },
  },
  {
    path: 'approval.auto_approve_patterns',
    weakens: (v, lower) => {
      const extra = notSubset(v, lower.approval.autoApprovePatterns);
      return extra.length > 0 ? `a project may not auto-approve more commands (${nameItems(extra)}); ${USER_FILE_HINT}` : undefined;
    },
  },
  // Where data, credentials and the API go is the user's choice: a repository could otherwise
  // send the event log, a key or the API to a host of its choosing.
  ...['store.url', 'bus.url', 'model.base_url', 'model.api_key_env', 'api.host', 'api.auth_token_env', 'observability.otlp_endpoint'].map((path) => ({
    path,
    weakens: (v: unknown) => (v === undefined ? undefined : `it decides where data or credentials go; ${USER_FILE_HINT} or the environment`),
  })),
  {
    path: 'model.prices',
    weakens: (v: unknown) => (v === undefined ? undefined : `prices decide the cost every report shows; ${USER_FILE_HINT} or the environment`),
  },
  ...['store.data_dir', 'logging.dir'].map((path) => ({
    path,
    weakens: (v: unknown) => (escapesProject(v) ? `a project may only use a relative path inside the project; ${USER_FILE_HINT}` : undefined),
  })),
];

/** Environment variables with a short name, mapped to their key. */
const envAliases: Record<string, string> = {
  BUCKLEY_STORE_URL: 'store.url',
  BUCKLEY_NATS_URL: 'bus.url',
  BUCKLEY_LOG_LEVEL: 'logging.level',
  BUCKLEY_APPROVAL_MODE: 'approval.mode',
  BUCKLEY_MODEL: 'model.id',
  BUCKLEY_MODEL_BASE_URL: 'model.base_url',
};

const truthy = new Set(['1', 'true', 'yes', 'on']);
const falsy = new Set(['0', 'false', 'no', 'off', '']);

/** The user config file for an environment and home directory. */
export function userConfigPath(env: Readonly<Record<string, string | undefined>>, homeDir: string): string {
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homeDir, '.config'), 'buckley', 'config.yaml');
}

/** `lstat` that answers undefined when nothing is there. */
function lstatQuiet(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function realQuiet(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return resolve(path);
  }
}

/**
 * The project root for a working directory: the repository root (the nearest directory holding
 * `.git`); outside a repository, the outermost directory holding a `.buckley` directory (every
 * writable sandbox workspace gets one), else `cwd` itself. The home directory and its
 * ancestors are never a project root. Only the root's own `.buckley/config.yaml` is ever read,
 * so a file planted in a subdirectory (`app/.buckley/config.yaml`, which a sandboxed command
 * can write) shadows nothing.
 */
export function findProjectRoot(cwd: string, homeDir: string = homedir()): string {
  const start = realQuiet(cwd);
  const home = realQuiet(homeDir);
  // Home and above are out: a dotfiles repository or a `~/.buckley` must not make every directory below one project.
  const candidates: string[] = [];
  for (let dir = start; ; dir = dirname(dir)) {
    if (dir === home || isInside(dir, home) || dirname(dir) === dir) break;
    candidates.push(dir);
  }
  const repoRoot = candidates.find((dir) => lstatQuiet(join(dir, '.git')) !== undefined);
  if (repoRoot !== undefined) return repoRoot;
  const marked = candidates.findLast((dir) => lstatQuiet(join(dir, '.buckley'))?.isDirectory() === true);
  return marked ?? start;
}

/**
 * The project file: `.buckley/config.yaml` at the project root ({@link findProjectRoot}), when
 * something is there. A file that is a symbolic link (or sits in a linked `.buckley`) must
 * resolve inside the project root.
 *
 * @throws {ConfigOutsideProjectError} the file resolves outside the project root
 */
export function findProjectConfig(cwd: string, homeDir: string = homedir()): { file: string; root: string } | undefined {
  const root = findProjectRoot(cwd, homeDir);
  const dirStat = lstatQuiet(join(root, '.buckley'));
  if (dirStat === undefined) return undefined;
  const file = join(root, '.buckley', 'config.yaml');
  const fileStat = dirStat.isDirectory() || dirStat.isSymbolicLink() ? lstatQuiet(file) : undefined;
  if (fileStat === undefined) return undefined;
  let target: string;
  try {
    target = realpathSync.native(file);
  } catch (error) {
    throw new ConfigReadError(file, 'it is a symbolic link to nothing', { cause: error });
  }
  if (!isInside(root, target)) throw new ConfigOutsideProjectError(file, root, target);
  return { file, root };
}

function readLayerFile(file: string): ReturnType<typeof parseYamlLayer> | undefined {
  let text: string;
  try {
    if (!existsSync(file)) return undefined;
    if (statSync(file).isDirectory()) throw new ConfigReadError(file, 'it is a directory, expected a YAML file');
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigReadError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigReadError(file, code === 'EACCES' ? 'permission denied' : String((error as Error).message), {
      cause: error,
    });
  }
  return parseYamlLayer(file, text);
}

interface Layer {
  readonly layer: ConfigLayer;
  readonly values: Record<string, unknown>;
  readonly origin: (path: string) => ConfigOrigin;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isRecord(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function getPath(source: unknown, path: readonly (string | number)[]): unknown {
  let node = source;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

function checkTrust(file: string, layer: ReturnType<typeof parseYamlLayer>, lower: BuckleyConfig): void {
  const violations: TrustViolation[] = [];
  for (const rule of trustRules) {
    const value = getPath(layer.values, rule.path.split('.'));
    const reason = value === undefined ? undefined : rule.weakens(value, lower);
    if (reason !== undefined) {
      const pos = layer.positions.get(rule.path);
      violations.push({ path: rule.path, found: describeValue(value), line: pos?.line, column: pos?.column, allowedIn: reason });
    }
  }
  if (violations.length > 0) throw new ConfigTrustError(file, violations);
}

function envLayer(env: Readonly<Record<string, string | undefined>>, issues: ConfigIssue[]): Layer {
  const values: Record<string, unknown> = {};
  const origins = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith('BUCKLEY_')) continue;
    let path: string | undefined = envAliases[name];
    let value: unknown = raw;
    if (name === 'BUCKLEY_UNSAFE') {
      const v = raw.trim().toLowerCase();
      if (truthy.has(v)) {
        path = 'sandbox.allow_unsafe';
        value = true;
      } else if (!falsy.has(v)) {
        issues.push({
          path: 'sandbox.allow_unsafe',
          message: `BUCKLEY_UNSAFE must be 1, true, yes or on (or 0, false, no, off to leave it unset), got ${JSON.stringify(raw)}`,
          origin: { layer: 'env', env: name },
        });
      }
      // The emergency override can only turn unsafe mode on, never off.
    } else if (path === undefined && name.includes('__')) {
      path = name.slice('BUCKLEY_'.length).toLowerCase().split('__').join('.');
      value = parseYamlScalar(raw);
    }
    if (path === undefined) continue;
    setPath(values, path.split('.'), value);
    origins.set(path, name);
  }
  return {
    layer: 'env',
    values,
    origin: (path) => ({ layer: 'env', env: origins.get(path) ?? [...origins.entries()].find(([p]) => path.startsWith(`${p}.`))?.[1] ?? '' }),
  };
}

function overrideLayer(overrides: Readonly<Record<string, unknown>>): Layer {
  const values: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(overrides)) setPath(values, path.split('.'), value);
  return { layer: 'override', values, origin: () => ({ layer: 'override' }) };
}

function fileLayer(layer: 'user' | 'project', file: string, parsed: ReturnType<typeof parseYamlLayer>): Layer {
  return {
    layer,
    values: parsed.values,
    origin: (path) => {
      const parts = path.split('.');
      // A key inside a list or an unknown nested value is reported at the nearest known key.
      for (let n = parts.length; n > 0; n--) {
        const pos = parsed.positions.get(parts.slice(0, n).join('.'));
        if (pos) return { layer, file, line: pos.line, column: pos.column };
      }
      return { layer, file };
    },
  };
}

/** The merged snake_case values of all layers, and the origin of every leaf. */
function merge(layers: readonly Layer[]): { raw: Record<string, unknown>; origins: Map<string, ConfigOrigin> } {
  const raw: Record<string, unknown> = {};
  const origins = new Map<string, ConfigOrigin>();
  for (const layer of layers) {
    for (const { path, value } of leaves(layer.values)) {
      const key = path.join('.');
      // `sandbox: {}` (or an empty nested mapping) sets nothing; it must not wipe a lower layer.
      if (isRecord(value) && Object.keys(value).length === 0 && isRecord(getPath(raw, path))) continue;
      if (additiveLists.has(key) && Array.isArray(value)) {
        const prior = getPath(raw, path);
        const union = [...(Array.isArray(prior) ? prior : []), ...value].filter((v, i, all) => all.indexOf(v) === i);
        setPath(raw, path, union);
      } else {
        setPath(raw, path, value);
      }
      // A scalar replacing a section replaces the origins of everything below it.
      for (const existing of origins.keys()) if (existing.startsWith(`${key}.`)) origins.delete(existing);
      origins.set(key, layer.origin(key));
    }
  }
  return { raw, origins };
}

function issueFromZod(issue: z.core.$ZodIssue, raw: Record<string, unknown>, origins: Map<string, ConfigOrigin>): ConfigIssue[] {
  const snakePath = issue.path.map((p) => (typeof p === 'string' ? toSnake(p) : String(p)));
  const originOf = (path: string[]): ConfigOrigin => {
    for (let n = path.length; n > 0; n--) {
      const found = origins.get(path.slice(0, n).join('.'));
      if (found) return found;
      // Leaves under this prefix were set by one layer: use the first one found.
      const prefix = `${path.slice(0, n).join('.')}.`;
      for (const [k, o] of origins) if (k.startsWith(prefix)) return o;
    }
    return { layer: 'default' };
  };
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const snakeKey = key.endsWith('\u0000') ? key.slice(0, -1) : toSnake(key);
      const known = knownKeys(snakePath);
      const path = [...snakePath, snakeKey];
      const origin = originOf(path);
      // Only a key that looks like a key name is quoted back: anything else may be a line of text that was never meant as config.
      if (!KEY_NAME.test(snakeKey)) {
        return { path: [...snakePath, '(unnamed)'].join('.'), message: `unknown key that is not a key name (known: ${known.join(', ')})`, origin };
      }
      const suggestion = known.length > 0 ? closest(toSnake(snakeKey), known) : undefined;
      return {
        path: path.join('.'),
        message: `unknown key ${JSON.stringify(snakeKey)}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ''} (known: ${known.join(', ')})`,
        ...(suggestion ? { suggestion } : {}),
        origin,
      };
    });
  }
  const actual = getPath(raw, snakePath);
  let message: string;
  switch (issue.code) {
    case 'invalid_type':
      message = `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}, got ${describeValue(actual)}`;
      break;
    case 'invalid_value':
      message = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(actual)}`;
      break;
    case 'too_small':
      message = `expected ${issue.origin === 'array' ? `at least ${issue.minimum} items` : issue.origin === 'string' ? 'a non-empty string' : `a number >= ${issue.minimum}`}, got ${describeValue(actual)}`;
      break;
    case 'too_big':
      message = `expected ${issue.origin === 'array' ? `at most ${issue.maximum} items` : `a number <= ${issue.maximum}`}, got ${describeValue(actual)}`;
      break;
    case 'invalid_format':
      message = `expected ${issue.format === 'regex' ? issue.message : `a ${issue.format}`}, got ${describeValue(actual)}`;
      break;
    case 'custom':
      message = issue.message;
      break;
    default:
      message = `${issue.message}, got ${describeValue(actual)}`;
  }
  return [{ path: snakePath.join('.'), message, origin: originOf(snakePath) }];
}

/** The snake_case keys the schema knows at a path (for "did you mean"). */
function knownKeys(snakePath: readonly string[]): string[] {
  let node = unwrapObject(configSchema);
  for (const key of snakePath) {
    const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const child = node?.[camel];
    node = child ? unwrapObject(child) : undefined;
  }
  return node ? Object.keys(node).map(toSnake) : [];
}

function unwrapObject(schema: unknown): Record<string, unknown> | undefined {
  let s = schema as { def?: { type?: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown } } | undefined;
  for (let i = 0; i < 8 && s?.def; i++) {
    if (s.def.type === 'object') return s.def.shape;
    s = (s.def.innerType ?? s.def.in) as typeof s;
  }
  return undefined;
}

/**
 * Validates raw snake_case values (one merged layer stack) into a configuration. Throws
 * {@link ConfigValidationError} listing every issue; returns nothing partial.
 */
function validate(raw: Record<string, unknown>, origins: Map<string, ConfigOrigin>, preIssues: ConfigIssue[]): BuckleyConfig {
  const result = configSchema.safeParse(camelize(raw));
  const issues = [...preIssues];
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...issueFromZod(issue, raw, origins));
  }
  if (issues.length > 0) throw new ConfigValidationError(issues);
  return result.data!;
}

/**
 * Loads the effective configuration: built-in defaults < user file < project file <
 * environment (`BUCKLEY_*`) < `overrides`. Project files may not weaken safety
 * ({@link ConfigTrustError}); `sandbox.denied_paths` adds up across layers.
 *
 * Environment: `BUCKLEY_STORE_URL`, `BUCKLEY_NATS_URL`, `BUCKLEY_LOG_LEVEL`,
 * `BUCKLEY_APPROVAL_MODE`, `BUCKLEY_MODEL`, `BUCKLEY_MODEL_BASE_URL`, `BUCKLEY_UNSAFE=1`, and any
 * key as `BUCKLEY_<SECTION>__<KEY>` (for example `BUCKLEY_SANDBOX__TIMEOUT_SECONDS=30`), whose
 * value is read as a YAML scalar.
 *
 * @throws {ConfigReadError} a file exists but cannot be read
 * @throws {ConfigParseError} a file is not valid YAML (with line and column)
 * @throws {ConfigTrustError} the project file weakens the sandbox or approval
 * @throws {ConfigValidationError} unknown keys, wrong types, out-of-range values
 *
 * @example
 * ```ts
 * const { config, origins } = loadConfig({ cwd: '/repo' });
 * config.sandbox.mode; // 'workspace'
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const home = options.homeDir ?? homedir();
  const layers: Layer[] = [];
  const files: string[] = [];
  const userFile = options.userConfigPath ?? userConfigPath(env, home);
  const user = readLayerFile(userFile);
  if (user) {
    layers.push(fileLayer('user', userFile, user));
    files.push(userFile);
  }
  const project = findProjectConfig(options.cwd ?? process.cwd(), home);
  if (project && resolve(project.file) !== resolve(userFile)) {
    const parsed = readLayerFile(project.file);
    if (parsed) {
      // What the project may set is judged against the defaults and the user's own file.
      const below = merge(layers);
      checkTrust(project.file, parsed, validate(below.raw, below.origins, []));
      layers.push(fileLayer('project', project.file, parsed));
      files.push(project.file);
    }
  }
  const preIssues: ConfigIssue[] = [];
  layers.push(envLayer(env, preIssues));
  if (options.overrides) layers.push(overrideLayer(options.overrides));
  const { raw, origins } = merge(layers);
  const config = validate(raw, origins, preIssues);
  const effective = new Map<string, ConfigOrigin>();
  for (const { path } of leaves(snakeize(config))) {
    const key = path.join('.');
    effective.set(key, origins.get(key) ?? { layer: 'default' });
  }
  return { config, origins: effective, files, projectRoot: findProjectRoot(options.cwd ?? process.cwd(), home) };
}

/**
 * Validates a configuration given as a snake_case object (as in a file), filling defaults.
 * @throws {ConfigValidationError}
 */
export function parseConfig(values: Readonly<Record<string, unknown>> = {}): BuckleyConfig {
  const layer: Layer = { layer: 'override', values: values as Record<string, unknown>, origin: () => ({ layer: 'override' }) };
  const { raw, origins } = merge([layer]);
  return validate(raw, origins, []);
}

/** The built-in defaults. */
export function defaultConfig(): BuckleyConfig {
  return parseConfig({});
}

/** One line of {@link explainConfig}. */
export interface ConfigExplanation {
  /** snake_case dotted path. */
  readonly path: string;
  readonly value: unknown;
  readonly origin: ConfigOrigin;
}

/** Every effective value with the layer that set it, sorted by path. */
export function explainConfig(loaded: LoadedConfig): ConfigExplanation[] {
  const snake = snakeize(loaded.config);
  return [...loaded.origins.entries()]
    .map(([path, origin]) => ({ path, value: getPath(snake, path.split('.')), origin }))
    .toSorted((a, b) => a.path.localeCompare(b.path));
}

/** {@link explainConfig} as text, one `origin<TAB>path=value` line per key, like `git config --show-origin`. */
export function formatExplain(loaded: LoadedConfig): string {
  return explainConfig(loaded)
    .map((e) => `${formatOrigin(e.origin)}\t${e.path}=${JSON.stringify(e.value)}`)
    .join('\n');
}
