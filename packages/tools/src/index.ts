export { defineTool, toolFailure, toolSuccess, ToolFailureCode } from './tool.js';
export type { AnyTool, ArgumentIssue, JsonValue, Tool, ToolContext, ToolDefinition, ToolFailure, ToolResult, ToolSuccess } from './tool.js';
export { createToolRegistry } from './registry.js';
export type { ResolvedCall, ToolCall, ToolRegistry, ToolRegistryOptions, ToolSpec } from './registry.js';
export { InvalidToolDefinitionError, ToolNameConflictError, ToolsError, ToolsErrorCode, isToolsError } from './tools-errors.js';
