import { type Stats, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isInside } from '@buckley/utils';

/**
 * Paths under the user's home that are hidden (an empty read-only directory or `/dev/null` is
 * mounted over them): credentials and agent sockets a command has no business reading.
 */
export const HOME_SECRETS: readonly string[] = [
  '.ssh',
  '.aws',
  '.gnupg',
  '.azure',
  '.kube',
  '.docker',
  '.config/gcloud',
  '.config/gh',
  '.netrc',
  '.git-credentials',
  '.npmrc',
  '.pypirc',
  '.password-store',
  '.vault-token',
  '.buckley',
];

/** Root-only secrets outside any home, hidden from every run (when present). */
export const SYSTEM_SECRETS: readonly string[] = [
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/etc/ssl/private',
  '/etc/ssh/ssh_host_*_key',
];

function systemSecrets(): string[] {
  return SYSTEM_SECRETS.flatMap((pattern) => {
    if (!pattern.includes('*')) return [pattern];
    const dir = dirname(pattern);
    const [prefix, suffix] = pattern.slice(dir.length + 1).split('*') as [string, string];
    try {
      return readdirSync(dir)
        .filter((name) => name.startsWith(prefix) && name.endsWith(suffix))
        .map((name) => join(dir, name));
    } catch {
      return [];
    }
  });
}

/**
 * Paths inside every writable root that stay readable but never writable: the whole `.git`
 * entry (a directory, or the gitfile of a worktree or submodule). Git runs hooks and reads
 * config on the host, and protecting only `.git/hooks` and `.git/config` is defeated by
 * `mv .git .git-old && mkdir .git`; a bind mount point cannot be renamed or replaced. Git
 * commands that write (`commit`, `add`, `checkout`) therefore fail inside the sandbox: they
 * create lock files in the `.git` directory itself.
 */
export const READ_ONLY_IN_WORKSPACE: readonly string[] = ['.git'];

/** Paths inside every writable root that are hidden: Buckley's own state and project config. */
export const HIDDEN_IN_WORKSPACE: readonly string[] = ['.buckley'];

/** Resolves `~/` against `home` and relative paths against `base`. */
export function expandPath(path: string, home: string, base: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(base, path);
}

/** True when something (even a dangling symlink) is at `path`. */
function exists(path: string): boolean {
  return lstatQuiet(path) !== undefined;
}

