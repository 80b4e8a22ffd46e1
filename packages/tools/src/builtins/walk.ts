import { type Dirent, constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { descriptorPath, openRegularFile, openedExactly } from './common.js';

/** One entry of a walk: its workspace-relative path (with `/`) and kind. */
export interface WalkEntry {
  readonly path: string;
  readonly kind: 'file' | 'directory' | 'symlink';
}

/**
 * Walks `start` (inside `root`) depth-first in name order, honouring every `.gitignore` from
 * `root` down (nested ones apply below their directory) and never entering `.git`. Symlinks
 * are listed, never followed, and a directory is read only through a descriptor that holds
 * exactly the expected real path (one replaced by a symlink mid-walk is skipped). Stops after
 * `max` entries (then `truncated`). A directory this process may not read is left out and its
 * workspace-relative path listed in `unreadable`.
 */
export async function walkWorkspace(
  root: string,
  start: string,
  options: { max: number; signal?: AbortSignal; files?: boolean },
): Promise<{ entries: WalkEntry[]; truncated: boolean; unreadable: string[] }> {
  const entries: WalkEntry[] = [];
  const unreadable: string[] = [];
  const rules: { base: string; ig: Ignore }[] = [];
  const loadRules = async (dir: string) => {
    const opened = await openRegularFile(join(dir, '.gitignore')).catch(() => null);
    if (opened === null || !opened.ok) return null;
    try {
      return { base: dir, ig: ignore().add(await opened.handle.readFile('utf8')) };
    } catch {
      return null;
    } finally {
      await opened.handle.close();
    }
  };
  // .gitignore files of the directories above `start` apply too.
  const ancestors: string[] = [];
  for (let dir = start; ;) {
    ancestors.unshift(dir);
    if (dir === root) break;
    const parent = join(dir, '..');
    if (parent === dir || relative(root, parent).startsWith('..')) break;
    dir = parent;
  }
  for (const dir of ancestors.slice(0, -1)) {
    const r = await loadRules(dir);
    if (r !== null) rules.push(r);
  }
  const ignored = (abs: string, isDir: boolean, active: readonly { base: string; ig: Ignore }[]) =>
    active.some(({ base, ig }) => {
      const rel = relative(base, abs).split(sep).join('/');
      return rel !== '' && !rel.startsWith('..') && ig.ignores(isDir ? `${rel}/` : rel);
    });
  let truncated = false;
  const visit = async (dir: string, active: readonly { base: string; ig: Ignore }[]): Promise<void> => {
    options.signal?.throwIfAborted();
    const own = await loadRules(dir);
    const here = own === null ? active : [...active, own];
    const list = await readDirectoryExactly(dir);
    if (list === 'unreadable') unreadable.push(relative(root, dir).split(sep).join('/') || '.');
    if (!Array.isArray(list)) return;
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of list) {
      if (truncated) return;
      if (d.name === '.git' || d.name === '.buckley') continue;
      const abs = join(dir, d.name);
      const isDir = d.isDirectory();
      if (ignored(abs, isDir, here)) continue;
      const path = relative(root, abs).split(sep).join('/');
      const kind = isDir ? 'directory' : d.isSymbolicLink() ? 'symlink' : 'file';
      if (!(options.files === true && kind !== 'file')) {
        if (entries.length >= options.max) {
          truncated = true;
          return;
        }
        entries.push({ path, kind });
      }
      if (isDir) await visit(abs, here);
    }
  };
  await visit(start, rules);
  return { entries, truncated, unreadable };
}

/** The entries of `dir` (a real path); `unreadable` when this process may not read it, null when it is gone or no longer that directory. */
async function readDirectoryExactly(dir: string): Promise<Dirent[] | 'unreadable' | null> {
  const denied = (error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? ('unreadable' as const) : null;
  };
  let handle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    return denied(error);
  }
  try {
    if (!(await openedExactly(handle, dir))) return null;
    return await readdir(descriptorPath(handle.fd), { withFileTypes: true });
  } catch (error) {
    return denied(error);
  } finally {
    await handle.close();
  }
}
