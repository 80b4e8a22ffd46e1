import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmdirSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * How a command runs when the host user is root: never as real uid 0. A constant Perl helper
 * (run as root, never built from input) gives the run a private mount namespace in which it
 * mounts a size-limited tmpfs on {@link STAGING_DIR}, an idmapped view of the workspace (its
 * owner shown as the sandbox uid) under it, and an overlay on that view whose upper layer is in
 * the tmpfs; it then drops to the sandbox uid and gid (no supplementary groups) and execs
 * bubblewrap, which builds an unprivileged user namespace from there. The command writes only
 * to the upper layer; after the run the sandbox copies that layer into the workspace
 * (`copy-back.ts`). When the run ends the namespace goes away and with it every mount.
 */
export const STAGING_DIR = '/run/buckley-sandbox';

/** The helper writes one byte here once the mounts are in place (3 and 4 are bubblewrap's info and block fds, 5 its seccomp filter). */
export const HELPER_READY_FD = 6;
/** The helper reads the NUL-separated argv it execs (bubblewrap and its options) from here. */
export const HELPER_ARGV_FD = 7;

/** Default sandbox uid and gid on a root host without a `buckley-sandbox` user: far above login and subordinate ranges. */
const DEFAULT_SANDBOX_ID = 2_000_000_000;
/** The system user whose uid and gid the sandbox takes on a root host, when it exists. */
export const SANDBOX_USER = 'buckley-sandbox';

/** `unshare` and `mount` differ by architecture; the mount API calls (`open_tree`, `move_mount`, `mount_setattr`) do not. */
const SYSCALLS: Readonly<Record<string, string>> = { x64: '272,165', arm64: '97,40' };

/**
 * The helper. Arguments: `<mode> <unshare,mount> <uid> <gid> <staging> <bytes> <inodes>
 * <workspace> <owner-uid> <owner-gid> <n> <path>...`. Mode `idmap` (a root host): a private
 * mount namespace, the workspace idmapped (owner shown as the sandbox uid), then a drop to the
 * sandbox uid and gid; the n paths (readable by root only, like a toolchain under a 0700 home)
 * are bound at `<staging>/bind/0`, `/1`, ... for bubblewrap to bind from there. Mode `self` (a
 * non-root host user): a user namespace mapping the user to itself with a private mount
 * namespace (no privilege needed), the workspace bound as it is, no uid change.
 * Exit status 125 with a `buckley-sandbox:` line on stderr means the helper failed.
 */
