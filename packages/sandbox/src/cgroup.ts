import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** One cgroup or cgroup2 mount from `/proc/self/mountinfo`. */
export interface CgroupMount {
  readonly mountPoint: string;
  /** The path inside the hierarchy that is mounted at `mountPoint` (usually `/`). */
  readonly root: string;
  readonly fsType: 'cgroup' | 'cgroup2';
  /** v1 controllers of the hierarchy (`pids`, `memory`, ...), from the super options. */
  readonly controllers: readonly string[];
}

/** Where the limits of a run can be placed. */
export type CgroupSupport =
  { readonly version: 1; readonly pids: string; readonly memory: string | null } | { readonly version: 2; readonly dir: string; readonly memory: boolean };

/** Result of {@link detectCgroups}: the support found, or why there is none. */
export type CgroupDetection = { readonly ok: true; readonly support: CgroupSupport } | { readonly ok: false; readonly reason: string };

/** Parses `/proc/<pid>/cgroup`: v1 controller -> path, and `''` -> the v2 path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses the cgroup and cgroup2 lines of `/proc/<pid>/mountinfo`. */
export function parseMountInfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    const fsType = post[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const superOptions = (post[2] ?? '').split(',');
    out.push({
      mountPoint: unescapeMount(pre[4] ?? ''),
      root: unescapeMount(pre[3] ?? '/'),
      fsType,
      controllers: fsType === 'cgroup' ? superOptions.filter((o) => o !== 'rw' && o !== 'ro') : [],
    });
  }
  return out;
}

/** The directory of the cgroup at `path` (a `/proc/self/cgroup` path) under `mount`, or null when the mount does not contain it. */
export function cgroupDir(mount: CgroupMount, path: string): string | null {
  const rel = posix.relative(mount.root, path);
  if (rel.startsWith('..')) return null;
  return join(mount.mountPoint, rel);
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Finds where this process may create child cgroups with a process limit (required) and a memory
 * limit (optional): a v1 `pids` hierarchy (plus `memory`), or a v2 hierarchy whose own cgroup
 * delegates the `pids` controller. Prefers v1 when `pids` is mounted there, since a hybrid host
 * binds controllers to v1 and leaves v2 empty.
 */
export function detectCgroups(procCgroup = readText('/proc/self/cgroup'), mountInfo = readText('/proc/self/mountinfo')): CgroupDetection {
  const paths = parseProcCgroup(procCgroup);
  const mounts = parseMountInfo(mountInfo);
  const v1 = (controller: string): string | null => {
    const path = paths.get(controller);
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.controllers.includes(controller));
    if (path === undefined || mount === undefined) return null;
    const dir = cgroupDir(mount, path);
    return dir !== null && existsSync(dir) && writable(dir) ? dir : null;
  };
  const pids = v1('pids');
  if (pids !== null) return { ok: true, support: { version: 1, pids, memory: v1('memory') } };

  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  const path = paths.get('');
  if (unified !== undefined && path !== undefined) {
    const dir = cgroupDir(unified, path);
    if (dir !== null && existsSync(dir) && writable(dir)) {
      const available = readText(join(dir, 'cgroup.controllers')).split(/\s+/);
      if (available.includes('pids')) {
        const wanted = ['pids', ...(available.includes('memory') ? ['memory'] : [])];
        const enabled = readText(join(dir, 'cgroup.subtree_control')).split(/\s+/);
        const missing = wanted.filter((c) => !enabled.includes(c));
        if (missing.length > 0) {
          try {
            writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
          } catch (error) {
            return {
              ok: false,
              reason: `cgroup v2 at ${JSON.stringify(dir)} cannot delegate ${missing.join(', ')} to children (${(error as Error).message}); run Buckley in a delegated cgroup, e.g. systemd-run --user --scope -p Delegate=yes`,
            };
          }
        }
        return { ok: true, support: { version: 2, dir, memory: wanted.includes('memory') } };
      }
      return { ok: false, reason: `cgroup v2 at ${JSON.stringify(dir)} has no pids controller` };
    }
  }
  return { ok: false, reason: 'no writable cgroup with a pids controller (neither v1 pids hierarchy nor delegated cgroup v2)' };
}

/** Reads counter `key` from a flat-keyed cgroup file such as `pids.events`; 0 when absent. */
function counter(file: string, key: string): number {
  return counterIn(readText(file), key);
}

