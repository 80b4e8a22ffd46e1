import { randomBytes } from 'node:crypto';
import {
  type Stats,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isInside } from '@buckley/utils';

/**
 * Names whose creation, change or removal a run may never leave behind, at any depth and in any
 * letter case (on a case-insensitive filesystem `.GIT` is `.git`): Buckley's own directory and
 * the metadata of every version control system whose configuration can make a host tool run a
 * program (`.hg/hgrc` extensions and hooks, Sapling's `.sl/config` hooks, `.jj` repo config,
 * `.svn`, Bazaar's `.bzr` plugins, darcs' `_darcs/prefs/defaults` posthooks, Fossil's checkout
 * database and `.fossil-settings`, `.pijul`, CVS's `CVS/Root` (whose `:ext;CVS_RSH=...` method
 * options name the program `cvs` starts) and `Update.prog` / `Checkin.prog`, Monotone's
 * `_MTN/monotonerc` Lua hooks, BitKeeper's `BitKeeper/triggers`). CVS keeps a `CVS` directory
 * in every directory it manages, so any directory of that name is refused, a source directory
 * that happens to be called `cvs` too (reported, never silent). Lower case: names are compared
 * lower-cased.
 */
const NEVER_COPIED: ReadonlySet<string> = new Set([
  '.git',
  '.buckley',
  '.hg',
  '.sl',
  '.jj',
  '.svn',
  '.bzr',
  '_darcs',
  '.fslckout',
  '_fossil_',
  '.fossil-settings',
  '.pijul',
  'cvs',
  '_mtn',
  'bitkeeper',
]);

/**
 * Why a change the run made was not applied to the workspace:
 * - `protected`: git metadata, `.buckley`, a `protected_paths` entry, or a fifo, socket or device;
 * - `write_limit`: the copy would have written more than the run's write limit (a sparse file
 *   counts its full size, since the copy fills its holes), or the tree is too deep;
 * - `host_changed`: the run deleted or replaced an entry that someone else changed on the host
 *   after the run started; their change is kept;
 * - `workspace_changed`: a directory on the host was moved, removed or replaced (by a symlink,
 *   say) while the copy ran; nothing is written through it;
 * - `outside_link`: a symlink the run made leads out of the workspace (an absolute target
 *   elsewhere, `../` past the root, or through a symlink that leads out): a host tool following
 *   it would read or write the host (`notes.txt -> /etc/shadow`, `config.json -> ~/.bashrc`).
 */
export type DiscardReason = 'protected' | 'write_limit' | 'host_changed' | 'workspace_changed' | 'outside_link';

/** One change of the run that was not applied. */
interface DiscardedWrite {
  /** Workspace-relative path (`.` for the workspace itself). */
  readonly path: string;
  readonly reason: DiscardReason;
}

/** Inputs of {@link copyBack}. */
export interface CopyBackOptions {
  /** The upper layer (what the run wrote), as a path this process can open. */
  readonly upper: string;
  /** The merged view (the workspace as the run left it). */
  readonly merged: string;
  /** The workspace (a real path). */
  readonly workspace: string;
  /** Most bytes of file content the copy writes into the workspace. */
  readonly maxBytes: number;
  /** `Date.now()` when the command started: a host entry changed since then is never deleted. */
  readonly startedAtMs: number;
  /** Entries never created, changed or deleted, matched at any depth (besides {@link NEVER_COPIED}). */
  readonly protectedPaths: readonly string[];
  /** Workspace-relative entries never created or changed, matched from the root (denied paths that did not exist). */
  readonly rootPaths?: readonly string[] | undefined;
}

/** What {@link copyBack} did. */
export interface CopyBackResult {
  readonly discarded: DiscardedWrite[];
  /** Bytes of file content written into the workspace. */
  readonly bytesWritten: number;
}

/** Host timestamps come from a coarse clock (a few ms behind); entries changed this close to the start count as changed after it. */
const CLOCK_SLACK_MS = 20;
/** Deeper trees are not copied (each level holds open file descriptors). */
const MAX_DEPTH = 256;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const CHUNK = 1024 * 1024;

