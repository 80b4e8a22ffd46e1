export { createRuntime, loadRuntimeConfig, openEventStore } from './runtime.js';
export type { OpenedStore, Runtime, RuntimeOptions } from './runtime.js';
export { ExitCode, runCli } from './cli.js';
export type { CliIo } from './cli.js';
export {
  MissingPackageError,
  ModelNotConfiguredError,
  RuntimeError,
  RuntimeErrorCode,
  StoreUnavailableError,
  UsageError,
  isRuntimeError,
} from './runtime-errors.js';
