import { readdirSync } from 'node:fs';
import { createSandbox } from './bubblewrap-sandbox.js';
import type { Sandbox } from './sandbox.js';

/**
 * For tests: a `createSandbox` that remembers every sandbox it made, and `closeAll()` to close
 * them (each holds its spare process until closed). Call it in `afterEach`/`afterAll`.
 */
export function trackedSandboxes(): { create: typeof createSandbox; closeAll: () => Promise<void> } {
  const open = new Set<Sandbox>();
  return {
    create: (options) => {
      const sandbox = createSandbox(options);
      open.add(sandbox);
      return sandbox;
    },
    closeAll: async () => {
      const all = [...open];
      open.clear();
      await Promise.all(all.map((s) => s.close()));
    },
  };
}

/** For tests: this process's cgroups (runs are `buckley-<pid>-<n>-*`, spares `buckley-<pid>-s<n>-*`). */
export function buckleyCgroups(): string[] {
  return ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory'].flatMap((dir) => {
    try {
      return readdirSync(dir).filter((n) => n.startsWith(`buckley-${process.pid}-`));
    } catch {
      return [];
    }
  });
}
