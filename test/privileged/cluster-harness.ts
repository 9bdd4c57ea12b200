import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, installedPlugin, mustExec, REPO, runPlugin, Sandbox, SKIP_REASON, SYSTEM_PATH } from './helpers.js';

// A small cluster in network namespaces, built the way a real one is wired: an underlay bridge in
// a namespace of its own (never on the host) joining node namespaces and an outside client; pods
// created by the installed portico-cni inside each node (bridge cni0, gateway, hairpin, no
// masquerade) with 10.244.<n>.0/24 per node; host-gw routes between the nodes' pod subnets; and
// an echo server per pod (TCP and UDP) that answers with its pod name and the peer's address.
// Everything it creates belongs to a Sandbox and is removed by teardown(), which never throws.

const PROBE = join(import.meta.dirname, 'net-probe.mjs');
const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');

/** Why the cluster tests cannot run here: the privileged reason, or a missing `conntrack`. */
export const CLUSTER_SKIP_REASON =
  SKIP_REASON ??
  (SYSTEM_PATH.split(':').some((dir) => existsSync(join(dir, 'conntrack')))
    ? undefined
    : 'missing conntrack (apt-get install conntrack; .ci/run does it)');

export interface ClusterNode {
  /** The Kubernetes node name (`node-1`), used in EndpointSlices and --node-name. */
  name: string;
  netns: string;
  /** Address on the underlay. */
  ip: string;
  podCidr: string;
  /** cni0's address, the pods' default gateway. */
  gateway: string;
}

export interface Pod {
  name: string;
  node: ClusterNode;
  netns: string;
  ip: string;
}

/** What an echo server answered, or why there was no answer (`ECONNREFUSED`, `timeout`, …). */
export interface Attempt {
  reply?: { pod: string; remote: string; port: number };
  error?: string;
}

export interface ClusterOptions {
  /** Pods per node, by name: [['web-1a', 'client-1'], ['web-2a']] puts two on node-1, one on node-2. */
  pods: string[][];
  /** Ports every pod's echo server listens on (TCP and UDP). */
  echoPorts?: number[];
  /** false: no routes between the nodes' pod subnets (a node agent's job). Default true. */
  staticRoutes?: boolean;
}

const UNDERLAY = '10.30.0';
export const CLIENT_IP = `${UNDERLAY}.5`;

export class Cluster {
  readonly sandbox = new Sandbox();
  readonly nodes: ClusterNode[] = [];
  readonly pods = new Map<string, Pod>();
  /** The outside client's namespace (on the underlay, no route to pods). */
  client = '';
  readonly clientIp = CLIENT_IP;
  /** A directory for the test's manifests (see writeManifest). */
  manifestsDir = '';
  #dataDir = '';
  #echoPorts: number[] = [8080];
  readonly #children: ChildProcess[] = [];

  static async create(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster();
    try {
      await cluster.#build(options);
    } catch (error) {
      await cluster.teardown();
      throw error;
    }
    return cluster;
  }

