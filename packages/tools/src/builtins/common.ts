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
