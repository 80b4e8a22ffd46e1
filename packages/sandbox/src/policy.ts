import { basename } from 'node:path';
import type { SandboxConfig } from '@buckley/config';
import type { SandboxViolation } from './sandbox.js';

/** What the lexical policy needs to judge a command. */
export interface PolicyContext {
  readonly mode: SandboxConfig['mode'];
  readonly allowedCommands: readonly string[];
  /** Real path of the workspace. */
  readonly workspace: string;
  /** Real path of the working directory. */
  readonly cwd: string;
  readonly home: string;
}

/**
 * The lexical command policy: early, readable refusals before anything starts. It is advisory;
 * the boundary is the operating system (namespaces, read-only mounts, limits), so a command this
 * lets through still cannot write outside the workspace or reach the network.
 */
export function checkCommand(command: string | readonly string[], ctx: PolicyContext): SandboxViolation | null {
  if (typeof command === 'string' ? command.trim() === '' : command.length === 0 || command[0] === '') {
    return { rule: 'empty-command', message: 'command must be a non-empty string or argv' };
  }
  if (ctx.mode === 'strict' && typeof command !== 'string') {
    const program = basename(command[0]!);
    if (!ctx.allowedCommands.includes(program)) {
      return { rule: 'command-not-allowed', message: `program ${JSON.stringify(program)} is not in sandbox.allowed_commands (strict mode)`, subject: program };
    }
  }
  return null;
}
