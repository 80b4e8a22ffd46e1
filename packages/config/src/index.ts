export { configSchema } from './schema.js';
export type {
  BuckleyConfig,
  SandboxConfig,
  SandboxMode,
  StoreConfig,
  BusConfig,
  ApprovalConfig,
  ApprovalMode,
  ModelConfig,
  ModelPrice,
  ApiConfig,
  ObservabilityConfig,
  LoggingConfig,
} from './schema.js';
export { loadConfig, parseConfig, defaultConfig, explainConfig, formatExplain, userConfigPath, findProjectConfig, findProjectRoot } from './load.js';
export type { LoadConfigOptions, LoadedConfig, ConfigExplanation } from './load.js';
export {
  ConfigError,
  ConfigReadError,
  ConfigParseError,
  ConfigValidationError,
  ConfigTrustError,
  ConfigOutsideProjectError,
  describeValue,
  formatOrigin,
} from './errors.js';
export type { ConfigLayer, ConfigOrigin, ConfigIssue, TrustViolation } from './errors.js';
