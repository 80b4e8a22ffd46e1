/**
 * A seccomp filter for sandboxed commands, compiled here to classic BPF (no npm package
 * generates one, and libseccomp is a native dependency for ~50 instructions). bubblewrap loads
 * it with `--seccomp FD` right before it execs the command, so bubblewrap's own setup is not
 * filtered, and every process of the run inherits it (a filter can never be removed).
 *
 * What it refuses: the kernel keyring (the caller's session keyring is otherwise readable
 * inside), and what container runtimes refuse by default that a build or test never needs:
 * eBPF, perf events, userfaultfd, io_uring, kexec, kernel modules, raw I/O ports, swap,
 * reboot, the clock, process accounting, quotas, the kernel log. Refused calls fail with
 * `EPERM`; everything else is allowed. Syscalls of another ABI (i386 through `int 0x80` on
 * x86_64, x32, 32-bit ARM on aarch64) are refused as a whole: their numbers differ, and a
 * filter that checked only the native ones could be walked around through them.
 */

import { InvalidArgumentError } from '@buckley/utils';

/** One refused syscall with its number on each architecture (absent where it does not exist). */
export interface RefusedSyscall {
  readonly name: string;
  readonly x86_64?: number;
  readonly aarch64?: number;
  /** Why it is refused. */
  readonly why: string;
}

/**
 * The syscalls the sandbox refuses, with their numbers (from the kernel's
 * `arch/x86/entry/syscalls/syscall_64.tbl` and `include/uapi/asm-generic/unistd.h`).
 */
export const REFUSED_SYSCALLS: readonly RefusedSyscall[] = [
  { name: 'keyctl', x86_64: 250, aarch64: 219, why: 'kernel keyring: reads the caller session keyring' },
  { name: 'add_key', x86_64: 248, aarch64: 217, why: 'kernel keyring' },
  { name: 'request_key', x86_64: 249, aarch64: 218, why: 'kernel keyring: finds keys of the caller session' },
  { name: 'bpf', x86_64: 321, aarch64: 280, why: 'eBPF programs: kernel attack surface' },
  { name: 'perf_event_open', x86_64: 298, aarch64: 241, why: 'performance events: kernel attack surface, side channels' },
  { name: 'userfaultfd', x86_64: 323, aarch64: 282, why: 'used to win kernel races in exploits' },
  { name: 'io_uring_setup', x86_64: 425, aarch64: 425, why: 'io_uring: kernel attack surface (libuv and others fall back to threads)' },
  { name: 'io_uring_enter', x86_64: 426, aarch64: 426, why: 'io_uring' },
  { name: 'io_uring_register', x86_64: 427, aarch64: 427, why: 'io_uring' },
  { name: 'kexec_load', x86_64: 246, aarch64: 104, why: 'loads a new kernel' },
  { name: 'kexec_file_load', x86_64: 320, aarch64: 294, why: 'loads a new kernel' },
  { name: 'init_module', x86_64: 175, aarch64: 105, why: 'kernel modules' },
  { name: 'finit_module', x86_64: 313, aarch64: 273, why: 'kernel modules' },
  { name: 'delete_module', x86_64: 176, aarch64: 106, why: 'kernel modules' },
  { name: 'open_by_handle_at', x86_64: 304, aarch64: 265, why: 'opens files by handle, past mount and path checks' },
  { name: 'iopl', x86_64: 172, why: 'raw I/O port access' },
  { name: 'ioperm', x86_64: 173, why: 'raw I/O port access' },
  { name: 'swapon', x86_64: 167, aarch64: 224, why: 'swap' },
  { name: 'swapoff', x86_64: 168, aarch64: 225, why: 'swap' },
  { name: 'reboot', x86_64: 169, aarch64: 142, why: 'reboot' },
  { name: 'settimeofday', x86_64: 164, aarch64: 170, why: 'the host clock' },
  { name: 'clock_settime', x86_64: 227, aarch64: 112, why: 'the host clock' },
  { name: 'clock_adjtime', x86_64: 305, aarch64: 266, why: 'the host clock' },
  { name: 'adjtimex', x86_64: 159, aarch64: 171, why: 'the host clock' },
  { name: 'acct', x86_64: 163, aarch64: 89, why: 'process accounting' },
  { name: 'lookup_dcookie', x86_64: 212, aarch64: 18, why: 'kernel profiling' },
  { name: 'quotactl', x86_64: 179, aarch64: 60, why: 'disk quotas' },
  { name: 'quotactl_fd', x86_64: 443, aarch64: 443, why: 'disk quotas' },
  { name: 'nfsservctl', x86_64: 180, aarch64: 42, why: 'kernel NFS server' },
  { name: 'syslog', x86_64: 103, aarch64: 116, why: 'the kernel log (kernel addresses)' },
  { name: 'uselib', x86_64: 134, why: 'obsolete' },
  { name: '_sysctl', x86_64: 156, why: 'obsolete' },
];