/** `lstat`, or undefined when nothing is there or a parent is not a directory (`.git` is a file in a worktree). */
function lstatQuiet(path: string): Stats | undefined {
  try {
    // No exception for the usual answer (most protected paths are absent): throwing costs more than the syscall.
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * The real path, or null when nothing (or a dangling symlink) is there. The kernel's
 * `realpath` (one call) rather than Node's, which lstats every component from JavaScript: this
 * runs ~20 times per command, on the path before the process is taken.
 */
function real(path: string): string | null {
  if (!exists(path)) return null;
  try {
    return realpathSync.native(path);
  } catch {
    return null;
  }
}

/** The filesystem view of one run, computed from the host before bubblewrap starts. */
export interface MountPlan {
  /** Real path of the workspace. */
  readonly workspace: string;
  /** Whether the workspace is bound read-write. */
  readonly writable: boolean;
  /** Re-bound read-only inside the writable workspace. */
  readonly readOnly: readonly string[];
  /** Hidden behind an empty read-only tmpfs. */
  readonly hiddenDirs: readonly string[];
  /** Hidden behind `/dev/null`. */
  readonly hiddenFiles: readonly string[];
  /**
   * Workspace-relative denied paths that did not exist: not masked (nothing to read), and the
   * copy-back of the run's overlay never applies them.
   */
  readonly missingDenied?: readonly string[] | undefined;
  /** Whether the command gets the host network. */
  readonly network: boolean;
  /** Size of the private `/tmp`, in bytes. */
  readonly tmpBytes: number;
  /** Homes hidden behind an empty read-only tmpfs, each with its allow-listed entries (existing ones) bound read-only. */
  readonly homes: readonly HiddenHome[];
}

/** A home hidden from the run, with what stays readable in it. */
export interface HiddenHome {
  readonly path: string;
  readonly allow: readonly string[];
}

/** Inputs of {@link planMounts}. */
export interface PlanMountsInput {
  readonly workspace: string;
  readonly writable: boolean;
  readonly home: string;
  readonly deniedPaths: readonly string[];
  readonly network: boolean;
  readonly tmpBytes: number;
  /** Home entries (`~/...` or absolute inside the home) that stay readable; the rest of the home is hidden. */
  readonly homeAllow: readonly string[];
  /** Other homes hidden the same way (a root host: the host user's own home when `home` is another). */
  readonly otherHomes?: readonly string[] | undefined;
}

/**
 * Computes which paths to mask. Only existing paths can be masked; a symlinked protected path is
 * masked at its target. In a writable workspace `.git` (directory or gitfile) is re-bound
 * read-only, and a missing `.buckley` is created empty first, so the command cannot plant a
 * hook or a config that later takes effect on the host.
 */
export function planMounts(input: PlanMountsInput): MountPlan {
  const workspace = real(input.workspace) ?? resolve(input.workspace);
  const readOnly = new Set<string>();
  const hiddenDirs = new Set<string>();
  const hiddenFiles = new Set<string>();

  const hide = (path: string) => {
    const target = real(path);
    if (target === null || target === '/') return;
    if (statSync(target).isDirectory()) hiddenDirs.add(target);
    else hiddenFiles.add(target);
  };

  // A protected or denied path inside the workspace that does not exist is not created on the
  // host to be masked (a run leaves nothing that was not there): the run writes only to its
  // overlay, and the copy-back never applies `.buckley` or these paths (`missingDenied`).
  const missingDenied: string[] = [];
  if (input.writable) {
    for (const denied of input.deniedPaths) {
      const path = expandPath(denied, input.home, workspace);
      if (path !== workspace && isInside(workspace, path) && !exists(path)) missingDenied.push(relative(workspace, path));
    }
    for (const rel of READ_ONLY_IN_WORKSPACE) {
      const target = real(join(workspace, rel));
      if (target !== null && isInside(workspace, target)) readOnly.add(target);
    }
  }
  const homes: HiddenHome[] = [];
  for (const path of new Set([input.home, ...(input.otherHomes ?? [])])) {
    const home = real(path);
    if (
      home === null ||
      home === '/' ||
      !statSync(home).isDirectory() ||
      isInside(workspace, home) ||
      homes.some((h) => isInside(h.path, path) || isInside(path, h.path))
    )
      continue;
    const allow = input.homeAllow.map((p) => expandPath(p, path, path)).filter((p) => p !== path && isInside(path, p) && exists(p));
    homes.push({ path, allow });
  }
  // Inside a hidden home only what is visible needs a mask: the allowed entries and the workspace.
  const visible = (path: string) =>
    isInside(workspace, path) || homes.every((h) => !isInside(h.path, path) || h.allow.some((allowed) => isInside(allowed, path) || isInside(path, allowed)));
  for (const rel of HIDDEN_IN_WORKSPACE) hide(join(workspace, rel));
  for (const rel of HOME_SECRETS) if (visible(join(input.home, rel))) hide(join(input.home, rel));
  for (const denied of input.deniedPaths) {
    const path = expandPath(denied, input.home, workspace);
    if (visible(path)) hide(path);
  }
  for (const path of systemSecrets()) hide(path);

  return {
    workspace,
    writable: input.writable,
    readOnly: [...readOnly],
    hiddenDirs: [...hiddenDirs],
    hiddenFiles: [...hiddenFiles],
    missingDenied,
    network: input.network,
    tmpBytes: input.tmpBytes,
    homes,
  };
}

/**
 * The outermost ancestor of `path` (not `path` itself) that a process of `uid`, in no group of
 * the ancestors, cannot enter; null when every ancestor is open to it, or when that ancestor is
 * a hidden home or inside one (its empty tmpfs already gives the way in).
 */
export function closedAncestor(path: string, uid: number, gid: number, homes: readonly HiddenHome[] = []): string | null {
  let dir = '/';
  for (const part of path
    .split(sep)
    .filter((p) => p !== '')
    .slice(0, -1)) {
    dir = join(dir, part);
    const st = lstatQuiet(dir);
    if (st === undefined) return null;
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return homes.some((h) => isInside(h.path, dir)) ? null : dir;
  }
  return null;
}

/** Options of {@link bwrapArgs} besides the mount plan. */
export interface BwrapArgsInput {
  readonly plan: MountPlan;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly argv: readonly string[];
  /** Host uid; root is mapped to an unprivileged uid inside so that no capability survives. */
  readonly hostUid: number;
  /** Real path of `/etc/resolv.conf` when it lives under `/run` (re-bound when the network is on). */
  readonly resolvConf?: string | null | undefined;
  /**
   * Where bubblewrap finds the workspace when it is not the workspace path itself (a root host:
   * the overlay the isolation helper mounted); paths inside the workspace are bound from there.
   */
  readonly stagedWorkspace?: string | undefined;
  /**
   * An ancestor of the workspace the command's uid cannot enter (a 0700 directory of root's):
   * an empty read-only tmpfs is put there so that the workspace can be bound inside it.
   */
  readonly closedAncestor?: string | null | undefined;
  /** Where bubblewrap finds the i-th allowed home entry (in `plan.homes` order) when not at its own path (a root host: staged by the helper). */
  readonly homeAllowSources?: readonly string[] | undefined;
}

/**
 * The bubblewrap argument vector for one run: new user, PID, IPC, UTS (and network) namespaces,
 * every capability dropped, the host filesystem read-only, a private `/tmp`, `/run` and `/dev`,
 * the workspace bound (read-write or read-only), protected paths re-bound read-only or hidden,
 * a cleared environment. Pure: no I/O.
 */
export function bwrapArgs(input: BwrapArgsInput): string[] {
  const { plan } = input;
  const a: string[] = [
    '--die-with-parent',
    '--new-session',
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--disable-userns',
    '--cap-drop',
    'ALL',
    '--hostname',
    'sandbox',
  ];
  if (input.hostUid === 0) a.push('--uid', '1000', '--gid', '1000');
  if (!plan.network) a.push('--unshare-net');
  // bubblewrap's own check that /proc/sys stays read-only runs as the inside uid; bind it read-only in every mode.
  a.push('--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys');
  a.push('--size', String(plan.tmpBytes), '--tmpfs', '/tmp');
  // /run holds host sockets (docker, postgres, dbus) that a read-only bind would still let a command connect to.
  a.push('--tmpfs', '/run');
  if (plan.network && input.resolvConf) a.push('--ro-bind', input.resolvConf, input.resolvConf);
  a.push('--remount-ro', '/run');
  const staged = input.stagedWorkspace;
  const source = (path: string) => (staged === undefined ? path : staged + path.slice(plan.workspace.length));
  if (input.closedAncestor) a.push('--tmpfs', input.closedAncestor);
  let allowed = 0;
  for (const home of plan.homes) {
    a.push('--tmpfs', home.path);
    for (const path of home.allow) a.push('--ro-bind', input.homeAllowSources?.[allowed++] ?? path, path);
  }
  a.push(plan.writable ? '--bind' : '--ro-bind', source(plan.workspace), plan.workspace);
  if (input.closedAncestor) a.push('--remount-ro', input.closedAncestor);
  for (const home of plan.homes) a.push('--remount-ro', home.path);
  for (const path of plan.readOnly) a.push('--ro-bind', source(path), path);
  for (const path of plan.hiddenDirs) a.push('--tmpfs', path, '--remount-ro', path);
  for (const path of plan.hiddenFiles) a.push('--ro-bind', '/dev/null', path);
  a.push('--clearenv');
  for (const [name, value] of Object.entries(input.env)) a.push('--setenv', name, value);
  a.push('--chdir', input.cwd, '--', ...input.argv);
  return a;
}
