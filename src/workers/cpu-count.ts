// `--workers auto`: how many CPUs this process may really use. os.availableParallelism() honours the
// CPU affinity mask (taskset, cpuset) but not a CFS quota, and a container with `resources.limits.cpu:
// 2` on a 64-core node sees 64 CPUs and gets 2 CPUs' worth of time: 64 workers would only fight over
// it. So the cgroup v2 `cpu.max` quota of our cgroup and of every ancestor (the tightest wins) caps it.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuCountOptions {
  /** os.availableParallelism (tests inject it). */
  readonly parallelism?: () => number;
  /** Reads a file, undefined when it does not exist or cannot be read (tests inject a table). */
  readonly readFile?: (path: string) => string | undefined;
  /** Where cgroup v2 is mounted; default /sys/fs/cgroup. */
  readonly cgroupRoot?: string;
}

/**
 * A cgroup v2 `cpu.max` ("$MAX $PERIOD", MAX may be `max`) → whole CPUs, rounded up (a quota of 1.5
 * CPUs keeps 2 workers busy part of the time rather than leaving half a CPU unused); undefined when
 * there is no quota or the text is not in that form.
 */
export function parseCpuMax(text: string): number | undefined {
  const match = /^\s*(max|\d+)(?:\s+(\d+))?\s*$/.exec(text);
  if (!match || match[1] === 'max') return undefined;
  const quota = Number(match[1]);
  const period = Number(match[2] ?? 100_000);
  if (!(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

/** The cgroup v2 path of this process from /proc/self/cgroup (the `0::/path` line); undefined on v1-only hosts. */
export function parseProcCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  }
  return undefined;
}

const readIfThere = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The smallest quota (in whole CPUs) on our cgroup and its ancestors; undefined when none is set. */
export function cgroupCpuLimit(options: CpuCountOptions = {}): number | undefined {
  const read = options.readFile ?? readIfThere;
  const root = (options.cgroupRoot ?? '/sys/fs/cgroup').replace(/\/$/, '');
  const own = parseProcCgroup(read('/proc/self/cgroup') ?? '');
  if (own === undefined) return undefined;
  // In a container with a cgroup namespace our path is `/` and the mount is our own cgroup; outside
  // one, walk from our cgroup up to the root.
  const segments = own.split('/').filter(Boolean);
  let limit: number | undefined;
  for (let depth = segments.length; depth >= 0; depth--) {
    const dir = [root, ...segments.slice(0, depth)].join('/');
    const text = read(`${dir}/cpu.max`);
    const cpus = text === undefined ? undefined : parseCpuMax(text);
    if (cpus !== undefined) limit = limit === undefined ? cpus : Math.min(limit, cpus);
  }
  return limit;
}

/** `--workers auto`: availableParallelism capped by the cgroup quota, at least 1. */
export function availableCpus(options: CpuCountOptions = {}): number {
  const parallelism = Math.max(1, Math.floor((options.parallelism ?? availableParallelism)()));
  const limit = cgroupCpuLimit(options);
  return Math.max(1, limit === undefined ? parallelism : Math.min(parallelism, limit));
}
