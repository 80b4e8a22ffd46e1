import { constants } from 'node:fs';
import { type FileHandle, open, readlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RunResult } from '@buckley/sandbox';
import { type ToolContext, type ToolFailure, type ToolSandbox, type WorkspaceAccess, toolDenial, toolFailure } from '../tool.js';

/** The executor's workspace and sandbox; a built-in called without them (outside the executor) cannot run. */
export function needs(context: ToolContext): { workspace: WorkspaceAccess; sandbox: ToolSandbox } {
  if (context.workspace === undefined || context.sandbox === undefined) {
    throw new TypeError('a built-in tool runs only through createToolExecutor (it needs the workspace and the sandbox)');
  }
  return { workspace: context.workspace, sandbox: context.sandbox };
}

/** The failure of a run the sandbox refused (nothing started): a policy denial naming the rule. */
export function violationOf(result: RunResult): ToolFailure | null {
  if (result.violation === null) return null;
  const { rule, message, subject } = result.violation;
  return toolDenial(rule, `the sandbox refused the command: ${message}`, subject === undefined ? {} : { subject });
}

/** stdout and stderr of a run, as the model reads them. */
export function outputOf(result: RunResult) {
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.text,
    stderr: result.stderr.text,
    stdoutTruncated: result.stdout.truncated,
    stderrTruncated: result.stderr.truncated,
    durationMs: Math.round(result.durationMs),
    ...(result.discardedWrites.length > 0 ? { discardedWrites: [...result.discardedWrites] } : {}),
  };
}

/** A run that ended other than by exiting 0: the model reads the code and both streams. */
export function exitFailure(what: string, result: RunResult): ToolFailure {
  const how =
    result.exitCode !== null
      ? `exited with code ${result.exitCode}`
      : `was killed by ${result.signal ?? 'a signal'}${result.limitsHit.length > 0 ? ` (limit hit: ${result.limitsHit.join(', ')})` : ''}`;
  return toolFailure('COMMAND_FAILED', `${what} ${how}`, outputOf(result));
}

/** True when `buffer` looks binary: a NUL byte in its first 8 KiB (what git and grep check). */
export function isBinary(buffer: Uint8Array): boolean {
  return buffer.subarray(0, 8192).includes(0);
}

/** What {@link openRegularFile} found at a path that is not a readable regular file. */
export type NotRegular = {
  readonly ok: false;
  readonly kind: 'missing' | 'directory' | 'special' | 'symlink' | 'unreadable' | 'moved';
};

/** `/proc/self/fd/<fd>`: the kernel's name for what a descriptor opened, and a path that reaches it. */
export const descriptorPath = (fd: number) => `/proc/self/fd/${fd}`;

/** What the kernel names for the file a descriptor holds (Linux `/proc`); ` (deleted)` when it was unlinked since. */
async function descriptorTarget(handle: FileHandle): Promise<string> {
  try {
    return await readlink(descriptorPath(handle.fd));
  } catch (error) {
    throw new Error(`cannot check what a file descriptor opened: ${descriptorPath(handle.fd)} is not readable (the file tools need Linux /proc)`, {
      cause: error,
    });
  }
}

/**
 * True when the descriptor opened exactly `expected` (a real path, as `validatePath` resolves
 * it). The kernel names what the descriptor holds, so a directory on the path swapped for a
 * symlink between the policy check and the open is seen here, whichever component it was.
 */
export async function openedExactly(handle: FileHandle, expected: string): Promise<boolean> {
  return (await descriptorTarget(handle)) === expected;
}

const DELETED = ' (deleted)';

/**
 * Opens `path` for reading only if it is a regular file, deciding on the opened descriptor: the
 * open is non-blocking (a FIFO with no writer, or one swapped in after a stat, does not hang it),
 * symlinks are not followed, `fstat` of the descriptor says what was really opened, and the
 * descriptor must hold a file of `path`'s directory (a real path): when a directory on the way was replaced
 * after the policy check (by a symlink out of the workspace, say) the answer is `moved` and
 * nothing is read.
 */
export async function openRegularFile(path: string): Promise<{ readonly ok: true; readonly handle: FileHandle; readonly size: number } | NotRegular> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, kind: 'missing' };
    if (code === 'ELOOP') return { ok: false, kind: 'symlink' };
    if (code === 'EACCES' || code === 'EPERM') return { ok: false, kind: 'unreadable' };
    if (code === 'ENXIO' || code === 'ENODEV') return { ok: false, kind: 'special' };
    throw error;
  }
  try {
    // The file's directory must be the one that passed the check; the file itself may have been
    // renamed or unlinked there since the open (an editor's atomic save), which is no escape.
    const target = await descriptorTarget(handle);
    const at = target.endsWith(DELETED) ? target.slice(0, -DELETED.length) : target;
    if (at !== path && dirname(at) !== dirname(path)) {
      await handle.close();
      return { ok: false, kind: 'moved' };
    }
    const st = await handle.stat();
    if (st.isFile()) return { ok: true, handle, size: st.size };
    await handle.close();
    return { ok: false, kind: st.isDirectory() ? 'directory' : 'special' };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** The failure the model reads for a path {@link openRegularFile} refused. */
export function notRegularFailure(rel: string, found: NotRegular): ToolFailure {
  if (found.kind === 'missing') return toolFailure('FILE_NOT_FOUND', `file ${JSON.stringify(rel)} does not exist`);
  if (found.kind === 'unreadable') return toolFailure('PERMISSION_DENIED', `file ${JSON.stringify(rel)} is not readable by this process`);
  if (found.kind === 'moved')
    return toolFailure('PATH_CHANGED', `path ${JSON.stringify(rel)} changed while it was opened (a directory on it was replaced), nothing was read`);
  const what =
    found.kind === 'directory'
      ? 'a directory'
      : found.kind === 'symlink'
        ? 'a symlink that changed while it was opened'
        : 'a special file (FIFO, socket or device)';
  return toolFailure('NOT_A_FILE', `${JSON.stringify(rel)} is ${what}, expected a regular file`, { kind: found.kind });
}
