// Stale UDP conntrack entries, cleared with the conntrack tool (conntrack-tools), as kube-proxy does.
import type { CommandRunner } from '../lib/run-command.js';

export type ConntrackProtocol = 'udp' | 'sctp';

export interface ConntrackCleaner {
  /** Entries to `serviceIP` that were DNATed to `endpointIP`. */
  clearEndpoint(target: { serviceIP: string; endpointIP: string; protocol: ConntrackProtocol }): Promise<void>;
  /** Entries to a NodePort that were DNATed to `endpointIP`. */
  clearNodePort(target: { nodePort: number; endpointIP: string; protocol: ConntrackProtocol }): Promise<void>;
  /** Every entry to `serviceIP` (it had no endpoints; those entries were made while rejecting). */
  clearServiceIP(target: { serviceIP: string; protocol: ConntrackProtocol }): Promise<void>;
  /** Every entry to a NodePort. */
  clearNodePortAll(target: { nodePort: number; protocol: ConntrackProtocol }): Promise<void>;
}

/** Runs `conntrack -D …`; "0 flow entries" (exit 1) is not an error. */
export class ExecConntrack implements ConntrackCleaner {
  readonly #runner: CommandRunner;
  readonly #binary: string;

  constructor(options: { runner: CommandRunner; binary?: string }) {
    this.#runner = options.runner;
    this.#binary = options.binary ?? 'conntrack';
  }

  clearEndpoint(t: { serviceIP: string; endpointIP: string; protocol: ConntrackProtocol }): Promise<void> {
    return this.#delete(['-p', t.protocol, '--orig-dst', t.serviceIP, '--dst-nat', t.endpointIP, ...familyArgs(t.serviceIP)]);
  }

  clearNodePort(t: { nodePort: number; endpointIP: string; protocol: ConntrackProtocol }): Promise<void> {
    return this.#delete(['-p', t.protocol, '--orig-port-dst', String(t.nodePort), '--dst-nat', t.endpointIP, ...familyArgs(t.endpointIP)]);
  }

  clearServiceIP(t: { serviceIP: string; protocol: ConntrackProtocol }): Promise<void> {
    return this.#delete(['-p', t.protocol, '--orig-dst', t.serviceIP, ...familyArgs(t.serviceIP)]);
  }

  clearNodePortAll(t: { nodePort: number; protocol: ConntrackProtocol }): Promise<void> {
    return this.#delete(['-p', t.protocol, '--orig-port-dst', String(t.nodePort)]);
  }

  async #delete(args: string[]): Promise<void> {
    const result = await this.#runner.run({ command: this.#binary, args: ['-D', ...args], timeoutMs: 10_000 });
    if (result.code !== 0 && !/0 flow entries/.test(result.stderr)) {
      throw new Error(`conntrack -D ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
    }
  }
}

function familyArgs(ip: string): string[] {
  return ip.includes(':') ? ['-f', 'ipv6'] : [];
}