/** `AUDIT_ARCH_*` values the filter compares `seccomp_data.arch` with. */
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x32 syscalls run under `AUDIT_ARCH_X86_64` with this bit set in the number. */
const X32_SYSCALL_BIT = 0x40000000;

const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
/** Offsets in `struct seccomp_data`. */
const DATA_NR = 0;
const DATA_ARCH = 4;

// Classic BPF opcodes.
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;

const EPERM = 1;

type Instruction =
  | { readonly op: 'load'; readonly offset: number }
  | { readonly op: 'jeq' | 'jge'; readonly k: number; readonly yes: string; readonly no?: string }
  | { readonly op: 'ret'; readonly k: number }
  | { readonly op: 'label'; readonly name: string };

/** Options of {@link compileSeccompFilter}. */
export interface SeccompFilterOptions {
  /** The errno refused calls fail with. Default `EPERM` (1); tests pick a value no kernel path returns. */
  readonly errno?: number | undefined;
}

/**
 * The filter as bytes for bubblewrap's `--seccomp FD`: an array of `struct sock_filter`
 * (8 bytes each, little-endian, as on both supported architectures). One program serves
 * x86_64 and aarch64; any other architecture value is refused as a whole.
 */
export function compileSeccompFilter(options: SeccompFilterOptions = {}): Buffer {
  const errno = options.errno ?? EPERM;
  if (!Number.isInteger(errno) || errno < 1 || errno > 4095)
    throw new InvalidArgumentError(`errno must be an integer from 1 to 4095, got ${JSON.stringify(errno)}`);
  const program: Instruction[] = [
    { op: 'load', offset: DATA_ARCH },
    { op: 'jeq', k: AUDIT_ARCH_X86_64, yes: 'x86_64', no: 'not-x86_64' },
    { op: 'label', name: 'x86_64' },
    { op: 'load', offset: DATA_NR },
    { op: 'jge', k: X32_SYSCALL_BIT, yes: 'refuse' },
    ...numbers('x86_64').map((k): Instruction => ({ op: 'jeq', k, yes: 'refuse' })),
    { op: 'ret', k: SECCOMP_RET_ALLOW },
    { op: 'label', name: 'not-x86_64' },
    { op: 'jeq', k: AUDIT_ARCH_AARCH64, yes: 'aarch64', no: 'refuse' },
    { op: 'label', name: 'aarch64' },
    { op: 'load', offset: DATA_NR },
    ...numbers('aarch64').map((k): Instruction => ({ op: 'jeq', k, yes: 'refuse' })),
    { op: 'ret', k: SECCOMP_RET_ALLOW },
    { op: 'label', name: 'refuse' },
    { op: 'ret', k: SECCOMP_RET_ERRNO | errno },
  ];
  return assemble(program);
}

function numbers(arch: 'x86_64' | 'aarch64'): number[] {
  return [...new Set(REFUSED_SYSCALLS.flatMap((s) => (s[arch] === undefined ? [] : [s[arch]])))];
}

/** Resolves labels to the 8-bit relative jumps of classic BPF and encodes each instruction. */
function assemble(program: readonly Instruction[]): Buffer {
  const labels = new Map<string, number>();
  const code = program.filter((i) => i.op !== 'label');
  let pc = 0;
  for (const i of program) {
    if (i.op === 'label') labels.set(i.name, pc);
    else pc++;
  }
  const out = Buffer.alloc(code.length * 8);
  code.forEach((i, index) => {
    const at = index * 8;
    const jump = (label: string | undefined): number => {
      if (label === undefined) return 0;
      const offset = labels.get(label)! - index - 1;
      if (offset < 0 || offset > 255) throw new Error(`seccomp jump to ${label} out of range (${offset})`);
      return offset;
    };
    switch (i.op) {
      case 'load':
        out.writeUInt16LE(BPF_LD_W_ABS, at);
        out.writeUInt32LE(i.offset, at + 4);
        break;
      case 'jeq':
      case 'jge':
        out.writeUInt16LE(i.op === 'jeq' ? BPF_JEQ_K : BPF_JGE_K, at);
        out.writeUInt8(jump(i.yes), at + 2);
        out.writeUInt8(jump(i.no), at + 3);
        out.writeUInt32LE(i.k >>> 0, at + 4);
        break;
      case 'ret':
        out.writeUInt16LE(BPF_RET_K, at);
        out.writeUInt32LE(i.k >>> 0, at + 4);
        break;
    }
  });
  return out;
}
