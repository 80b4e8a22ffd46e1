import type { AnyTool } from '../tool.js';
import { editFileTool, listFilesTool, readFileTool, writeFileTool } from './files.js';
import { gitDiffTool, gitStatusTool } from './git.js';
import { runJsTool } from './js.js';
import { searchTextTool } from './search.js';
import { runShell } from './shell.js';

/** The built-in tools, in the order the model is offered them. Give them to `createToolRegistry({ builtins })`. */
export const BUILTIN_TOOLS: readonly AnyTool[] = [
  runShell,
  readFileTool,
  writeFileTool,
  editFileTool,
  listFilesTool,
  searchTextTool,
  gitStatusTool,
  gitDiffTool,
  runJsTool,
];
