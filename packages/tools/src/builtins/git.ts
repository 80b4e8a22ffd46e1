import { z } from 'zod';
import { defineTool } from '../tool.js';
import { exitFailure, needs, outputOf, violationOf } from './common.js';

/**
 * git inside the sandbox, read-only: no optional locks, no pager, no external diff or textconv
 * programs, no fsmonitor hook; `safe.directory` set because the sandbox uid does not own the
 * repository on a root host.
 */
const GIT = [
  'git',
  '--no-optional-locks',
  '-c',
  'safe.directory=*',
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.pager=cat',
  '-c',
  'diff.external=',
  '-c',
  'color.ui=false',
];
const REF = /^(?!-)[A-Za-z0-9._/~^@{}-]{1,200}$/;

export const gitStatusTool = defineTool({
  name: 'git_status',
  description: 'Shows the working tree status (git status --porcelain=v1 --branch), read-only.',
  input: z.strictObject({}),
  readOnly: true,
  async handler(_input, context) {
    const { workspace, sandbox } = needs(context);
    const result = await sandbox.run([...GIT, 'status', '--porcelain=v1', '--branch', '--untracked-files=normal'], { cwd: workspace.root });
    const refused = violationOf(result);
    if (refused !== null) return refused;
    if (result.exitCode !== 0) return exitFailure('git status', result);
    const lines = result.stdout.text.split('\n').filter((l) => l !== '');
    const branch = lines[0]?.startsWith('## ') ? lines.shift()!.slice(3) : null;
    return { branch, entries: lines.map((l) => ({ status: l.slice(0, 2), path: l.slice(3) })), truncated: result.stdout.truncated };
  },
});

export const gitDiffTool = defineTool({
  name: 'git_diff',
  description:
    'Shows changes as a unified diff (git diff), read-only: the working tree against the index, staged: true for the index against HEAD, or against a ref. Optionally one path.',
  input: z.strictObject({
    staged: z.boolean().default(false),
    ref: z.string().regex(REF, 'a ref name (letters, digits, ._/~^@{}-, not starting with -)').optional(),
    path: z.string().min(1).max(4096).optional(),
  }),
  readOnly: true,
  async handler(input, context) {
    const { workspace, sandbox } = needs(context);
    const argv = [...GIT, 'diff', '--no-color', '--no-ext-diff', '--no-textconv'];
    if (input.staged) argv.push('--cached');
    if (input.ref !== undefined) argv.push(input.ref);
    argv.push('--');
    if (input.path !== undefined) {
      const resolved = await workspace.resolve(input.path, 'read');
      if (!resolved.ok) return resolved;
      argv.push(resolved.relative);
    }
    const result = await sandbox.run(argv, { cwd: workspace.root });
    const refused = violationOf(result);
    if (refused !== null) return refused;
    if (result.exitCode !== 0) return exitFailure('git diff', result);
    const { stdout, stdoutTruncated } = outputOf(result);
    return { diff: stdout, truncated: stdoutTruncated };
  },
});
