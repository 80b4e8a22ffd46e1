import { describe, expect, it } from 'vitest';
import { doctor } from './index.js';

describe('doctor', () => {
  it('on this machine (root, bwrap, cgroup v1) every check passes and names the mechanism', async () => {
    const report = await doctor();
    expect(report.checks.map((c) => c.name)).toEqual(['bwrap', 'user_namespaces', 'cgroups', 'unprivileged_uid', 'limits', 'seccomp', 'isolated-vm']);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.limitMechanism).toBe('cgroup_v1');
    expect(report.checks.find((c) => c.name === 'limits')?.detail).toMatch(/cut at 8.*cut at 1 MiB/);
    // Root here: commands run as the sandbox uid, which the host saw.
    expect(report.uidStrategy).toEqual({ kind: 'sandbox_uid', uid: 2_000_000_000, gid: 2_000_000_000, source: 'default' });
    expect(report.checks.find((c) => c.name === 'unprivileged_uid')?.detail).toMatch(/commands run as host uid 2000000000 .*seen by the host/);
  });

  it('reports the runAs it is given, and fails the check when that uid is root', async () => {
    const given = await doctor({ runAs: { uid: 1000, gid: 1000 } });
    expect(given.uidStrategy).toEqual({ kind: 'sandbox_uid', uid: 1000, gid: 1000, source: 'option' });
    expect(given.checks.find((c) => c.name === 'unprivileged_uid')).toMatchObject({ ok: true });
    const rootAgain = await doctor({ runAs: { uid: 0, gid: 0 } });
    expect(rootAgain.checks.find((c) => c.name === 'unprivileged_uid')).toMatchObject({ ok: false });
    expect(rootAgain.ok).toBe(false);
  });

  it('without bubblewrap it fails with a fix per failing check', async () => {
    const report = await doctor({ bwrapPath: '/nonexistent/bwrap' });
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.name)).toEqual(['bwrap', 'user_namespaces', 'unprivileged_uid', 'limits', 'seccomp']);
    for (const c of failed) expect(c.fix).toMatch(/bubblewrap/);
  });
});
