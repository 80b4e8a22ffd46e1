export { OPERATION_DURATION_BUCKETS, OPERATION_DURATION_METRIC, createOperationTimers } from './operation-timers.js';
export type { OperationTimer, OperationTimers, OperationTimersOptions } from './operation-timers.js';
export { RUNTIME_SAMPLER_METRICS, createRuntimeSampler } from './runtime-sampler.js';
export type { RuntimeSample, RuntimeSampler, RuntimeSamplerOptions } from './runtime-sampler.js';
