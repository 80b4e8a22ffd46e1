import { BuckleyError, type BuckleyErrorOptions, isBuckleyError } from '@buckley/utils';
import type { TaskStatus } from './task-coordinator.js';

/** Stable codes of the task coordinator's errors. */
export const TaskErrorCode = {
  LeaseLost: 'TASK_LEASE_LOST',
  NotFound: 'TASK_NOT_FOUND',
  State: 'TASK_STATE',
  InvalidTask: 'INVALID_TASK',
} as const;

/** One of {@link TaskErrorCode}'s values. */
export type TaskErrorCode = (typeof TaskErrorCode)[keyof typeof TaskErrorCode];

/** The base of every error the task coordinator throws. */
export class TaskCoordinatorError extends BuckleyError {
  declare readonly code: TaskErrorCode;
}

/**
 * The worker's lease is gone: it expired, or another worker claimed the task, or the task
 * already moved on. Nothing was written; the worker should drop the task.
 */
export class TaskLeaseLostError extends TaskCoordinatorError {
  readonly taskId: string;
  readonly attempt: number;
  /** What the coordinator found instead of the caller's live lease. */
  readonly reason: 'expired' | 'superseded' | 'finished';

  constructor(taskId: string, attempt: number, reason: TaskLeaseLostError['reason'], options?: BuckleyErrorOptions) {
    super(TaskErrorCode.LeaseLost, `lease of task ${JSON.stringify(taskId)} attempt ${attempt} was lost: ${reason}`, options);
    this.taskId = taskId;
    this.attempt = attempt;
    this.reason = reason;
  }
}

/** No task has this id. */
export class TaskNotFoundError extends TaskCoordinatorError {
  readonly taskId: string;
  constructor(taskId: string, options?: BuckleyErrorOptions) {
    super(TaskErrorCode.NotFound, `task ${JSON.stringify(taskId)} does not exist`, options);
    this.taskId = taskId;
  }
}

/** The task is not in a state that allows the call (e.g. replaying a task that is not parked). */
export class TaskStateError extends TaskCoordinatorError {
  readonly taskId: string;
  readonly status: TaskStatus;
  constructor(taskId: string, status: TaskStatus, expected: string, options?: BuckleyErrorOptions) {
    super(TaskErrorCode.State, `task ${JSON.stringify(taskId)} is ${JSON.stringify(status)}, expected ${expected}`, options);
    this.taskId = taskId;
    this.status = status;
  }
}

/** A submitted task or an option was malformed; nothing was written. */
export class InvalidTaskError extends TaskCoordinatorError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(TaskErrorCode.InvalidTask, message, options);
  }
}

/** True when `value` is a {@link TaskLeaseLostError} (by code, so it holds across installs). */
export function isTaskLeaseLostError(value: unknown): value is TaskLeaseLostError {
  return isBuckleyError(value, TaskErrorCode.LeaseLost);
}

/** True when `value` is any task coordinator error. */
export function isTaskCoordinatorError(value: unknown): value is TaskCoordinatorError {
  return isBuckleyError(value) && (Object.values(TaskErrorCode) as string[]).includes(value.code);
}
