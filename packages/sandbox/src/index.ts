export type {
  Sandbox,
  RunOptions,
  RunResult,
  SandboxLimits,
  SandboxViolation,
  ViolationRule,
  CapturedOutput,
  LimitHit,
} from './sandbox.js';
export { BubblewrapSandbox, createSandbox, findExecutable, probeBwrap, releaseSpare } from './bubblewrap-sandbox.js';
export type { SandboxOptions, SandboxEvent, SandboxProbe } from './bubblewrap-sandbox.js';
export { SandboxError, SandboxUnavailableError, SandboxWorkspaceError, JsRunnerCrashedError, isSandboxError } from './errors.js';
export { buildEnvironment, isSecretEnvName, isSecretEnvValue } from './env.js';
export type { SandboxEnvironment } from './env.js';
export { checkCommand, STRICT_SAFE_BUILTINS } from './policy.js';
export type { PolicyContext, PolicyDecision } from './policy.js';
export { HOME_SECRETS, READ_ONLY_IN_WORKSPACE, HIDDEN_IN_WORKSPACE, SYSTEM_SECRETS, bwrapArgs, closedAncestor, planMounts, isInside } from './mounts.js';
export type { MountPlan, PlanMountsInput, BwrapArgsInput, HiddenHome } from './mounts.js';
export { JsRunner, createJsRunner, resolveIsolatedVm, ISOLATED_VM_FIX } from './js-runner.js';
export type { JsLimits, JsRunnerOptions, JsRunOptions, JsResult, JsFailure, JsLog, JsModule, HostFunction } from './js-runner.js';
export { compileSeccompFilter, REFUSED_SYSCALLS } from './seccomp.js';
export type { RefusedSyscall, SeccompFilterOptions } from './seccomp.js';
export { sanitizeForTerminal } from './terminal.js';
export type { SanitizeForTerminalOptions } from './terminal.js';
export { doctor } from './doctor.js';
export type { DoctorCheck, DoctorReport, DoctorOptions, LimitMechanism, UidStrategy } from './doctor.js';
