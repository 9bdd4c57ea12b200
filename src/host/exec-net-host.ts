import { stat, statfs, writeFile } from 'node:fs/promises';
import type { CommandResult, CommandRunner } from '../lib/run-command.js';
import { errorKind, failedBatchLine, ipErrorMessage, parseIpLinks, parseIpRoutes, renderIpChange } from './ip-batch.js';
import { HostError, type Applied, type ApplyOptions, type NetHost, type NetNamespace, type NetnsStatus } from './net-host.js';
import { describeChange, type Link, type NetChange, type Route } from './net-types.js';

// NetHost over iproute2. Changes for one namespace go to a single `ip -batch -` (through
// `nsenter --net=PATH` for a container namespace, with its sysctls written by a tiny /bin/sh
// prologue in the same process), so an ADD costs a handful of process spawns.

const NSFS_MAGIC = 0x6e736673;
const SYSCTL_KEY = /^[a-zA-Z0-9_][a-zA-Z0-9_.\/-]*$/;
const SYSCTL_VALUE = /^[a-zA-Z0-9_.:-]*$/;
const SYSCTL_FAILED = 97;

// Positional parameters: the ip binary, then (key, value, optional) triples. Nothing is
// interpolated into the script text.
const SYSCTL_PROLOGUE = [
  'ip="$1"; shift',
  'while [ "$#" -ge 3 ]; do',
  '  if ! printf "%s" "$2" 2>/dev/null >"/proc/sys/$1"; then',
  '    if [ "$3" != 1 ]; then echo "cannot set sysctl $1" >&2; exit 97; fi',
  '  fi',
  '  shift 3',
  'done',
  'exec "$ip" -d -j -batch -',
].join('\n');

export interface ExecNetHostOptions {
  runner: CommandRunner;
  ip?: string;
  nsenter?: string;
  sh?: string;
}

export class ExecNetHost implements NetHost {
  readonly #options: Required<ExecNetHostOptions>;

  constructor(options: ExecNetHostOptions) {
    this.#options = { ip: 'ip', nsenter: 'nsenter', sh: '/bin/sh', ...options };
  }

  namespace(path?: string): NetNamespace {
    return new ExecNetNamespace(this.#options, path);
  }

  async probeNetns(path: string): Promise<NetnsStatus> {
    let target;
    try {
      target = await stat(path);
    } catch {
      return 'missing';
    }
    const fs = await statfs(path).catch(() => undefined);
    if (!fs || fs.type !== NSFS_MAGIC) return 'invalid';
    const own = await stat('/proc/self/ns/net').catch(() => undefined);
    if (own && own.ino === target.ino && own.dev === target.dev) return 'own';
    return 'ok';
  }
}

function checkSysctl(change: { key: string; value: string }): void {
  if (!SYSCTL_KEY.test(change.key) || change.key.includes('..')) throw new HostError('failed', `invalid sysctl key ${JSON.stringify(change.key)}`);
  if (!SYSCTL_VALUE.test(change.value)) throw new HostError('failed', `invalid sysctl value ${JSON.stringify(change.value)}`);
}

interface Segment {
  /** Index in the change list of the segment's first change. */
  start: number;
  sysctls: Array<Extract<NetChange, { op: 'sysctl' }>>;
  lines: string[];
}

/** Splits changes into runs of (sysctls, then ip lines), each run one process. */
function segments(changes: readonly NetChange[]): Segment[] {
  const out: Segment[] = [];
  let current: Segment | undefined;
  changes.forEach((change, index) => {
    if (change.op === 'sysctl') {
      checkSysctl(change);
      if (!current || current.lines.length > 0) out.push((current = { start: index, sysctls: [], lines: [] }));
      current.sysctls.push(change);
      return;
    }
    if (!current) out.push((current = { start: index, sysctls: [], lines: [] }));
    current.lines.push(renderIpChange(change)!);
  });
  return out;
}

class ExecNetNamespace implements NetNamespace {
  readonly path: string | undefined;
  readonly #options: Required<ExecNetHostOptions>;

  constructor(options: Required<ExecNetHostOptions>, path: string | undefined) {
    this.#options = options;
    this.path = path;
  }

  #run(args: readonly string[], input?: string): Promise<CommandResult> {
    const { runner, ip, nsenter } = this.#options;
    if (this.path === undefined) return runner.run({ command: ip, args, ...(input !== undefined ? { input } : {}) });
    return runner.run({ command: nsenter, args: [`--net=${this.path}`, ip, ...args], ...(input !== undefined ? { input } : {}) });
  }

