import { describe, expect, it } from 'vitest';
import { launcherArgs } from './launcher.js';
import { bwrapArgs, expandPath } from './mounts.js';

describe('expandPath', () => {
  it('expands ~ and resolves relative paths against the base', () => {
    expect(expandPath('~/.ssh', '/home/u', '/w')).toBe('/home/u/.ssh');
    expect(expandPath('secrets/x', '/home/u', '/w')).toBe('/w/secrets/x');
    expect(expandPath('/a/../b', '/home/u', '/w')).toBe('/b');
  });
});

describe('bwrapArgs', () => {
  const plan = {
    workspace: '/w',
    writable: true,
    readOnly: ['/w/.git'],
    hiddenDirs: ['/h/.ssh'],
    hiddenFiles: ['/h/.netrc'],
    network: false,
    homes: [],
    tmpBytes: 1024,
  };
  const args = bwrapArgs({ plan, env: { PATH: '/usr/bin' }, cwd: '/w/src', argv: ['ls', '-la'], hostUid: 0 });

  it('unshares every namespace, drops capabilities and maps root to an unprivileged uid', () => {
    for (const flag of [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--die-with-parent',
      '--new-session',
      '--disable-userns',
    ]) {
      expect(args).toContain(flag);
    }
    expect(args.join(' ')).toContain('--cap-drop ALL');
    expect(args.join(' ')).toContain('--uid 1000 --gid 1000');
  });

  it('binds the workspace after the private /tmp and masks protected paths after the workspace', () => {
    const s = args.join(' ');
    expect(s.indexOf('--tmpfs /tmp')).toBeLessThan(s.indexOf('--bind /w /w'));
    expect(s.indexOf('--bind /w /w')).toBeLessThan(s.indexOf('--ro-bind /w/.git /w/.git'));
    expect(s).toContain('--tmpfs /h/.ssh --remount-ro /h/.ssh');
    expect(s).toContain('--ro-bind /dev/null /h/.netrc');
    expect(s).toContain('--clearenv --setenv PATH /usr/bin --chdir /w/src -- ls -la');
  });

  it('keeps the network namespace shared only when the plan allows the network', () => {
    const open = bwrapArgs({ plan: { ...plan, network: true, writable: false }, env: {}, cwd: '/w', argv: ['true'], hostUid: 1000, resolvConf: '/run/r.conf' });
    expect(open).not.toContain('--unshare-net');
    expect(open).not.toContain('--uid');
    expect(open.join(' ')).toContain('--ro-bind /w /w');
    expect(open.join(' ')).toContain('--ro-bind /run/r.conf /run/r.conf');
  });
});

describe('launcherArgs', () => {
  it('passes cgroups, rlimits and the program as separate argv entries', () => {
    expect(launcherArgs(['/cg/a/cgroup.procs'], [{ flag: '-f', value: 10.5 }], ['bwrap', '--', 'echo', '$(x)']).slice(2)).toEqual([
      'buckley-sandbox',
      '1',
      '/cg/a/cgroup.procs',
      '1',
      '-f',
      '10',
      'bwrap',
      '--',
      'echo',
      '$(x)',
    ]);
  });
});
