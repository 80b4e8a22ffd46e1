export {
  BuckleyError,
  isBuckleyError,
  isRetryableError,
  AbortedError,
  TimeoutError,
  InvalidArgumentError,
  ClosedError,
  isClosedError,
  describeValue,
} from './errors.js';
export type { BuckleyErrorOptions } from './errors.js';
export { uuidv7, isUuid, uuidv7Time, deterministicUuid } from './id.js';
export { systemClock, ManualClock } from './clock.js';
export type { Clock, CancelTimer } from './clock.js';
export { sleep, withDeadline, anySignal, abortError, throwIfAborted } from './abort.js';
export type { WaitOptions, DeadlineOptions } from './abort.js';
export { isInside } from './path.js';
export { BoundedQueue } from './queue.js';
export type { BoundedQueueOptions, OverflowPolicy, PushOptions } from './queue.js';
export { RetryExhaustedError, backoffDelay, retry } from './retry.js';
export type { RetryOptions } from './retry.js';
export { CircuitBreaker, CircuitOpenError } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitMetrics, CircuitState, CircuitStateChange } from './circuit-breaker.js';
