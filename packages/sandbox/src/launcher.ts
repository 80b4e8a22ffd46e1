/**
 * The tiny launcher every run goes through: a constant POSIX sh script (never built from input)
 * that joins the run's cgroups and sets rlimits for its own pid, then execs the real program
 * (bubblewrap, or the command itself under the unsafe override). Joining before exec is what
 * makes `pids.max` hold from the first fork; the program's argv travels as argv, not as text.
 *
 * Arguments: `<n> <cgroup.procs>... <m> (<ulimit-flag> <value>)... <program> <args>...`.
 * Exit status 125 with a `buckley-sandbox:` line on stderr means the launcher itself failed.
 */
const LAUNCHER_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  echo $$ > "$1" || { echo "buckley-sandbox: cannot join cgroup $1" >&2; exit 125; }',
  '  n=$((n-1)); shift',
  'done',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  case $1 in',
  '    nproc) ulimit -u "$2" 2>/dev/null || ulimit -p "$2" ;;',
  '    *) ulimit "$1" "$2" ;;',
  '  esac || { echo "buckley-sandbox: cannot set limit $1 $2" >&2; exit 125; }',
  '  n=$((n-1)); shift 2',
  'done',
  'exec "$@"',
].join('\n');

/** Marker of launcher failures on stderr. */
export const LAUNCHER_FAILURE = 'buckley-sandbox: ';

/** One rlimit for the launcher: POSIX `ulimit` flag (`-f` in 512-byte blocks, `-t` seconds, `-v` and `-d` KiB) or `nproc`. */
export interface Rlimit {
  readonly flag: '-f' | '-t' | '-v' | '-d' | 'nproc';
  readonly value: number;
}

/** The argv (after `/bin/sh`) that runs `program` through the launcher. */
export function launcherArgs(procsFiles: readonly string[], rlimits: readonly Rlimit[], program: readonly string[]): string[] {
  return [
    '-c',
    LAUNCHER_SCRIPT,
    'buckley-sandbox',
    String(procsFiles.length),
    ...procsFiles,
    String(rlimits.length),
    ...rlimits.flatMap((r) => [r.flag, String(Math.max(1, Math.floor(r.value)))]),
    ...program,
  ];
}

/**
 * The launcher of a spare process (started before its run is known): the same cgroup join and
 * rlimits as {@link LAUNCHER_SCRIPT}, in bash (POSIX mode, so `ulimit -f` counts 512-byte
 * blocks), then it waits for the rest of the command line as NUL-separated words on fd 3 and
 * execs the fixed program arguments followed by them. fd 3 is closed before the exec.
 *
 * Arguments: as for {@link LAUNCHER_SCRIPT}; the program part is the fixed prefix.
 */
const SPARE_LAUNCHER_SCRIPT = LAUNCHER_SCRIPT.replace(
  'exec "$@"',
  ['mapfile -d "" -t rest <&3 || exit 125', '[ "${#rest[@]}" -gt 0 ] || exit 125', 'exec 3<&-', 'exec "$@" "${rest[@]}"'].join('\n'),
);

/** The argv (after `bash`) of a spare launcher; see {@link SPARE_LAUNCHER_SCRIPT}. */
export function spareLauncherArgs(procsFiles: readonly string[], rlimits: readonly Rlimit[], prefix: readonly string[]): string[] {
  const args = launcherArgs(procsFiles, rlimits, prefix);
  args[1] = SPARE_LAUNCHER_SCRIPT;
  return ['--posix', '--noprofile', '--norc', ...args];
}