const HELPER_SCRIPT = String.raw`
use strict; use warnings; use POSIX ();
$^F = 255;
my ($mode, $sys, $uid, $gid, $stage, $size, $inodes, $ws, $ouid, $ogid, $n, @paths) = @ARGV;
my ($SYS_unshare, $SYS_mount) = split /,/, $sys;
sub fail { print STDERR "buckley-sandbox: $_[0]: $!\n"; POSIX::_exit(125); }
my $none = 'none'; my $slash = '/'; my $empty = '';
my $self = $mode eq 'self';
my $tree;
if ($self) {
  syscall($SYS_unshare, 0x10020000) == 0 or fail('cannot unshare the user and mount namespaces (needs unprivileged user namespaces)');
  for my $map (['setgroups', "deny"], ['uid_map', "$uid $uid 1\n"], ['gid_map', "$gid $gid 1\n"]) {
    open(my $f, '>', "/proc/self/$map->[0]") or fail("open $map->[0]");
    print $f $map->[1]; close($f) or fail("write $map->[0]");
  }
  syscall($SYS_mount, $none, $slash, 0, 0x44000, 0) == 0 or fail('cannot make mounts private');
} else {
  syscall($SYS_unshare, 0x20000) == 0 or fail('cannot unshare the mount namespace');
  syscall($SYS_mount, $none, $slash, 0, 0x44000, 0) == 0 or fail('cannot make mounts private');
  pipe(my $go_r, my $go_w) or fail('pipe'); pipe(my $up_r, my $up_w) or fail('pipe');
  my $child = fork() // fail('fork');
  if ($child == 0) {
    close $go_w; close $up_r;
    syscall($SYS_unshare, 0x10000000) == 0 or POSIX::_exit(1);
    syswrite($up_w, 'u'); sysread($go_r, my $b, 1); POSIX::_exit(0);
  }
  close $go_r; close $up_w;
  sysread($up_r, my $b, 1) == 1 or fail('cannot create the id-mapping user namespace'); close $up_r;
  for my $map (['uid_map', "$ouid $uid 1\n"], ['gid_map', "$ogid $gid 1\n"]) {
    open(my $f, '>', "/proc/$child/$map->[0]") or fail("open $map->[0]");
    print $f $map->[1]; close($f) or fail("write $map->[0]");
  }
  open(my $ns, '<', "/proc/$child/ns/user") or fail('open user namespace');
  my $src = $ws;
  $tree = syscall(428, -100, $src, 0x80001);
  $tree >= 0 or fail('open_tree of the workspace');
  my $attr = pack('QQQQ', 0x100006, 0, 0, fileno($ns));
  syscall(442, $tree, $empty, 0x1000, $attr, 32) == 0 or fail('cannot idmap the workspace (needs Linux 5.12+ and a filesystem that supports idmapped mounts)');
  syswrite($go_w, 'g'); close $go_w; waitpid($child, 0); close $ns;
}
my $tmpfs = 'tmpfs'; my $dir = $stage; my $opts = "size=$size,nr_inodes=$inodes,mode=0755";
syscall($SYS_mount, $tmpfs, $dir, $tmpfs, 6, $opts) == 0 or fail("cannot mount the staging tmpfs on $stage");
for my $d ('lower', 'merged', 'upper', 'work') { mkdir("$stage/$d", 0755) or fail("mkdir $d"); }
my $lower = "$stage/lower";
if ($self) {
  my $src = $ws;
  syscall($SYS_mount, $src, $lower, 0, 0x5000, 0) == 0 or fail('cannot bind the workspace');
} else {
  chown($uid, $gid, "$stage/upper", "$stage/work") or fail('chown upper');
  syscall(429, $tree, $empty, -100, $lower, 4) == 0 or fail('cannot attach the idmapped workspace');
  POSIX::close($tree);
}
my $ov = 'overlay'; my $merged = "$stage/merged";
my $ovopts = "lowerdir=$stage/lower,upperdir=$stage/upper,workdir=$stage/work,metacopy=off,index=off,xino=off," . ($self ? 'redirect_dir=nofollow,userxattr' : 'redirect_dir=off');
syscall($SYS_mount, $ov, $merged, $ov, 6, $ovopts) == 0 or fail('cannot mount the overlay (needs overlayfs' . ($self ? ' in user namespaces, Linux 5.11+' : '') . ')');
mkdir("$stage/bind", 0755) or fail('mkdir bind');
for my $i (0 .. $n - 1) {
  my $at = "$stage/bind/$i"; my $from = $paths[$i];
  if (-d $from) { mkdir($at, 0755) or fail("mkdir $at"); } else { open(my $t, '>', $at) or fail("create $at"); close $t; }
  syscall($SYS_mount, $from, $at, 0, 0x5000, 0) == 0 or fail("cannot bind $from");
}
open(my $ready, '>&=', 6) or fail('ready fd'); syswrite($ready, 'r') == 1 or fail('ready'); close $ready;
open(my $in, '<&=', 7) or fail('argv fd'); my $all = do { local $/; <$in> }; close $in;
defined $all && length $all or POSIX::_exit(125);
my @argv = split /\0/, $all;
if (!$self) {
  $) = "$gid $gid"; POSIX::setgid($gid) or fail('setgid'); POSIX::setuid($uid) or fail('setuid');
  ($< == $uid && $> == $uid && $( == $gid) or fail('the uid did not change');
}
exec { $argv[0] } @argv or fail("exec $argv[0]");
`;

/** Whom a root host's runs run as, and where that came from (for `doctor()`). */
export interface SandboxIdentity {
  readonly uid: number;
  readonly gid: number;
  readonly source: 'option' | 'user' | 'default';
}

/** The sandbox identity on a root host: `runAs`, else the `buckley-sandbox` user, else {@link DEFAULT_SANDBOX_ID}. */
export function sandboxIdentity(runAs?: { readonly uid: number; readonly gid: number }): SandboxIdentity {
  if (runAs !== undefined) return { uid: runAs.uid, gid: runAs.gid, source: 'option' };
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === SANDBOX_USER && fields.length >= 4) return { uid: Number(fields[2]), gid: Number(fields[3]), source: 'user' };
    }
  } catch {
    // No passwd file: the default applies.
  }
  return { uid: DEFAULT_SANDBOX_ID, gid: DEFAULT_SANDBOX_ID, source: 'default' };
}