function counterIn(text: string, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Limits written into a run's cgroup. */
export interface CgroupLimits {
  readonly maxProcesses: number;
  readonly maxMemoryBytes: number;
}

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

/**
 * One child cgroup per run: created with its limits before the command starts, joined by the
 * launcher before it execs bubblewrap, emptied and removed afterwards.
 */
export class RunCgroup {
  /** The directories of this cgroup (one per v1 hierarchy, or one v2 directory). */
  readonly dirs: readonly string[];
  readonly #support: CgroupSupport;

  private constructor(support: CgroupSupport, dirs: string[]) {
    this.#support = support;
    this.dirs = dirs;
  }

  /** Creates the cgroup and writes its limits; throws when the kernel refuses. */
  static create(support: CgroupSupport, name: string, limits: CgroupLimits): RunCgroup {
    const dirs: string[] = [];
    const cg = new RunCgroup(support, dirs);
    try {
      if (support.version === 1) {
        const pids = join(support.pids, name);
        mkdirSync(pids);
        dirs.push(pids);
        writeFileSync(join(pids, 'pids.max'), String(limits.maxProcesses));
        if (support.memory !== null) {
          const memory = join(support.memory, name);
          mkdirSync(memory);
          dirs.push(memory);
          writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.maxMemoryBytes));
          // Swap must not extend the limit; the file exists only with swap accounting on.
          tryWrite(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.maxMemoryBytes));
        }
      } else {
        const dir = join(support.dir, name);
        mkdirSync(dir);
        dirs.push(dir);
        writeFileSync(join(dir, 'pids.max'), String(limits.maxProcesses));
        if (support.memory) {
          writeFileSync(join(dir, 'memory.max'), String(limits.maxMemoryBytes));
          tryWrite(join(dir, 'memory.swap.max'), '0');
        }
      }
    } catch (error) {
      cg.remove();
      throw error;
    }
    return cg;
  }

  /** The `cgroup.procs` files a process must write its pid into to join. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /**
   * Moves process `pid` into every directory of the cgroup, off the event loop. On cgroup v1 a
   * move waits for an RCU grace period (several milliseconds on a loaded host), so the caller
   * does this while bubblewrap is still setting up its namespaces, not before spawning it.
   */
  async join(pid: number): Promise<void> {
    for (const file of this.procsFiles) await writeFile(file, String(pid));
  }

  /** How many forks the kernel has refused in this cgroup because `pids.max` was reached. */
  async refusedForks(): Promise<number> {
    const dir = this.dirs[0];
    if (dir === undefined) return 0;
    try {
      return counterIn(await readFile(join(dir, 'pids.events'), 'utf8'), 'max');
    } catch {
      return 0;
    }
  }

  /** Pids currently in the cgroup. */
  pids(): number[] {
    const dir = this.dirs[0];
    if (dir === undefined) return [];
    return readText(join(dir, 'cgroup.procs'))
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  }

  /** Sends `signal` to every process in the cgroup; returns how many were signalled. */
  killAll(signal: NodeJS.Signals): number {
    if (this.#support.version === 2 && signal === 'SIGKILL' && tryWrite(join(this.dirs[0]!, 'cgroup.kill'), '1')) {
      return this.pids().length;
    }
    let n = 0;
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
        n++;
      } catch {
        // Already gone.
      }
    }
    return n;
  }

  /** Whether the kernel refused a fork (`pids`) or killed for memory (`memory`) in this cgroup. */
  limitsHit(): Array<'memory' | 'processes'> {
    const hit: Array<'memory' | 'processes'> = [];
    if (this.#support.version === 1) {
      const [pids, memory] = this.dirs;
      if (pids !== undefined && counter(join(pids, 'pids.events'), 'max') > 0) hit.push('processes');
      if (memory !== undefined && counter(join(memory, 'memory.oom_control'), 'oom_kill') > 0) hit.push('memory');
    } else {
      const dir = this.dirs[0]!;
      if (counter(join(dir, 'pids.events'), 'max') > 0) hit.push('processes');
      if (counter(join(dir, 'memory.events'), 'oom_kill') > 0) hit.push('memory');
    }
    return hit;
  }

  /** Removes the cgroup directories; returns false when a directory is still busy. */
  remove(): boolean {
    let ok = true;
    for (const dir of this.dirs.toReversed()) {
      try {
        rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
      }
    }
    return ok;
  }
}

/**
 * Reaps the run cgroups (`buckley-<pid>-...`) of Buckley processes that are gone (exited, or
 * killed with kill -9 in the middle of a run): whatever still runs in them is killed (their
 * owner is not there to collect it), and each directory is removed, retried in the background
 * while the kernel releases it. Cgroups of live processes, this one included, are never
 * touched (a pid reused by another process keeps its cgroups until that one exits). Returns
 * how many were removed at once.
 */
export function sweepStaleCgroups(support: CgroupSupport): number {
  const parents = support.version === 1 ? [support.pids, ...(support.memory === null ? [] : [support.memory])] : [support.dir];
  let removed = 0;
  const busy: string[] = [];
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = /^buckley-(\d+)-/.exec(name);
      if (match === null || Number(match[1]) === process.pid || isAlive(Number(match[1]))) continue;
      const dir = join(parent, name);
      if (reap(dir)) removed++;
      else busy.push(dir);
    }
  }
  if (busy.length > 0) retryReap(busy, 1);
  return removed;
}

/** Kills what is left in a dead owner's cgroup and removes it; false while it is still busy. */
function reap(dir: string): boolean {
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  } catch {
    // Gone meanwhile.
  }
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The kernel releases a killed tree within milliseconds; a few seconds in all, off the caller's path. */
function retryReap(dirs: readonly string[], attempt: number): void {
  if (attempt > 40) return;
  const timer = setTimeout(() => {
    const left = dirs.filter((dir) => !reap(dir));
    if (left.length > 0) retryReap(left, attempt + 1);
  }, 50);
  timer.unref();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
