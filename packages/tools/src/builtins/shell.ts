import { z } from 'zod';
import { defineTool } from '../tool.js';
import { exitFailure, needs, outputOf, violationOf } from './common.js';

/** `run_shell`: one command through `bash -c` in the sandbox. */
export const runShell = defineTool({
  name: 'run_shell',
  description:
    'Runs a shell command (bash -c) in the sandbox: the workspace is writable, the rest of the system read-only, the network off unless configured. Returns exit code, stdout and stderr.',
  input: z.strictObject({
    command: z.string().min(1).max(65_536).describe('the command line'),
    cwd: z.string().min(1).optional().describe('working directory, relative to the workspace'),
    timeoutSeconds: z.number().int().min(1).max(86_400).optional().describe('deadline; capped by the configured sandbox timeout'),
  }),
  readOnly: false,
  approvalClass: 'shell',
  timeoutMs: (input) => (input.timeoutSeconds === undefined ? undefined : input.timeoutSeconds * 1000),
  async handler({ command, cwd }, context) {
    const { workspace, sandbox } = needs(context);
    let dir: string | undefined;
    if (cwd !== undefined) {
      const resolved = await workspace.resolve(cwd, 'read');
      if (!resolved.ok) return resolved;
      dir = resolved.path;
    }
    const result = await sandbox.run(command, { cwd: dir });
    const refused = violationOf(result);
    if (refused !== null) return refused;
    if (result.exitCode !== 0) return exitFailure('the command', result);
    return outputOf(result);
  },
});
