import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { relative, resolve, sep } from 'node:path';
import type { SandboxConfig } from '@buckley/config';
import { HIDDEN_IN_WORKSPACE, READ_ONLY_IN_WORKSPACE } from '@buckley/sandbox';
import { validatePath } from '@buckley/security';
import { type ToolFailure, type WorkspaceAccess, toolDenial } from './tool.js';

/**
 * The path policy of the file tools, the same as the sandbox's for commands: confined to the
 * workspace through `@buckley/security`'s `validatePath` (symlinks, dangling ones included);
 * `.git` (read-only), `.buckley` (hidden), `protected_paths` (matched at any depth, like the
 * sandbox's copy-back) and `denied_paths` never written; `.buckley` and `denied_paths` never
 * read; no write at all in the `read_only` and `strict` modes.
 */
export function createWorkspaceAccess(
  given: string,
  config: Pick<SandboxConfig, 'mode' | 'protectedPaths' | 'deniedPaths'>,
  home = homedir(),
): WorkspaceAccess {
  // The real root: resolved paths are real, and the file tools compare against it.
  const root = realOrResolved(given);
  const readOnlyWorkspace = config.mode === 'read_only' || config.mode === 'strict';
  const protectedEntries = config.protectedPaths.map((p) => p.split('/').filter((s) => s !== '' && s !== '.')).filter((p) => p.length > 0);
  const denied = config.deniedPaths.map((p) => (p.startsWith('~/') ? resolve(home, p.slice(2)) : resolve(root, p)));
  const matchesAt = (parts: readonly string[], entry: readonly string[]) => {
    for (let start = 0; start + entry.length <= parts.length; start++) if (entry.every((s, i) => parts[start + i] === s)) return true;
    return false;
  };
  const inside = (parent: string, child: string) => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
  return {
    root,
    async resolve(path, intent) {
      if (typeof path !== 'string' || path === '') return toolDenial('invalid_path', 'path is empty, expected a workspace-relative path');
      const checked = await validatePath(path, { root });
      if (!checked.ok || checked.resolved === undefined) {
        const why = checked.findings[0]?.message ?? 'it leaves the workspace';
        return toolDenial('path_outside_workspace', `path ${JSON.stringify(path)} is outside the workspace (${why})`, { path });
      }
      const real = checked.resolved;
      const rel = relative(root, real);
      const parts = rel === '' ? [] : rel.split(sep);
      const deny = (rule: string, message: string): ToolFailure => toolDenial(rule, message, { path });
      if (parts.some((p) => HIDDEN_IN_WORKSPACE.includes(p)))
        return deny('protected_path', `path ${JSON.stringify(path)} is inside .buckley, which tools cannot touch`);
      if (denied.some((d) => inside(d, real))) return deny('protected_path', `path ${JSON.stringify(path)} is a denied path (sandbox.denied_paths)`);
      if (intent === 'write') {
        if (readOnlyWorkspace)
          return deny('write_in_read_only_mode', `sandbox mode ${config.mode} makes the workspace read-only, so ${JSON.stringify(path)} cannot be written`);
        if (parts.length === 0) return deny('protected_path', 'the workspace root itself cannot be written as a file');
        if (parts.some((p) => READ_ONLY_IN_WORKSPACE.includes(p)))
          return deny('protected_path', `path ${JSON.stringify(path)} is inside .git, which is read-only for tools`);
        const entry = protectedEntries.find((e) => matchesAt(parts, e));
        if (entry !== undefined) return deny('protected_path', `path ${JSON.stringify(path)} matches the protected path ${JSON.stringify(entry.join('/'))}`);
      }
      return { ok: true, path: real, relative: rel === '' ? '.' : rel };
    },
  };
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // A missing root: every resolve() refuses it (validatePath needs an existing root).
    return resolve(path);
  }
}