  #where(): string {
    return this.path === undefined ? 'host namespace' : `netns ${this.path}`;
  }

  async lookupLink(name: string): Promise<Link | undefined> {
    const result = await this.#run(['-d', '-j', 'addr', 'show', 'dev', name]);
    if (result.code !== 0) {
      if (errorKind(result.stderr) === 'not-found') return undefined;
      throw new HostError(errorKind(result.stderr), `cannot read link ${name} in ${this.#where()}: ${ipErrorMessage(result.stderr)}`);
    }
    return parseIpLinks(result.stdout)[0];
  }

  async listLinks(): Promise<Link[]> {
    const result = await this.#run(['-d', '-j', 'addr', 'show']);
    if (result.code !== 0) throw new HostError(errorKind(result.stderr), `cannot list links in ${this.#where()}: ${ipErrorMessage(result.stderr)}`);
    return parseIpLinks(result.stdout);
  }

  async listRoutes(): Promise<Route[]> {
    const result = await this.#run(['-d', '-j', 'route', 'show', 'table', 'all']);
    if (result.code !== 0) throw new HostError(errorKind(result.stderr), `cannot list routes in ${this.#where()}: ${ipErrorMessage(result.stderr)}`);
    return parseIpRoutes(result.stdout);
  }

  async apply(changes: readonly NetChange[], options: ApplyOptions = {}): Promise<Applied> {
    const show = (names: readonly string[] | undefined) => (names ?? []).map((name) => `addr show dev ${name}`);
    const runs = segments(changes);
    if (runs.length === 0) runs.push({ start: changes.length, sysctls: [], lines: [] });
    const applied: Applied = { before: [], after: [] };
    for (const [i, run] of runs.entries()) {
      const reads = { pre: i === 0 ? show(options.readBefore) : [], post: i === runs.length - 1 ? show(options.readBack) : [] };
      const links = await this.#applySegment(changes, run, reads);
      applied.before.push(...links.pre);
      applied.after.push(...links.post);
    }
    return applied;
  }

  async #applySegment(changes: readonly NetChange[], run: Segment, reads: { pre: string[]; post: string[] }): Promise<{ pre: Link[]; post: Link[] }> {
    if (this.path === undefined) {
      for (const [offset, change] of run.sysctls.entries()) {
        try {
          await writeFile(`/proc/sys/${change.key}`, change.value);
        } catch (error) {
          if (change.optional) continue;
          throw new HostError('failed', `cannot set sysctl ${change.key}=${change.value}: ${(error as Error).message}`, run.start + offset);
        }
      }
    }
    const lines = [...reads.pre, ...run.lines, ...reads.post];
    const useShell = this.path !== undefined && run.sysctls.length > 0;
    if (lines.length === 0 && !useShell) return { pre: [], post: [] };
    const input = lines.join('\n') + '\n';
    let result: CommandResult;
    if (useShell) {
      const { runner, ip, nsenter, sh } = this.#options;
      const triples = run.sysctls.flatMap((c) => [c.key, c.value, c.optional ? '1' : '0']);
      result = await runner.run({ command: nsenter, args: [`--net=${this.path}`, sh, '-c', SYSCTL_PROLOGUE, 'sh', ip, ...triples], input });
      if (result.code === SYSCTL_FAILED) {
        const key = /cannot set sysctl (\S+)/.exec(result.stderr)?.[1];
        const offset = Math.max(0, run.sysctls.findIndex((c) => c.key === key));
        throw new HostError('failed', `cannot set sysctl ${key ?? '?'} in ${this.#where()}`, run.start + offset);
      }
    } else {
      result = await this.#run(['-d', '-j', '-batch', '-'], input);
    }
    if (result.code !== 0) {
      const line = failedBatchLine(result.stderr);
      const changeLine = line !== undefined ? line - reads.pre.length : undefined;
      const index = changeLine !== undefined && changeLine >= 0 && changeLine < run.lines.length ? run.start + run.sysctls.length + changeLine : undefined;
      const what = index !== undefined && changes[index] ? describeChange(changes[index]) : 'read links';
      throw new HostError(errorKind(result.stderr), `${what} in ${this.#where()}: ${ipErrorMessage(result.stderr)}`, index);
    }
    const outputs = result.stdout.split('\n').filter((line) => line.trim().startsWith('['));
    if (outputs.length !== reads.pre.length + reads.post.length) {
      throw new HostError('failed', `unexpected ip output in ${this.#where()}: ${outputs.length} link listings for ${reads.pre.length + reads.post.length} reads`);
    }
    return {
      pre: outputs.slice(0, reads.pre.length).flatMap((line) => parseIpLinks(line)),
      post: outputs.slice(reads.pre.length).flatMap((line) => parseIpLinks(line)),
    };
  }

  async deleteLink(name: string): Promise<boolean> {
    const result = await this.#run(['link', 'del', 'dev', name]);
    if (result.code === 0) return true;
    if (errorKind(result.stderr) === 'not-found') return false;
    throw new HostError(errorKind(result.stderr), `cannot delete link ${name} in ${this.#where()}: ${ipErrorMessage(result.stderr)}`);
  }
}

