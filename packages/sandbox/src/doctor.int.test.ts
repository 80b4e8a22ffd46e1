import { describe, expect, it } from 'vitest';
import { doctor } from './index.js';

describe('doctor', () => {
  it('on this machine (root, bwrap, cgroup v1) every check passes and names the mechanism', async () => {
    const report = await doctor();
    expect(report.checks.map((c) => c.name)).toEqual(['bwrap', 'user-namespaces', 'cgroups', 'unprivileged-uid', 'limits', 'seccomp', 'isolated-vm']);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.limitMechanism).toBe('cgroup-v1');
    expect(report.checks.find((c) => c.name === 'limits')?.detail).toMatch(/cut at 8.*cut at 1 MiB/);
  });

  it('without bubblewrap it fails with a fix per failing check', async () => {
    const report = await doctor({ bwrapPath: '/nonexistent/bwrap' });
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.name)).toEqual(['bwrap', 'user-namespaces', 'limits', 'seccomp']);
    for (const c of failed) expect(c.fix).toMatch(/bubblewrap/);
  });
});
