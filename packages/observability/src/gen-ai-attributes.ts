/**
 * The one place span attribute names are spelled. The OpenTelemetry GenAI conventions are not
 * stable: these names follow the version in {@link GEN_AI_SEMCONV_VERSION} (where
 * `gen_ai.provider.name` replaced `gen_ai.system`); a later version changes only this file.
 */

/** The semantic-conventions release the `gen_ai.*` names below are taken from. */
export const GEN_AI_SEMCONV_VERSION = '1.37.0';

/** OpenTelemetry GenAI (and general) attribute names. */
export const GenAiAttribute = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  conversationId: 'gen_ai.conversation.id',
  agentName: 'gen_ai.agent.name',
  agentId: 'gen_ai.agent.id',
  errorType: 'error.type',
} as const;

/** `gen_ai.operation.name` values this package emits; also the first word of the span name. */
export const GenAiOperation = {
  executeTool: 'execute_tool',
  invokeAgent: 'invoke_agent',
  chat: 'chat',
} as const;

/** Buckley's own span attributes, for what the GenAI conventions do not name. */
export const BuckleyAttribute = {
  planId: 'buckley.plan.id',
  taskId: 'buckley.task.id',
  experimentId: 'buckley.experiment.id',
  attempt: 'buckley.attempt',
  outcome: 'buckley.outcome',
  correlationId: 'buckley.correlation.id',
  operationId: 'buckley.operation.id',
  operationName: 'buckley.operation.name',
  durationMs: 'buckley.duration_ms',
} as const;
