import { describe, expect, it } from 'vitest';
import { cgroupDir, parseMountInfo, parseProcCgroup } from './cgroup.js';

const hybridCgroup = `9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpu,cpuacct:/x
0::/
`;

const mountInfo = `35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
40 35 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 35 0:36 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
42 35 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
43 35 0:38 /inner /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct
`;

describe('cgroup parsing', () => {
  it('maps each v1 controller and the v2 path', () => {
    const m = parseProcCgroup(hybridCgroup);
    expect(m.get('pids')).toBe('/');
    expect(m.get('memory')).toBe('/process_api/abc');
    expect(m.get('cpu')).toBe('/x');
    expect(m.get('cpuacct')).toBe('/x');
    expect(m.get('')).toBe('/');
  });

  it('reads cgroup mounts with their controllers, roots and escaped paths', () => {
    const mounts = parseMountInfo(mountInfo);
    expect(mounts).toEqual([
      { mountPoint: '/sys/fs/cgroup/pids', root: '/', fsType: 'cgroup', controllers: ['pids'] },
      { mountPoint: '/sys/fs/cgroup/memory', root: '/', fsType: 'cgroup', controllers: ['memory'] },
      { mountPoint: '/sys/fs/cgroup/unified', root: '/', fsType: 'cgroup2', controllers: [] },
      { mountPoint: '/mnt/with space', root: '/inner', fsType: 'cgroup', controllers: ['cpu', 'cpuacct'] },
    ]);
  });

  it('places a cgroup path under its mount, relative to the mount root', () => {
    const [, memory, , cpu] = parseMountInfo(mountInfo);
    expect(cgroupDir(memory!, '/process_api/abc')).toBe('/sys/fs/cgroup/memory/process_api/abc');
    expect(cgroupDir(cpu!, '/inner/a')).toBe('/mnt/with space/a');
    expect(cgroupDir(cpu!, '/elsewhere')).toBeNull();
  });
});
