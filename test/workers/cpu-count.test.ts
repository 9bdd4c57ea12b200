import { describe, expect, it } from 'vitest';
import { availableCpus, cgroupCpuLimit, parseCpuMax, parseProcCgroup } from '../../src/workers/cpu-count.js';
import { parseWorkers, workerEnv, workerExecArgv } from '../../src/cmd/controller-command.js';

const files = (table: Record<string, string>) => (path: string) => table[path];

describe('--workers auto: the CPUs this process may use', () => {
  it('parses cgroup v2 cpu.max into whole CPUs, rounded up', () => {
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('150000 100000')).toBe(2);
    expect(parseCpuMax('50000 100000')).toBe(1);
    expect(parseCpuMax('100000')).toBe(1);
    expect(parseCpuMax('garbage')).toBeUndefined();
    expect(parseCpuMax('0 100000')).toBeUndefined();
  });

  it('finds the v2 path in /proc/self/cgroup', () => {
    expect(parseProcCgroup('12:cpu:/x\n0::/kubepods/pod1/c1\n')).toBe('/kubepods/pod1/c1');
    expect(parseProcCgroup('0::/\n')).toBe('/');
    expect(parseProcCgroup('4:memory:/a\n')).toBeUndefined();
  });

  it('takes the tightest quota of the cgroup and its ancestors', () => {
    const read = files({
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/sys/fs/cgroup/kubepods/cpu.max': 'max 100000',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '300000 100000',
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '250000 100000',
    });
    expect(cgroupCpuLimit({ readFile: read })).toBe(3);
    expect(availableCpus({ readFile: read, parallelism: () => 64 })).toBe(3);
    expect(availableCpus({ readFile: read, parallelism: () => 2 })).toBe(2);
  });

  it('in a container (cgroup namespace: path /) reads the mount itself', () => {
    expect(availableCpus({ readFile: files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '100000 100000\n' }), parallelism: () => 8 })).toBe(1);
  });

  it('without a quota or cgroup v2, availableParallelism; never less than 1', () => {
    expect(availableCpus({ readFile: files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000' }), parallelism: () => 4 })).toBe(4);
    expect(availableCpus({ readFile: files({}), parallelism: () => 6 })).toBe(6);
    expect(availableCpus({ readFile: files({}), parallelism: () => 0 })).toBe(1);
  });

  it('--workers takes auto or 1-1024 and names the flag when wrong', () => {
    expect(parseWorkers('auto', () => 5)).toBe(5);
    expect(parseWorkers(undefined, () => 3)).toBe(3);
    expect(parseWorkers('1')).toBe(1);
    expect(parseWorkers('16')).toBe(16);
    for (const bad of ['0', '-2', '2.5', 'two', '1025']) {
      expect(() => parseWorkers(bad)).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_CLI_FLAG', message: expect.stringContaining('--workers must be auto or a whole number') }));
    }
  });

  it('workers get the memory flags unless the operator set them (Node flags or NODE_OPTIONS, either spelling)', () => {
    expect(workerExecArgv([], undefined)).toEqual(['--max-semi-space-size=4', '--max-old-space-size=384']);
    expect(workerExecArgv(['--cpu-prof'], '--max_old_space_size=1024')).toEqual(['--cpu-prof', '--max-semi-space-size=4']);
    expect(workerExecArgv(['--max-semi-space-size=16'], '')).toEqual(['--max-semi-space-size=16', '--max-old-space-size=384']);
    expect(workerExecArgv([], '--max-semi-space-size=2 --max-old-space-size=200')).toEqual([]);
  });

  it('workers get MALLOC_ARENA_MAX=2 unless the operator set it, and their id always', () => {
    expect(workerEnv({ PATH: '/bin' }, 3)).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '2', PORTICO_WORKER_ID: '3' });
    expect(workerEnv({ MALLOC_ARENA_MAX: '8', PORTICO_WORKER_ID: '9' }, 1)).toEqual({ MALLOC_ARENA_MAX: '8', PORTICO_WORKER_ID: '1' });
  });
});
