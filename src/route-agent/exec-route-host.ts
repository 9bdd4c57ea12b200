import { readFile, writeFile } from 'node:fs/promises';
import type { IpFamily } from '../lib/cidr.js';
import type { CommandRunner } from '../lib/run-command.js';
import type { NetworkOp, ObservedNetwork } from './diff.js';
import { ROUTE_PROTOCOL } from './plan.js';
import { parseFdb, parseLinks, parseNeighbours, parseRoutes, renderNetworkOps, type OpFailure, type RouteHost, type UnderlayInterface } from './route-host.js';

// RouteHost over iproute2 in the agent's own network namespace (the node's). Reading costs three
// processes (`ip -batch` for links, IPv4 routes and neighbours; `ip -6 -batch` for IPv6; `bridge
// fdb`), applying at most three more.

const FORWARDING: Record<IpFamily, string> = { 4: 'net/ipv4/ip_forward', 6: 'net/ipv6/conf/all/forwarding' };

export class ExecRouteHost implements RouteHost {
  readonly #runner: CommandRunner;
  readonly #ip: string;
  readonly #bridge: string;
  readonly #procSys: string;

  constructor(options: { runner: CommandRunner; ip?: string; bridge?: string; procSys?: string }) {
    this.#runner = options.runner;
    this.#ip = options.ip ?? 'ip';
    this.#bridge = options.bridge ?? 'bridge';
    this.#procSys = options.procSys ?? '/proc/sys';
  }

  async #read(command: string, args: string[], input?: string): Promise<string[]> {
    const result = await this.#runner.run({ command, args, ...(input !== undefined && { input }) });
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
    return result.stdout.split('\n').filter((line) => line.trim() !== '');
  }

  async #readAll(): Promise<{ links: string; routes4: string; neighbours4: string; routes6: string; neighbours6: string; fdb: string }> {
    const [v4, v6, fdb] = await Promise.all([
      this.#read(this.#ip, ['-d', '-j', '-batch', '-'], `addr show\nroute show proto ${ROUTE_PROTOCOL}\nneigh show nud permanent\n`),
      this.#read(this.#ip, ['-6', '-j', '-batch', '-'], `route show proto ${ROUTE_PROTOCOL}\nneigh show nud permanent\n`),
      this.#read(this.#bridge, ['-j', 'fdb', 'show']),
    ]);
    // Each show prints one JSON line, `[]` when empty.
    if (v4.length !== 3 || v6.length !== 2) throw new Error(`unexpected ip output: ${v4.length} + ${v6.length} listings for 3 + 2 commands`);
    return { links: v4[0]!, routes4: v4[1]!, neighbours4: v4[2]!, routes6: v6[0]!, neighbours6: v6[1]!, fdb: fdb.join('') };
  }

  async observe(): Promise<ObservedNetwork> {
    const raw = await this.#readAll();
    const { devices } = parseLinks(raw.links);
    const names = new Set(devices.map((d) => d.name));
    return {
      devices,
      routes: [...parseRoutes(raw.routes4, 4), ...parseRoutes(raw.routes6, 6)],
      neighbours: [...parseNeighbours(raw.neighbours4, names), ...parseNeighbours(raw.neighbours6, names)],
      fdb: parseFdb(raw.fdb, names),
    };
  }

  async interfaces(): Promise<UnderlayInterface[]> {
    const [links] = await this.#read(this.#ip, ['-d', '-j', 'addr', 'show']);
    return parseLinks(links ?? '[]').interfaces;
  }

  async apply(ops: readonly NetworkOp[]): Promise<OpFailure[]> {
    const failures: OpFailure[] = [];
    for (const batch of renderNetworkOps(ops)) {
      const command = batch.tool === 'ip' ? this.#ip : this.#bridge;
      const result = await this.#runner.run({ command, args: ['-force', '-batch', '-'], input: batch.lines.map((l) => l.text).join('\n') + '\n' });
      if (result.code === 0) continue;
      // `RTNETLINK answers: File exists\nCommand failed -:3`: the message precedes its line number.
      const lines = result.stderr.split('\n');
      let reported = false;
      lines.forEach((line, index) => {
        const match = /Command failed -:(\d+)/.exec(line);
        const entry = match ? batch.lines[Number(match[1]) - 1] : undefined;
        if (!entry) return;
        reported = true;
        const message = (lines[index - 1] ?? '').trim() || 'failed';
        if (!failures.some((f) => f.op === entry.op)) failures.push({ op: entry.op, message: `${entry.text}: ${message}` });
      });
      if (!reported) for (const entry of batch.lines) if (!failures.some((f) => f.op === entry.op)) failures.push({ op: entry.op, message: result.stderr.trim() || `${command} exit ${result.code}` });
    }
    return failures;
  }

  async ensureForwarding(families: readonly IpFamily[]): Promise<void> {
    for (const family of families) {
      const path = `${this.#procSys}/${FORWARDING[family]}`;
      const current = (await readFile(path, 'utf8').catch(() => '')).trim();
      if (current !== '1') await writeFile(path, '1');
    }
  }
}