/** The syscall numbers the helper needs on this architecture, or null when it is not supported. */
export function helperSyscalls(arch: string = process.arch): string | null {
  return SYSCALLS[arch] ?? null;
}

/** Inputs of {@link helperArgs}. */
export interface HelperInput {
  /** `idmap` on a root host (the command runs as `identity`), `self` for a non-root host user (it runs as that user). */
  readonly mode: 'idmap' | 'self';
  /** Where the staging tmpfs is mounted (inside the helper's mount namespace; an empty directory on the host). */
  readonly stage: string;
  readonly perl: string;
  readonly syscalls: string;
  readonly identity: { readonly uid: number; readonly gid: number };
  readonly workspace: string;
  readonly owner: { readonly uid: number; readonly gid: number };
  readonly stagingBytes: number;
  /** Most files, directories, symlinks and deletions the run may leave in the upper layer. */
  readonly maxFiles: number;
  /** Host paths the helper binds at {@link stagedPath}(index) as root, for bubblewrap to bind from there. */
  readonly binds: readonly string[];
}

/** The helper's argv (perl and its arguments). */
export function helperArgs(input: HelperInput): string[] {
  return [
    input.perl,
    '-e',
    HELPER_SCRIPT,
    input.mode,
    input.syscalls,
    String(input.identity.uid),
    String(input.identity.gid),
    input.stage,
    String(Math.max(1024 * 1024, Math.floor(input.stagingBytes))),
    // The staging's own directories (root, lower, merged, upper, work and its work/work, bind) and the binds come on top.
    String(Math.floor(input.maxFiles) + STAGING_INODES + input.binds.length),
    input.workspace,
    String(input.owner.uid),
    String(input.owner.gid),
    String(input.binds.length),
    ...input.binds,
  ];
}

/** Inodes of the staging tmpfs that are not the run's: its directories and the overlay's work directory. */
const STAGING_INODES = 8;

/** Where the helper bound `binds[index]`, as bubblewrap (running as the sandbox uid) sees it. */
export function stagedPath(index: number): string {
  return `${STAGING_DIR}/bind/${index}`;
}

/** Where the workspace (the overlay) is, as bubblewrap sees it. */
export function stagedWorkspace(stage: string): string {
  return `${stage}/merged`;
}

let userStage: string | undefined;

/**
 * The staging mount point of a non-root host user: an empty private directory (0700) made once
 * per process under the temporary directory, removed when the process exits. The helper mounts
 * each run's tmpfs on it inside the run's own namespace; on the host it stays empty.
 */
export function userStagingDir(): string {
  if (userStage === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'buckley-sandbox-'));
    process.once('exit', () => {
      try {
        rmdirSync(dir);
      } catch {
        // Left behind: an empty directory in the temporary directory.
      }
    });
    userStage = dir;
  }
  return userStage;
}

/** The run's staging tmpfs and overlay, held open from the host after the run's namespace is gone. */
export class Staging {
  readonly #stage: number;
  readonly #merged: number;
  #closed = false;

  private constructor(stage: number, merged: number) {
    this.#stage = stage;
    this.#merged = merged;
  }

  /** Opens the staging at `dir` of the helper process `pid` (after it reported ready). */
  static open(pid: number, dir: string): Staging {
    const flags = constants.O_RDONLY | constants.O_DIRECTORY;
    const stage = openSync(`/proc/${pid}/root${dir}`, flags);
    try {
      return new Staging(stage, openSync(`/proc/${pid}/root${dir}/merged`, flags));
    } catch (error) {
      closeSync(stage);
      throw error;
    }
  }

  /** Path of the upper layer (what the run wrote) as seen from this process. */
  get upper(): string {
    return `/proc/self/fd/${this.#stage}/upper`;
  }

  /** Path of the merged view (the workspace as the run left it). */
  get merged(): string {
    return `/proc/self/fd/${this.#merged}`;
  }

  /** Whether the staging tmpfs is full (the run hit its write limit). */
  full(): boolean {
    try {
      const s = statfsSync(`/proc/self/fd/${this.#stage}`);
      return s.bavail * s.bsize < 64 * 1024;
    } catch {
      return false;
    }
  }

  /** Whether the staging tmpfs has no inode left (the run hit its file limit). */
  filesFull(): boolean {
    try {
      return statfsSync(`/proc/self/fd/${this.#stage}`).ffree === 0;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#merged);
    closeSync(this.#stage);
  }
}
