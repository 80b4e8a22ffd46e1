import { BuckleyError, type BuckleyErrorOptions } from '@buckley/utils';

/** Which layer of configuration set a value, lowest first. */
export type ConfigLayer = 'default' | 'user' | 'project' | 'env' | 'override';

/** Where an effective value came from, like `git config --show-origin`. */
export interface ConfigOrigin {
  readonly layer: ConfigLayer;
  /** The YAML file, for the `user` and `project` layers. */
  readonly file?: string;
  /** 1-based line and column of the key in `file`. */
  readonly line?: number;
  readonly column?: number;
  /** The environment variable, for the `env` layer. */
  readonly env?: string;
}

/** Renders an origin as `file:/path:3:5`, `env:BUCKLEY_X`, `override` or `default`. */
export function formatOrigin(origin: ConfigOrigin): string {
  if (origin.file !== undefined) {
    return `file:${origin.file}${origin.line === undefined ? '' : `:${origin.line}:${origin.column ?? 1}`}`;
  }
  if (origin.env !== undefined) return `env:${origin.env}`;
  return origin.layer;
}

function describeOrigin(origin: ConfigOrigin): string {
  if (origin.file !== undefined) return origin.line === undefined ? origin.file : `${origin.file}:${origin.line}:${origin.column ?? 1}`;
  if (origin.env !== undefined) return `environment variable ${origin.env}`;
  return origin.layer === 'override' ? 'explicit overrides' : origin.layer;
}

/** The base of every configuration error. */
export class ConfigError extends BuckleyError {}

/** A configuration file exists but could not be read. */
export class ConfigReadError extends ConfigError {
  readonly path: string;
  constructor(path: string, reason: string, options?: BuckleyErrorOptions) {
    super('CONFIG_READ', `cannot read config file ${JSON.stringify(path)}: ${reason}`, options);
    this.path = path;
  }
}

/**
 * The project's `.buckley/config.yaml` (or its `.buckley` directory) is a symbolic link that
 * resolves outside the project root. Refused before anything is read: a link planted in a
 * repository could otherwise feed a file of the host (its content into error messages, its
 * keys into the configuration). Links that stay inside the project are followed.
 */
export class ConfigOutsideProjectError extends ConfigError {
  /** The project file as found (`<root>/.buckley/config.yaml`). */
  readonly file: string;
  /** The project root it must stay inside. */
  readonly root: string;
  /** Where the link leads (its real path). */
  readonly target: string;
  constructor(file: string, root: string, target: string, options?: BuckleyErrorOptions) {
    super(
      'CONFIG_OUTSIDE_PROJECT',
      `project config ${JSON.stringify(file)} links to ${JSON.stringify(target)}, outside the project ${JSON.stringify(root)}; expected a file inside the project (settings shared across projects belong in the user config)`,
      options,
    );
    this.file = file;
    this.root = root;
    this.target = target;
  }
}

/**
 * A configuration file is not valid YAML, or its top level is not a mapping. The message gives
 * the position and the kind of mistake, never the text found there.
 */
export class ConfigParseError extends ConfigError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, reason: string, options?: BuckleyErrorOptions) {
    super('CONFIG_PARSE', `malformed YAML in ${file}:${line}:${column}: ${reason}`, options);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** One problem found while validating the merged configuration. */
export interface ConfigIssue {
  /** snake_case key path, e.g. `sandbox.timeout_seconds`. */
  readonly path: string;
  /** What is wrong, e.g. `expected an integer >= 1, got 0`. */
  readonly message: string;
  /** For an unknown key: the closest known key at that level. */
  readonly suggestion?: string;
  /** The layer (and file, line or variable) that set the bad value. */
  readonly origin: ConfigOrigin;
}

/**
 * The merged configuration breaks the schema: unknown keys, wrong types, out-of-range values,
 * or a rule across keys. Carries every issue found; no partial configuration is returned.
 */
export class ConfigValidationError extends ConfigError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: BuckleyErrorOptions) {
    const lines = issues.map((i) => {
      const where = i.origin.layer === 'default' ? '' : ` (set in ${describeOrigin(i.origin)})`;
      return `${i.path}: ${i.message}${where}`;
    });
    super('CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, options);
    this.issues = issues;
  }
}

/**
 * A value as config errors show it: numbers, booleans and null as they are, anything else by
 * its kind only (`a string`, `a list of 3 items`, `a mapping`). Strings never appear in an
 * error: they may be a password in a URL, or a line of a file that should never have been read.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return JSON.stringify(value);
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (Array.isArray(value)) return value.length === 1 ? 'a list of 1 item' : `a list of ${value.length} items`;
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

/** A setting a project file may not make, and where it could be set instead. */
export interface TrustViolation {
  readonly path: string;
  /** The refused value as {@link describeValue} shows it (never the text of a string). */
  readonly found: string;
  readonly line?: number;
  readonly column?: number;
  /** Where such a setting may live. */
  readonly allowedIn: string;
}

/**
 * A project's `.buckley/config.yaml` tried to weaken safety. The project file comes with the
 * repository, so it may only tighten what the user allows.
 */
export class ConfigTrustError extends ConfigError {
  readonly file: string;
  readonly violations: readonly TrustViolation[];
  constructor(file: string, violations: readonly TrustViolation[], options?: BuckleyErrorOptions) {
    const lines = violations.map((v) => `${v.path}: ${v.found} at ${file}:${v.line ?? 1}:${v.column ?? 1} is not allowed in a project file; ${v.allowedIn}`);
    super('CONFIG_UNTRUSTED', `project config ${file} may not weaken safety:\n  ${lines.join('\n  ')}`, options);
    this.file = file;
    this.violations = violations;
  }
}
