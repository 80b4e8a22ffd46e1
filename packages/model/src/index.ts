export type {
  ChatMessage,
  ChatRequest,
  ChatResult,
  ChatStream,
  ChatStreamEvent,
  FinishReason,
  ModelCallAttribution,
  ModelClient,
  ToolCall,
  ToolCallRef,
  ToolChoice,
  ToolSpec,
  Usage,
} from './model-client.js';
export { createOpenAiModelClient } from './openai-model-client.js';
export type { OpenAiModelClientOptions } from './openai-model-client.js';
export { MODEL_CALL_EVENT_TYPES, costOf, findPrice, foldModelCalls, initialModelCallTotals } from './model-call-events.js';
export type {
  ModelCallCompleted,
  ModelCallEvent,
  ModelCallFailed,
  ModelCallMetadata,
  ModelCallOutcome,
  ModelCallStarted,
  ModelCallTotals,
} from './model-call-events.js';
export {
  ModelAbortedError,
  ModelApiKeyMissingError,
  ModelAuthError,
  ModelBadRequestError,
  ModelCircuitOpenError,
  ModelConnectionError,
  ModelContextLengthError,
  ModelError,
  ModelMalformedResponseError,
  ModelNotFoundError,
  ModelRateLimitError,
  ModelRequestError,
  ModelResponseTooLargeError,
  ModelServerError,
  ModelStreamInterruptedError,
  ModelTimeoutError,
  isModelError,
} from './model-errors.js';
export type { ModelErrorOptions } from './model-errors.js';
