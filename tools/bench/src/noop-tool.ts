import { defineTool } from '@buckley/tools';
import { z } from 'zod';

/** A read-only tool that returns its input and starts nothing: the chain's cost alone. */
export const noopTool = defineTool({
  name: 'noop',
  description: 'Returns its input',
  input: z.object({ n: z.number().int() }),
  readOnly: true,
  handler: ({ n }) => ({ n }),
});
