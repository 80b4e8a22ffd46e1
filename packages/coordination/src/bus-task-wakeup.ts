import type { Bus } from '@buckley/bus';
import type { TaskWakeup } from './task-core.js';

/** Options of {@link createBusTaskWakeup}. */
export interface BusTaskWakeupOptions {
  /** The subject wake-ups travel on; default `buckley.coordinator.tasks.available`. */
  readonly subject?: string;
  /** Receives publish failures (a closed or disconnected bus); wake-ups are hints, so they never throw. */
  readonly onError?: (error: unknown) => void;
}

/** Default subject of {@link createBusTaskWakeup}. */
export const DEFAULT_TASK_WAKEUP_SUBJECT = 'buckley.coordinator.tasks.available';

/**
 * A {@link TaskWakeup} over a {@link Bus}: a submit or a retry in one process wakes idle
 * workers in every process. Core pub/sub may lose a message; workers poll anyway, so a lost
 * wake-up only delays a claim by the poll interval. The bus carries no task data.
 */
export function createBusTaskWakeup(bus: Bus, options: BusTaskWakeupOptions = {}): TaskWakeup {
  const subject = options.subject ?? DEFAULT_TASK_WAKEUP_SUBJECT;
  const onError = options.onError ?? (() => {});
  return {
    notify() {
      try {
        bus.publish(subject);
      } catch (error) {
        onError(error);
      }
    },
    async listen(listener) {
      const subscription = await bus.subscribe(subject, () => listener(), { onError });
      return () => subscription.unsubscribe();
    },
  };
}
