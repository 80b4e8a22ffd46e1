import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { isInside } from '@buckley/utils';
import type { Finding } from './finding.js';

/** Options of {@link validatePath}. */
export interface ValidatePathOptions {
  /** The directory the path must stay inside. It must exist; it is resolved with realpath. */
  readonly root: string;
}

/** What {@link validatePath} found. */
export interface PathValidation {
  /** True when the path stays inside the root after resolving every symlink. */
  readonly ok: boolean;
  /**
   * The real path the kernel would use: every existing component resolved through its
   * symlinks, a tail that does not exist yet appended as written. Set when `ok`.
   */
  readonly resolved?: string;
  /** Why the path was refused (empty when `ok`). */
  readonly findings: readonly Finding[];
}

/** Symlink hops before a path counts as a loop; Linux's own limit (MAXSYMLINKS) is 40. */
const maxHops = 40;

type Op = { readonly op: 'lstat' | 'readlink' | 'realpath'; readonly path: string };
type OpResult = { readonly ok: true; readonly value: string | boolean } | { readonly ok: false; readonly code: string };

function finding(ruleId: string, message: string, severity: Finding['severity'] = 'high', category: Finding['category'] = 'path_traversal'): Finding {
  return { ruleId, category, severity, confidence: 1, message };
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}

function refuse(f: Finding): PathValidation {
  return { ok: false, findings: [f] };
}

/**
 * The checks as a generator of file-system requests, so the sync and async entry points share
 * every decision and differ only in how they answer `lstat` / `readlink` / `realpath`.
 */
function* check(path: unknown, options: ValidatePathOptions): Generator<Op, PathValidation, OpResult> {
  if (typeof path !== 'string' || path.length === 0) {
    return refuse(finding('path.empty', `path must be a non-empty string, got ${JSON.stringify(path ?? null)}`, 'medium', 'invalid_input'));
  }
  if (path.includes('\0')) {
    return refuse(
      finding('path.nul-byte', `path ${JSON.stringify(path)} contains a NUL byte, which truncates it in system calls`, 'critical', 'invalid_input'),
    );
  }
  const rootResult = yield { op: 'realpath', path: resolve(options.root) };
  if (!rootResult.ok || typeof rootResult.value !== 'string') {
    return refuse(
      finding(
        'path.root-invalid',
        `root ${JSON.stringify(options.root)} cannot be resolved (${rootResult.ok ? 'not a path' : rootResult.code}); expected an existing directory`,
        'high',
        'invalid_input',
      ),
    );
  }
  const root = rootResult.value;
  const lexicalRoot = resolve(options.root);
  const lexical = resolve(lexicalRoot, path);
  if (!isInside(lexicalRoot, lexical) && !isInside(root, lexical)) {
    if (isAbsolute(path)) {
      return refuse(finding('path.outside-root', `absolute path ${JSON.stringify(path)} is outside the root ${JSON.stringify(root)}`));
    }
    return refuse(finding('path.traversal', `path ${JSON.stringify(path)} climbs out of the root with ".." segments`));
  }

  // Walk the path the way the kernel does: component by component, following each symlink
  // where it appears. Normalising ".." lexically first would be wrong: for `link/../x` the
  // kernel goes to the parent of the link's *target*, not of the link.
  let current = isAbsolute(path) ? '/' : root;
  const queue = segments(path);
  let hops = 0;
  let missing = false;
  while (queue.length > 0) {
    const segment = queue.shift()!;
    if (segment === '..') {
      current = current === '/' ? '/' : current.slice(0, Math.max(1, current.lastIndexOf('/')));
      continue;
    }
    const next = current === '/' ? `/${segment}` : `${current}/${segment}`;
    if (missing) {
      current = next;
      continue;
    }
    const stat = yield { op: 'lstat', path: next };
    if (!stat.ok) {
      // A component that does not exist yet (the file about to be written) or a file used as
      // a directory: nothing below it can be a symlink, so the rest is taken as written.
      missing = true;
      current = next;
      continue;
    }
    if (stat.value === true) {
      if (++hops > maxHops) {
        return refuse(finding('path.symlink-loop', `path ${JSON.stringify(path)} goes through more than ${maxHops} symlinks (a loop)`, 'high'));
      }
      const link = yield { op: 'readlink', path: next };
      if (!link.ok || typeof link.value !== 'string') {
        return refuse(finding('path.unreadable-link', `symlink ${JSON.stringify(next)} cannot be read (${link.ok ? 'not a path' : link.code})`, 'high'));
      }
      if (isAbsolute(link.value)) current = '/';
      queue.unshift(...segments(link.value));
      continue;
    }
    current = next;
  }
  if (!isInside(root, current)) {
    return refuse(
      finding(
        'path.symlink-escape',
        `path ${JSON.stringify(path)} resolves through a symlink to ${JSON.stringify(current)}, outside the root ${JSON.stringify(root)}`,
        'critical',
      ),
    );
  }
  return { ok: true, resolved: current, findings: [] };
}

function code(error: unknown): string {
  return typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'EUNKNOWN';
}

/**
 * Checks that `path` (relative to `root`, or absolute) stays inside `root`: no NUL byte, no
 * `..` climbing out, no absolute path elsewhere, and no symlink anywhere along it (including
 * a dangling one, or one under a tail that does not exist yet) leading out. Returns findings,
 * never throws; `resolved` is the real path to use when `ok`.
 *
 * @example
 * ```ts
 * const result = await validatePath('src/index.ts', { root: '/work/app' });
 * if (!result.ok) console.log(result.findings[0]?.message);
 * ```
 */
export async function validatePath(path: string, options: ValidatePathOptions): Promise<PathValidation> {
  const walk = check(path, options);
  let step = walk.next();
  while (!step.done) {
    const { op, path: target } = step.value;
    let answer: OpResult;
    try {
      if (op === 'lstat') answer = { ok: true, value: (await lstat(target)).isSymbolicLink() };
      else if (op === 'readlink') answer = { ok: true, value: await readlink(target) };
      else answer = { ok: true, value: await realpath(target) };
    } catch (error) {
      answer = { ok: false, code: code(error) };
    }
    step = walk.next(answer);
  }
  return step.value;
}

/** The synchronous twin of {@link validatePath}, for hot paths that cannot await. */
export function validatePathSync(path: string, options: ValidatePathOptions): PathValidation {
  const walk = check(path, options);
  let step = walk.next();
  while (!step.done) {
    const { op, path: target } = step.value;
    let answer: OpResult;
    try {
      if (op === 'lstat') answer = { ok: true, value: lstatSync(target).isSymbolicLink() };
      else if (op === 'readlink') answer = { ok: true, value: readlinkSync(target) };
      else answer = { ok: true, value: realpathSync(target) };
    } catch (error) {
      answer = { ok: false, code: code(error) };
    }
    step = walk.next(answer);
  }
  return step.value;
}