/** An open directory: every path below it goes through its descriptor, never through a path that could be swapped. */
function at(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

interface Context {
  readonly options: CopyBackOptions;
  readonly owner: { readonly uid: number; readonly gid: number };
  readonly chown: boolean;
  readonly cutoff: number;
  readonly protectedPaths: readonly (readonly string[])[];
  readonly rootPaths: readonly string[];
  readonly root: number;
  readonly discarded: DiscardedWrite[];
  /** First copy of each upper inode with several names: later names become hard links to it. */
  readonly links: Map<string, { path: string; ino: number }>;
  written: number;
  readonly buffer: Buffer;
}

/**
 * Applies what a run wrote (the overlay's upper layer) to the workspace, as the host user:
 * new and changed files and directories with the run's permission bits minus setuid and
 * setgid and its modification times, owned (on a root host) by the existing entry's owner or
 * else the workspace's owner; entries gone from the merged view are deleted unless someone
 * changed them on the host after the run started. Never written, changed or deleted: anything
 * named `.git` or `.buckley` or matching `protectedPaths` at any depth, and anything inside a
 * directory git would take for a repository. Fifos, sockets and devices are not copied.
 *
 * Every host path is reached through a directory descriptor opened with `O_NOFOLLOW` one
 * component at a time and checked to be where it should be in the workspace, so a host
 * process that swaps a directory for a symlink (to `/etc`, say) while the copy runs gets
 * nothing written through it; final components are only used by calls that do not follow
 * symlinks (`lstat`, `mkdir`, `rename`, `unlink`, `symlink`, `O_CREAT|O_EXCL|O_NOFOLLOW`), and
 * modes, owners and times are set on open descriptors. File content counts against
 * `maxBytes` by the bytes the copy writes (a file's full size; the copy fills holes), once per
 * inode: further hard links to a copied inode are hard links on the host too.
 */
export function copyBack(options: CopyBackOptions): CopyBackResult {
  const discarded: DiscardedWrite[] = [];
  const root = openSync(options.workspace, DIR_FLAGS);
  try {
    if (readlinkSync(`/proc/self/fd/${root}`) !== options.workspace) {
      discarded.push({ path: '.', reason: 'workspace_changed' });
      return { discarded, bytesWritten: 0 };
    }
    const st = fstatSync(root);
    const ctx: Context = {
      options,
      owner: { uid: st.uid, gid: st.gid },
      chown: process.getuid?.() === 0,
      cutoff: options.startedAtMs - CLOCK_SLACK_MS,
      protectedPaths: options.protectedPaths.map((p) => components(p)).filter((p) => p.length > 0),
      rootPaths: (options.rootPaths ?? []).map((p) => components(p).join('/')).filter((p) => p !== ''),
      root,
      discarded,
      links: new Map(),
      written: 0,
      buffer: Buffer.allocUnsafe(CHUNK),
    };
    // The staging's own paths (descriptors this process holds, under /proc/self/fd): nothing on the host can swap them.
    const up = openSync(options.upper, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      const mg = openSync(options.merged, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        walk(ctx, up, mg, root, '', 0);
      } finally {
        closeSync(mg);
      }
    } finally {
      closeSync(up);
    }
    return { discarded, bytesWritten: ctx.written };
  } finally {
    closeSync(root);
  }
}

/** The lower-cased components of a relative path: every name is compared as a case-insensitive filesystem would. */
function components(path: string): string[] {
  return path
    .toLowerCase()
    .split('/')
    .filter((s) => s !== '' && s !== '.');
}

function isProtected(ctx: Context, rel: string): boolean {
  const parts = rel.toLowerCase().split('/');
  if (parts.some((p) => NEVER_COPIED.has(p))) return true;
  const lower = parts.join('/');
  if (ctx.rootPaths.some((p) => lower === p || lower.startsWith(`${p}/`))) return true;
  return ctx.protectedPaths.some((entry) => {
    if (entry.length > parts.length) return false;
    // The entry matches a run of whole components anywhere in the path (`.vscode` matches `a/.vscode/x`).
    for (let start = 0; start + entry.length <= parts.length; start++) {
      if (entry.every((segment, i) => parts[start + i] === segment)) return true;
    }
    return false;
  });
}

/**
 * Whether git could take this directory (in the merged view) for a repository. git needs `HEAD`
 * and finds `objects`, `refs` and `config` either here or through a `commondir` file, so `HEAD`
 * beside any of those (or beside a `gitdir` file) counts; erring towards dropping is safe.
 */
function looksLikeGitDir(names: ReadonlySet<string>): boolean {
  const lower = new Set([...names].map((n) => n.toLowerCase()));
  return lower.has('head') && GIT_DIR_COMPANIONS.some((name) => lower.has(name));
}

const GIT_DIR_COMPANIONS = ['objects', 'refs', 'commondir', 'config', 'gitdir', 'packed-refs'];

/**
 * Whether the symlink the run made at `rel` (target `target`) leads to a path inside the
 * workspace: lexically (an absolute target, or a relative one from the link's directory), and
 * through the host's symlinks on the way (the longest part of it that exists, by its real path).
 */
function linkStaysInside(ctx: Context, rel: string, target: string): boolean {
  const workspace = ctx.options.workspace;
  const lexical = resolve(workspace, dirname(rel), target);
  if (!isInside(workspace, lexical)) return false;
  let existing = lexical;
  while (existing !== workspace && lstatSync(existing, { throwIfNoEntry: false }) === undefined) existing = dirname(existing);
  try {
    return isInside(workspace, realpathSync.native(existing));
  } catch {
    // A loop, or gone meanwhile: not followed.
    return false;
  }
}

/**
 * Opens the host directory `name` in `parentFd` without following a symlink, and checks that
 * it is where `rel` says in the workspace; null (and a `workspace_changed` entry) otherwise.
 */
function openHostDir(ctx: Context, parentFd: number, name: string, rel: string, report = true): number | null {
  let fd: number;
  try {
    fd = openSync(at(parentFd, name), DIR_FLAGS);
  } catch (error) {
    if (['ELOOP', 'ENOTDIR', 'ENOENT'].includes(code(error) ?? '')) {
      if (report) ctx.discarded.push({ path: rel, reason: 'workspace_changed' });
      return null;
    }
    throw error;
  }
  if (readlinkSync(`/proc/self/fd/${fd}`) !== join(ctx.options.workspace, rel)) {
    closeSync(fd);
    if (report) ctx.discarded.push({ path: rel, reason: 'workspace_changed' });
    return null;
  }
  return fd;
}

function walk(ctx: Context, up: number, mg: number, host: number, rel: string, depth: number): void {
  const mergedNames = new Set(readdirSync(`/proc/self/fd/${mg}`));
  if (looksLikeGitDir(mergedNames)) {
    ctx.discarded.push({ path: rel === '' ? '.' : rel, reason: 'protected' });
    return;
  }
  // Gone from the merged view: deleted by the run (a whiteout, or a directory replaced as a whole),
  // or created on the host after the run looked; removeStale tells them apart by change time.
  for (const name of readdirSync(`/proc/self/fd/${host}`)) {
    if (mergedNames.has(name) || name.startsWith(TEMP_PREFIX)) continue;
    const path = join(rel, name);
    if (isProtected(ctx, path)) {
      ctx.discarded.push({ path, reason: 'protected' });
      continue;
    }
    removeStale(ctx, host, name, path);
  }
  for (const name of readdirSync(`/proc/self/fd/${up}`)) {
    const path = join(rel, name);
    if (isProtected(ctx, path)) {
      ctx.discarded.push({ path, reason: 'protected' });
      continue;
    }
    const st = lstatSync(at(up, name));
    // A whiteout (character device 0:0) is a deletion, done above.
    if (st.isCharacterDevice() && st.rdev === 0) continue;
    const current = lstatSync(at(host, name), { throwIfNoEntry: false });
    const keep = current ?? ctx.owner;
    if (st.isDirectory()) {
      if (depth >= MAX_DEPTH) {
        ctx.discarded.push({ path, reason: 'write_limit' });
        continue;
      }
      copyDirectory(ctx, { up, mg, host }, name, path, st, current, keep, depth);
    } else if (st.isFile()) {
      copyFile(ctx, up, host, name, path, st, current, keep);
    } else if (st.isSymbolicLink()) {
      copyLink(ctx, up, host, name, path, current, keep);
    } else {
      ctx.discarded.push({ path, reason: 'protected' });
    }
  }
}

/** Copies a symlink the run made, unless it leads out of the workspace. */
function copyLink(ctx: Context, up: number, host: number, name: string, path: string, current: Stats | undefined, keep: { uid: number; gid: number }): void {
  const target = readlinkSync(at(up, name));
  if (!linkStaysInside(ctx, path, target)) {
    ctx.discarded.push({ path, reason: 'outside_link' });
    return;
  }
  if (current?.isDirectory() && !removeStale(ctx, host, name, path)) return;
  const temp = tempName();
  try {
    symlinkSync(target, at(host, temp));
  } catch (error) {
    if (!gone(ctx, error, path)) throw error;
    return;
  }
  if (ctx.chown) lchownSync(at(host, temp), keep.uid, keep.gid);
  renameSync(at(host, temp), at(host, name));
}

/**
 * True (and a `workspace_changed` entry) when creating in an opened host directory failed
 * because a host process removed that directory meanwhile: nothing is written for it.
 */
function gone(ctx: Context, error: unknown, path: string): boolean {
  if (code(error) !== 'ENOENT') return false;
  ctx.discarded.push({ path, reason: 'workspace_changed' });
  return true;
}

function copyDirectory(
  ctx: Context,
  fds: { up: number; mg: number; host: number },
  name: string,
  path: string,
  st: Stats,
  current: Stats | undefined,
  keep: { uid: number; gid: number },
  depth: number,
): void {
  const mg = openSync(at(fds.mg, name), DIR_FLAGS);
  try {
    if (looksLikeGitDir(new Set(readdirSync(`/proc/self/fd/${mg}`)))) {
      ctx.discarded.push({ path, reason: 'protected' });
      return;
    }
    if (current !== undefined && !current.isDirectory() && !removeStale(ctx, fds.host, name, path)) return;
    let created = false;
    if (current === undefined || !current.isDirectory()) {
      try {
        mkdirSync(at(fds.host, name), 0o700);
        created = true;
      } catch (error) {
        // Another copy made it meanwhile: use it if it is a directory (openHostDir checks).
        if (code(error) !== 'EEXIST' && !gone(ctx, error, path)) throw error;
        if (code(error) === 'ENOENT') return;
      }
    }
    const host = openHostDir(ctx, fds.host, name, path);
    if (host === null) return;
    try {
      if (created && ctx.chown) fchownSync(host, keep.uid, keep.gid);
      const up = openSync(at(fds.up, name), DIR_FLAGS);
      try {
        walk(ctx, up, mg, host, path, depth + 1);
      } finally {
        closeSync(up);
      }
      fchmodSync(host, st.mode & 0o1777);
      futimesSync(host, st.atime, st.mtime);
    } finally {
      closeSync(host);
    }
  } finally {
    closeSync(mg);
  }
}

const TEMP_PREFIX = '.buckley-copy-';

function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`;
}

function copyFile(
  ctx: Context,
  up: number,
  host: number,
  name: string,
  path: string,
  st: Stats,
  current: Stats | undefined,
  keep: { uid: number; gid: number },
): void {
  const key = `${st.dev}:${st.ino}`;
  if (st.nlink > 1) {
    const first = ctx.links.get(key);
    if (first !== undefined && linkTo(ctx, first, host, name)) return;
  }
  if (ctx.written + st.size > ctx.options.maxBytes) {
    ctx.discarded.push({ path, reason: 'write_limit' });
    return;
  }
  if (current?.isDirectory() && !removeStale(ctx, host, name, path)) return;
  const temp = tempName();
  let out: number;
  try {
    out = openSync(at(host, temp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if (!gone(ctx, error, path)) throw error;
    return;
  }
  let ino: number;
  let done = false;
  try {
    const source = openSync(at(up, name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      ctx.written += copyBytes(ctx.buffer, source, out, st.size);
    } finally {
      closeSync(source);
    }
    if (ctx.chown) fchownSync(out, keep.uid, keep.gid);
    fchmodSync(out, st.mode & 0o777);
    futimesSync(out, st.atime, st.mtime);
    ino = fstatSync(out).ino;
    done = true;
  } finally {
    closeSync(out);
    if (!done) unlinkSync(at(host, temp));
  }
  renameSync(at(host, temp), at(host, name));
  if (st.nlink > 1) ctx.links.set(key, { path, ino });
}

/** Copies at most `size` bytes (the size counted against the limit, even if the file grew). */
function copyBytes(buffer: Buffer, from: number, to: number, size: number): number {
  let copied = 0;
  while (copied < size) {
    const n = readSync(from, buffer, 0, Math.min(buffer.length, size - copied), copied);
    if (n === 0) break;
    let off = 0;
    while (off < n) off += writeSync(to, buffer, off, n - off, copied + off);
    copied += n;
  }
  return copied;
}

/** Makes `name` in `host` a hard link to the file copied first for the same upper inode; false when that file is gone or changed. */
function linkTo(ctx: Context, first: { path: string; ino: number }, host: number, name: string): boolean {
  const parts = first.path.split('/');
  const base = parts.pop()!;
  const dirs: number[] = [];
  try {
    let dir = ctx.root;
    let rel = '';
    for (const part of parts) {
      rel = join(rel, part);
      // Not reported when gone: the name is copied instead.
      const fd = openHostDir(ctx, dir, part, rel, false);
      if (fd === null) return false;
      dirs.push(fd);
      dir = fd;
    }
    const existing = lstatSync(at(dir, base), { throwIfNoEntry: false });
    if (existing === undefined || !existing.isFile() || existing.ino !== first.ino) return false;
    const temp = tempName();
    // link(2) does not follow a symlink at the source, so a swapped name links nothing outside.
    linkSync(at(dir, base), at(host, temp));
    renameSync(at(host, temp), at(host, name));
    return true;
  } catch (error) {
    if (['ENOENT', 'EXDEV', 'EMLINK', 'EPERM'].includes(code(error) ?? '')) return false;
    throw error;
  } finally {
    for (const fd of dirs) closeSync(fd);
  }
}

/**
 * Deletes a host entry the run deleted, keeping what someone else changed on the host after the
 * run started (and every protected entry inside). True when the entry is gone.
 */
function removeStale(ctx: Context, parent: number, name: string, path: string): boolean {
  const st = lstatSync(at(parent, name), { throwIfNoEntry: false });
  if (st === undefined) return true;
  if (!st.isDirectory()) {
    if (st.ctimeMs >= ctx.cutoff) {
      ctx.discarded.push({ path, reason: 'host_changed' });
      return false;
    }
    try {
      unlinkSync(at(parent, name));
    } catch (error) {
      if (code(error) !== 'ENOENT') throw error;
    }
    return true;
  }
  // A directory changed since the start but not written in (moved in, chmod) is kept whole; one
  // written in since (another run's files) loses only its old entries.
  if (st.ctimeMs >= ctx.cutoff && st.mtimeMs < ctx.cutoff) {
    ctx.discarded.push({ path, reason: 'host_changed' });
    return false;
  }
  const fd = openHostDir(ctx, parent, name, path);
  if (fd === null) return false;
  let empty = true;
  try {
    for (const child of readdirSync(`/proc/self/fd/${fd}`)) {
      const inner = join(path, child);
      if (isProtected(ctx, inner)) {
        ctx.discarded.push({ path: inner, reason: 'protected' });
        empty = false;
      } else if (!removeStale(ctx, fd, child, inner)) {
        empty = false;
      }
    }
  } finally {
    closeSync(fd);
  }
  if (!empty) return false;
  // Written in since the start (and emptied again): someone else's directory now.
  if (st.ctimeMs >= ctx.cutoff) {
    ctx.discarded.push({ path, reason: 'host_changed' });
    return false;
  }
  try {
    rmdirSync(at(parent, name));
  } catch (error) {
    if (code(error) === 'ENOTEMPTY' || code(error) === 'EEXIST') {
      ctx.discarded.push({ path, reason: 'host_changed' });
      return false;
    }
    if (code(error) !== 'ENOENT') throw error;
  }
  return true;
}
