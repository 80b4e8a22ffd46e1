import type { ApprovalMode } from '@buckley/config';
import type { ApprovalClass, JsonValue } from './tool.js';

/**
 * What each approval mode does with each class of call: `allow` runs it, `ask` asks the
 * approver (and, with nobody to ask, denies). The README prints this table.
 */
export const APPROVAL_TABLE: Readonly<Record<ApprovalMode, Readonly<Record<ApprovalClass, 'allow' | 'ask'>>>> = {
  ask: { read: 'allow', workspace_write: 'ask', shell: 'ask', network: 'ask' },
  safe: { read: 'allow', workspace_write: 'allow', shell: 'ask', network: 'ask' },
  auto: { read: 'allow', workspace_write: 'allow', shell: 'allow', network: 'ask' },
  yolo: { read: 'allow', workspace_write: 'allow', shell: 'allow', network: 'allow' },
};

/** What the approver is asked about one call. */
export interface ApprovalRequest {
  /** The model's tool call id. */
  readonly callId: string;
  readonly toolName: string;
  readonly approvalClass: ApprovalClass;
  /** The arguments, redacted. */
  readonly input: JsonValue;
  /** The session the call belongs to ("allow always" is remembered per session). */
  readonly sessionId: string | undefined;
  readonly mode: ApprovalMode;
}

/** A person's (or a UI's) answer. `allow_always` is remembered for the rest of the session. */
export type ApprovalAnswer = 'allow_once' | 'allow_always' | 'deny';

/**
 * The pluggable approver: the terminal, the API, ACP's permission request. Leave it out in
 * headless use: with nobody to ask, every call that needs asking is denied.
 */
export type Approver = (request: ApprovalRequest, signal: AbortSignal) => Promise<ApprovalAnswer>;

/** How a call was decided. */
type ApprovalDecision =
  | { readonly allowed: true; readonly by: 'policy' | 'user' | 'config' }
  | { readonly allowed: false; readonly reason: string; readonly rule: 'user_denied' | 'no_approver' | 'approver_failed' };

const SHELL_META = /[;&|<>`$(){}\n\r\\*?[\]!#~'"]/;

/**
 * Whether `command` is covered by one of `patterns` (`auto_approve_patterns`): the pattern is a
 * whole-word prefix of the command and the command is one plain command (no `;`, `&&`, `|`,
 * redirection, substitution, glob or quoting), so `pnpm test && curl x | sh` is not `pnpm test`.
 */
export function matchesAutoApprove(command: string, patterns: readonly string[]): boolean {
  const trimmed = command.trim();
  if (trimmed === '' || SHELL_META.test(trimmed)) return false;
  const words = trimmed.split(/\s+/);
  return patterns.some((pattern) => {
    const want = pattern.trim().split(/\s+/);
    return want.length > 0 && want[0] !== '' && want.length <= words.length && want.every((w, i) => words[i] === w);
  });
}

/** The approval step of the executor: mode x class, `auto_approve_patterns`, the approver and the session memory. */
export interface ApprovalGate {
  decide(request: ApprovalRequest, command: string | undefined, signal: AbortSignal): Promise<ApprovalDecision>;
}

export function createApprovalGate(options: { mode: ApprovalMode; patterns: readonly string[]; approver: Approver | undefined }): ApprovalGate {
  const { mode, patterns, approver } = options;
  if (!(mode in APPROVAL_TABLE)) throw new TypeError(`approval mode ${JSON.stringify(mode)} is invalid, expected ask, safe, auto or yolo`);
  // "Allow always" answers: session -> keys (the tool name, and for commands the exact command).
  const remembered = new Map<string, Set<string>>();
  const keyOf = (request: ApprovalRequest, command: string | undefined) => (command === undefined ? request.toolName : `${request.toolName}\0${command}`);
  return {
    async decide(request, command, signal) {
      if (APPROVAL_TABLE[mode][request.approvalClass] === 'allow') return { allowed: true, by: 'policy' };
      if (patterns.includes(request.toolName) || (command !== undefined && matchesAutoApprove(command, patterns))) return { allowed: true, by: 'config' };
      const session = request.sessionId ?? '';
      const key = keyOf(request, command);
      if (remembered.get(session)?.has(key)) return { allowed: true, by: 'user' };
      if (approver === undefined) {
        return {
          allowed: false,
          rule: 'no_approver',
          reason: `${request.approvalClass} call needs approval in mode ${mode} and nobody can be asked (headless)`,
        };
      }
      let answer: ApprovalAnswer;
      try {
        answer = await approver(request, signal);
      } catch (error) {
        return {
          allowed: false,
          rule: 'approver_failed',
          reason: `the approver failed (${error instanceof Error ? error.message : String(error)}), so the call counts as denied`,
        };
      }
      if (answer === 'allow_always') {
        let keys = remembered.get(session);
        if (keys === undefined) remembered.set(session, (keys = new Set()));
        keys.add(key);
        return { allowed: true, by: 'user' };
      }
      if (answer === 'allow_once') return { allowed: true, by: 'user' };
      return {
        allowed: false,
        rule: 'user_denied',
        reason: answer === 'deny' ? 'the user denied the call' : `the approver answered ${JSON.stringify(answer)}, which counts as a denial`,
      };
    },
  };
}