  pod(name: string): Pod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name} in this cluster (have ${[...this.pods.keys()].join(', ')})`);
    return pod;
  }

  node(name: string): ClusterNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  async #build(options: ClusterOptions): Promise<void> {
    this.#dataDir = await mkdtemp(join(tmpdir(), 'pcni-cluster-'));
    this.manifestsDir = join(this.#dataDir, 'manifests');
    await mustExec('mkdir', ['-p', this.manifestsDir]);

    const underlay = (await this.sandbox.netns('ul')).name;
    await mustExec('ip', ['-n', underlay, 'link', 'add', 'br0', 'type', 'bridge']);
    await mustExec('ip', ['-n', underlay, 'link', 'set', 'br0', 'up']);
    const attach = async (host: string, port: string, address: string) => {
      await mustExec('ip', ['-n', underlay, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host]);
      await mustExec('ip', ['-n', underlay, 'link', 'set', port, 'master', 'br0', 'up']);
      await mustExec('ip', ['-n', host, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await mustExec('ip', ['-n', host, 'link', 'set', 'eth0', 'up']);
      await mustExec('ip', ['-n', host, 'link', 'set', 'lo', 'up']);
    };

    this.client = (await this.sandbox.netns('client')).name;
    await attach(this.client, 'client', CLIENT_IP);

    for (const [index] of options.pods.entries()) {
      const n = index + 1;
      const netns = (await this.sandbox.netns(`node${n}`)).name;
      const node: ClusterNode = { name: `node-${n}`, netns, ip: `${UNDERLAY}.${10 + n}`, podCidr: `10.244.${n}.0/24`, gateway: `10.244.${n}.1` };
      await attach(netns, `node${n}`, node.ip);
      await mustExec('ip', ['netns', 'exec', netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // All hosts share one L2 here, so a node forwarding a NodePort connection to the other node
      // sends the client ICMP redirects; those share the kernel's per-host ICMP rate-limit state,
      // and the next REJECT (ICMP port unreachable) to that client would be silently dropped.
      for (const key of ['all', 'default', 'eth0']) await mustExec('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `net.ipv4.conf.${key}.send_redirects=0`]);
      // A node has a default route (here towards the outside host, which does not forward): local
      // traffic to a ClusterIP needs some route before the nat output hook rewrites it.
      await mustExec('ip', ['-n', netns, 'route', 'add', 'default', 'via', CLIENT_IP]);
      this.nodes.push(node);
    }
    for (const node of this.nodes) {
      for (const peer of this.nodes) {
        if (peer !== node && options.staticRoutes !== false) await mustExec('ip', ['-n', node.netns, 'route', 'add', peer.podCidr, 'via', peer.ip]);
      }
    }
    this.#echoPorts = options.echoPorts ?? [8080];

    for (const [index, names] of options.pods.entries()) {
      const node = this.nodes[index]!;
      const config = {
        cniVersion: '1.1.0',
        name: 'cluster',
        type: 'portico-cni',
        bridge: 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', dataDir: join(this.#dataDir, node.name), ranges: [[{ subnet: node.podCidr }]] },
      };
      for (const name of names) await this.#wire(name, node, config);
    }
    await Promise.all([...this.pods.values()].map((pod) => this.#serve(pod.netns, [PROBE, 'echo', '0.0.0.0', this.#echoPorts.join(','), pod.name])));
  }

  async #wire(name: string, node: ClusterNode, config: unknown): Promise<Pod> {
    const plugin = await installedPlugin();
    const netns = await this.sandbox.netns(`pod-${name}`);
    const added = await runPlugin({ plugin, command: 'ADD', node: node.netns, config, containerId: name, netns: netns.path, cniPath: join(plugin, '..') });
    if (added.code !== 0) throw new Error(`portico-cni ADD ${name} on ${node.name} failed (${added.code}): ${added.stdout}${added.stderr}`);
    const ip = String(added.json.ips[0].address).split('/')[0]!;
    const pod: Pod = { name, node, netns: netns.name, ip };
    this.pods.set(name, pod);
    return pod;
  }

  /**
   * Adds a pod the way a runtime does from a conflist file on the node (its first plugin, with the
   * IPAM state kept in this cluster's data directory instead of /var/lib/cni), and starts its echo
   * server.
   */
  async addPodFromConflist(name: string, node: ClusterNode, conflistPath: string): Promise<Pod> {
    const conflist = JSON.parse(await readFile(conflistPath, 'utf8')) as { cniVersion: string; name: string; plugins: Array<Record<string, any>> };
    const first = conflist.plugins[0]!;
    const config = { cniVersion: conflist.cniVersion, name: conflist.name, ...first, ipam: { ...first['ipam'], dataDir: join(this.#dataDir, `${node.name}-ipam`) } };
    const pod = await this.#wire(name, node, config);
    await this.#serve(pod.netns, [PROBE, 'echo', '0.0.0.0', this.#echoPorts.join(','), pod.name]);
    return pod;
  }

  /** A directory inside this cluster's data directory (removed by teardown). */
  async dataPath(name: string): Promise<string> {
    const path = join(this.#dataDir, name);
    await mustExec('mkdir', ['-p', path]);
    return path;
  }

  /** Starts `node ARGS…` in a namespace and resolves once it prints `ready`. */
  async #serve(netns: string, args: string[]): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c));
      child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      child.on('close', (code) => reject(new Error(`${args.join(' ')} in ${netns} exited ${code}: ${err}`)));
    });
    return child;
  }

  async #probe(netns: string, args: string[]): Promise<any[]> {
    const out = await mustExec('ip', ['netns', 'exec', netns, process.execPath, PROBE, ...args]);
    return out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
  }

  /** `count` TCP connections in turn from a namespace. */
  tcp(netns: string, host: string, port: number, options: { count?: number; timeoutMs?: number } = {}): Promise<Attempt[]> {
    return this.#probe(netns, ['tcp', host, String(port), String(options.count ?? 1), String(options.timeoutMs ?? 2000)]);
  }

  /** `count` UDP datagrams from a namespace, each from a fresh source port unless `sourcePort`. */
  udp(netns: string, host: string, port: number, options: { count?: number; timeoutMs?: number; sourcePort?: number } = {}): Promise<Attempt[]> {
    return this.#probe(netns, ['udp', host, String(port), String(options.count ?? 1), String(options.timeoutMs ?? 2000), ...(options.sourcePort ? [String(options.sourcePort)] : [])]);
  }

  /** One HTTP GET from a namespace. */
  async http(netns: string, url: string, timeoutMs = 2000): Promise<{ status?: number; body?: string; error?: string }> {
    const [result] = await this.#probe(netns, ['http', url, String(timeoutMs)]);
    return result;
  }

  /** Writes a manifest file atomically (a rename), so a watcher never reads half of it. */
  async writeManifest(file: string, objects: readonly unknown[]): Promise<void> {
    const path = join(this.manifestsDir, file);
    await writeFile(`${path}.tmp`, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2));
    await rename(`${path}.tmp`, path);
  }

  /** Node objects for every node (addresses and podCIDR), as the API server would list them. */
  nodeObjects(): unknown[] {
    return this.nodes.map((node) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name },
      spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
      status: { addresses: [{ type: 'InternalIP', address: node.ip }, { type: 'Hostname', address: node.name }] },
    }));
  }

  /** Runs `portico ARGS…` in a node namespace to completion. */
  portico(node: ClusterNode, args: readonly string[]) {
    return exec('ip', ['netns', 'exec', node.netns, process.execPath, PORTICO, ...args]);
  }

  /** Starts a long-running `portico ARGS…` in a node namespace; its output is collected. */
  startPortico(node: ClusterNode, args: readonly string[]): RunningCommand {
    const child = spawn('ip', ['netns', 'exec', node.netns, process.execPath, PORTICO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    const running: RunningCommand = {
      output: '',
      exitCode: undefined,
      stop: async () => {
        if (running.exitCode !== undefined) return running.exitCode;
        const closed = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGTERM' ? 143 : 137))));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await closed;
        clearTimeout(timer);
        return code;
      },
    };
    child.stdout!.on('data', (c: Buffer) => (running.output += c));
    child.stderr!.on('data', (c: Buffer) => (running.output += c));
    child.on('close', (code) => (running.exitCode = code ?? 1));
    return running;
  }

  /**
   * Runs `probe` while counting the TCP SYNs (without ACK) that `netns` sends to host:port, with
   * a throwaway table in that namespace (deleted afterwards, so rulesets compare as before).
   */
  async countSyns<T>(netns: string, host: string, port: number, probe: () => Promise<T>): Promise<{ result: T; syns: number }> {
    const table = 'pcni-syn-count'; // priority -400: before conntrack, NAT and any filter that rejects
    await mustExec('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], `table ip ${table} {\n  chain out {\n    type filter hook output priority -400; policy accept;\n    ip daddr ${host} tcp dport ${port} tcp flags & (syn | ack) == syn counter\n  }\n}\n`);
    try {
      const result = await probe();
      const listed = await mustExec('ip', ['netns', 'exec', netns, 'nft', 'list', 'chain', 'ip', table, 'out']);
      const packets = /counter packets (\d+)/.exec(listed);
      if (!packets) throw new Error(`no counter in ${listed}`);
      return { result, syns: Number(packets[1]) };
    } finally {
      await exec('ip', ['netns', 'exec', netns, 'nft', 'delete', 'table', 'ip', table]);
    }
  }

  nft(node: ClusterNode, args: readonly string[], input?: string): Promise<string> {
    return mustExec('ip', ['netns', 'exec', node.netns, 'nft', ...args], input);
  }

  /** Stops every process and removes every namespace and file; safe to call twice, never throws. */
  async teardown(): Promise<void> {
    for (const child of this.#children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.sandbox.cleanup().catch(() => undefined);
    if (this.#dataDir) await rm(this.#dataDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export interface RunningCommand {
  /** stdout and stderr so far. */
  output: string;
  exitCode: number | undefined;
  /** SIGTERM (SIGKILL after a grace period); resolves with the exit code. */
  stop(): Promise<number>;
}

/** Polls `probe` until `done` holds, at most `attempts` times `pauseMs` apart; returns the last value. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, options: { attempts: number; pauseMs: number }): Promise<T> {
  let value = await probe();
  for (let i = 1; i < options.attempts && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    value = await probe();
  }
  return value;
}

/** How many answers came from each pod (errors under their code, e.g. `!timeout`). */
export function tally(attempts: readonly Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of attempts) {
    const key = a.reply ? a.reply.pod : `!${a.error}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
