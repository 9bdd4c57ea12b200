import { formatIp, parseCidr, parseIp, prefixContains } from '../lib/cidr.js';
import type { FaultPlan } from '../lib/fault-plan.js';
import { HostError, type Applied, type ApplyOptions, type NetHost, type NetNamespace, type NetnsStatus } from './net-host.js';
import { describeChange, type Link, type LinkAddress, type NetChange, type Route, type RouteSpec } from './net-types.js';

// An in-memory model of network namespaces for pure tests: links (bridges, veth pairs across
// namespaces), addresses, main-table routes and sysctls, with the kernel's errors for the cases
// the plugin meets (exists, missing device, unreachable gateway). A FaultPlan fails any step.

/** The path FakeNetHost treats as the plugin's own namespace. */
export const FAKE_OWN_NETNS = '/proc/self/ns/net';
const HOST = '';

interface FakeLink {
  index: number;
  name: string;
  kind: string | undefined;
  mac: string;
  mtu: number;
  up: boolean;
  master: string | undefined;
  peer: { ns: string; name: string } | undefined;
  promisc: boolean;
  hairpin: boolean;
  alias: string | undefined;
  addresses: LinkAddress[];
}

interface FakeNs {
  links: Map<string, FakeLink>;
  routes: Route[];
  sysctls: Map<string, string>;
  /** LoadBalancer announcement: proxy NDP entries by `ip dev`, with their protocol. */
  proxyNeighbours: Map<string, number | undefined>;
}

export interface FakeNetHostSnapshot {
  [namespace: string]: {
    links: Array<Omit<Link, 'index' | 'peerIndex'> & { peer?: string }>;
    routes: Route[];
    sysctls: Record<string, string>;
    /** `ip dev [protocol N]`, sorted; only present when there are some. */
    proxyNeighbours?: string[];
  };
}

export class FakeNetHost implements NetHost {
  readonly #namespaces = new Map<string, FakeNs>();
  readonly #faults: FaultPlan | undefined;
  #nextIndex = 1;
  #nextMac = 1;

  constructor(options: { faults?: FaultPlan } = {}) {
    this.#faults = options.faults;
    this.addNamespace(HOST);
  }

  /** Creates a namespace with a loopback device (down, as in a fresh netns). */
  addNamespace(path: string): void {
    if (this.#namespaces.has(path)) throw new Error(`namespace ${path} exists`);
    const ns: FakeNs = { links: new Map(), routes: [], sysctls: new Map(), proxyNeighbours: new Map() };
    ns.links.set('lo', this.#newLink({ name: 'lo', kind: undefined, mtu: 65536, mac: '00:00:00:00:00:00' }));
    this.#namespaces.set(path, ns);
  }

  /** Destroys a namespace, as when a pod's sandbox goes away: veth peers elsewhere go too. */
  removeNamespace(path: string): void {
    const ns = this.#namespaces.get(path);
    if (!ns) return;
    for (const link of ns.links.values()) if (link.peer) this.#removeLink(link.peer.ns, link.peer.name, false);
    this.#namespaces.delete(path);
  }

  namespace(path?: string): NetNamespace {
    return new FakeNetNamespace(this, path);
  }

  async probeNetns(path: string): Promise<NetnsStatus> {
    this.step('probe netns');
    if (path === FAKE_OWN_NETNS) return 'own';
    return this.#namespaces.has(path) && path !== HOST ? 'ok' : 'missing';
  }

  /** A deterministic copy of the whole model (interface indexes left out), for equality checks. */
  snapshot(): FakeNetHostSnapshot {
    const out: FakeNetHostSnapshot = {};
    for (const key of [...this.#namespaces.keys()].sort()) {
      const ns = this.#namespaces.get(key)!;
      out[key === HOST ? 'host' : key] = {
        links: [...ns.links.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((l) => {
            const { index: _index, peerIndex: _peerIndex, ...rest } = this.#toLink(key, l);
            return { ...rest, ...(l.peer ? { peer: `${l.peer.ns === HOST ? 'host' : l.peer.ns}:${l.peer.name}` } : {}) };
          }),
        routes: [...ns.routes].sort((a, b) => `${a.dst} ${a.dev}`.localeCompare(`${b.dst} ${b.dev}`)),
        sysctls: Object.fromEntries([...ns.sysctls.entries()].sort()),
        ...(ns.proxyNeighbours.size > 0 ? { proxyNeighbours: this.proxyNeighbours(key) } : {}),
      };
    }
    return out;
  }

  // -- used by FakeNetNamespace -------------------------------------------------------------

  step(label: string): void {
    this.#faults?.step(label);
  }

  ns(path: string | undefined): FakeNs {
    const ns = this.#namespaces.get(path ?? HOST);
    if (!ns) throw new HostError('failed', `cannot open netns ${path}: No such file or directory`);
    return ns;
  }

  link(nsKey: string | undefined, name: string): Link | undefined {
    const link = this.ns(nsKey).links.get(name);
    return link ? this.#toLink(nsKey ?? HOST, link) : undefined;
  }

  links(nsKey: string | undefined): Link[] {
    return [...this.ns(nsKey).links.values()].map((l) => this.#toLink(nsKey ?? HOST, l));
  }

  /** LoadBalancer announcement: the proxy NDP entries of a namespace, `ip dev [protocol N]`, sorted. */
  proxyNeighbours(nsKey?: string): string[] {
    return [...this.ns(nsKey).proxyNeighbours.entries()].map(([key, protocol]) => (protocol === undefined ? key : `${key} protocol ${protocol}`)).sort();
  }

  deleteLink(nsKey: string | undefined, name: string): boolean {
    return this.#removeLink(nsKey ?? HOST, name, true);
  }

  applyChange(nsKey: string | undefined, change: NetChange): void {
    const key = nsKey ?? HOST;
    const ns = this.ns(key);
    const need = (name: string): FakeLink => {
      const link = ns.links.get(name);
      if (!link) throw new HostError('not-found', `Cannot find device "${name}"`);
      return link;
    };
    switch (change.op) {
      case 'create-bridge': {
        if (ns.links.has(change.name)) throw new HostError('exists', 'RTNETLINK answers: File exists');
        ns.links.set(change.name, this.#newLink({ name: change.name, kind: 'bridge', mtu: change.mtu ?? 1500 }));
        ns.sysctls.set(`net/ipv6/conf/${change.name}/accept_ra`, '1');
        return;
      }
      case 'create-veth': {
        const peerNs = this.#namespaces.get(change.peerNetns);
        if (!peerNs || change.peerNetns === HOST) throw new HostError('failed', `Invalid "netns" value "${change.peerNetns}"`);
        if (ns.links.has(change.name) || peerNs.links.has(change.peerName)) throw new HostError('exists', 'RTNETLINK answers: File exists');
        const host = this.#newLink({ name: change.name, kind: 'veth', mtu: change.mtu ?? 1500 });
        const peer = this.#newLink({ name: change.peerName, kind: 'veth', mtu: change.mtu ?? 1500, ...(change.peerMac ? { mac: change.peerMac } : {}) });
        host.peer = { ns: change.peerNetns, name: change.peerName };
        peer.peer = { ns: key, name: change.name };
        ns.links.set(host.name, host);
        peerNs.links.set(peer.name, peer);
        return;
      }
      case 'set-up':
        need(change.name).up = true;
        return;
      case 'set-down':
        need(change.name).up = false;
        return;
      case 'set-master': {
        const master = need(change.master);
        if (master.kind !== 'bridge') throw new HostError('failed', 'Error: Device can not be enslaved while up / not a bridge.');
        need(change.name).master = change.master;
        return;
      }
      case 'set-hairpin': {
        const link = need(change.name);
        if (!link.master) throw new HostError('failed', 'Error: Operation not supported.');
        link.hairpin = change.on;
        return;
      }
      case 'set-promisc':
        need(change.name).promisc = change.on;
        return;
      case 'set-mac':
        need(change.name).mac = change.mac;
        return;
      case 'set-alias':
        need(change.name).alias = change.alias;
        return;
      case 'add-addr': {
        const link = need(change.dev);
        const cidr = parseCidr(change.cidr);
        if (!cidr) throw new HostError('failed', `Error: inet prefix is expected rather than "${change.cidr}".`);
        if (link.addresses.some((a) => a.cidr === change.cidr)) throw new HostError('exists', 'RTNETLINK answers: File exists');
        link.addresses.push({ cidr: change.cidr, family: cidr.ip.family, scope: 'global' });
        return;
      }
      case 'del-addr': {
        const link = need(change.dev);
        const index = link.addresses.findIndex((a) => a.cidr === change.cidr);
        if (index < 0) throw new HostError('failed', 'RTNETLINK answers: Cannot assign requested address');
        link.addresses.splice(index, 1);
        return;
      }
      case 'add-route':
        this.#addRoute(ns, change.route, need(change.route.dev));
        return;
      case 'sysctl': {
        const iface = /^net\/ipv[46]\/conf\/([^/]+)\//.exec(change.key)?.[1];
        if (iface && iface !== 'all' && iface !== 'default' && !ns.links.has(iface)) {
          if (change.optional) return;
          throw new HostError('failed', `cannot set sysctl ${change.key}: No such file or directory`);
        }
        ns.sysctls.set(change.key, change.value);
        return;
      }
      // -- LoadBalancer announcement
      case 'add-proxy-neigh': {
        need(change.dev);
        if (parseIp(change.ip)?.family !== 6) throw new HostError('failed', `Error: inet6 address is expected rather than "${change.ip}".`);
        ns.proxyNeighbours.set(`${change.ip} ${change.dev}`, change.protocol); // the kernel replaces an existing entry
        return;
      }
      case 'del-proxy-neigh': {
        need(change.dev);
        if (!ns.proxyNeighbours.delete(`${change.ip} ${change.dev}`)) throw new HostError('failed', 'RTNETLINK answers: No such file or directory');
        return;
      }
    }
  }

  #addRoute(ns: FakeNs, spec: RouteSpec, dev: FakeLink): void {
    const dst = parseCidr(spec.dst);
    if (!dst) throw new HostError('failed', `Error: any valid prefix is expected rather than "${spec.dst}".`);
    if (!dev.up) throw new HostError('failed', 'Error: Nexthop device is not up.');
    if (spec.gateway !== undefined) {
      const gw = parseIp(spec.gateway);
      const reachable = gw && dev.addresses.some((a) => {
        const net = parseCidr(a.cidr);
        return net !== undefined && prefixContains(net, gw);
      });
      if (!reachable) throw new HostError('failed', 'Error: Nexthop has invalid gateway.');
    }
    const dstText = `${formatIp(dst.ip)}/${dst.prefix}`;
    if (ns.routes.some((r) => r.dst === dstText && r.metric === spec.metric && r.table === 'main')) throw new HostError('exists', 'RTNETLINK answers: File exists');
    ns.routes.push({
      family: dst.ip.family,
      dst: dstText,
      gateway: spec.gateway,
      dev: dev.name,
      table: 'main',
      scope: spec.gateway === undefined ? 'link' : 'global',
      protocol: 'boot',
      metric: spec.metric,
      mtu: spec.mtu,
      advmss: spec.advmss,
    });
  }

  #newLink(options: { name: string; kind: string | undefined; mtu: number; mac?: string }): FakeLink {
    const n = this.#nextMac++;
    const mac = options.mac ?? `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
    return { index: this.#nextIndex++, name: options.name, kind: options.kind, mac, mtu: options.mtu, up: false, master: undefined, peer: undefined, promisc: false, hairpin: false, alias: undefined, addresses: [] };
  }

  #removeLink(nsKey: string, name: string, withPeer: boolean): boolean {
    const ns = this.#namespaces.get(nsKey);
    const link = ns?.links.get(name);
    if (!ns || !link) return false;
    ns.links.delete(name);
    ns.routes = ns.routes.filter((r) => r.dev !== name);
    for (const other of ns.links.values()) if (other.master === name) other.master = undefined;
    for (const key of [...ns.sysctls.keys()]) if (key.includes(`/conf/${name}/`)) ns.sysctls.delete(key);
    for (const key of [...ns.proxyNeighbours.keys()]) if (key.endsWith(` ${name}`)) ns.proxyNeighbours.delete(key);
    if (withPeer && link.peer) this.#removeLink(link.peer.ns, link.peer.name, false);
    return true;
  }

  #toLink(nsKey: string, link: FakeLink): Link {
    const peer = link.peer ? this.#namespaces.get(link.peer.ns)?.links.get(link.peer.name) : undefined;
    let operState = link.up ? 'UP' : 'DOWN';
    if (link.kind === 'veth' && link.up && !peer?.up) operState = 'LOWERLAYERDOWN';
    if (link.kind === undefined && link.up) operState = 'UNKNOWN';
    return {
      index: link.index,
      name: link.name,
      kind: link.kind,
      mac: link.mac,
      mtu: link.mtu,
      up: link.up,
      operState,
      master: link.master,
      peerIndex: peer?.index,
      promisc: link.promisc,
      hairpin: link.master ? link.hairpin : undefined,
      alias: link.alias,
      addresses: link.addresses.map((a) => ({ ...a })),
    };
  }
}

class FakeNetNamespace implements NetNamespace {
  readonly path: string | undefined;
  readonly #host: FakeNetHost;

  constructor(host: FakeNetHost, path: string | undefined) {
    this.#host = host;
    this.path = path;
  }

  async lookupLink(name: string): Promise<Link | undefined> {
    this.#host.step(`lookup ${name}`);
    return this.#host.link(this.path, name);
  }

  async listLinks(): Promise<Link[]> {
    this.#host.step('list links');
    return this.#host.links(this.path);
  }

  async listRoutes(): Promise<Route[]> {
    this.#host.step('list routes');
    return this.#host.ns(this.path).routes.map((r) => ({ ...r }));
  }

  async apply(changes: readonly NetChange[], options: ApplyOptions = {}): Promise<Applied> {
    const read = (names: readonly string[] | undefined) =>
      (names ?? []).map((name) => {
        const link = this.#host.link(this.path, name);
        if (!link) throw new HostError('not-found', `Device "${name}" does not exist.`);
        return link;
      });
    const before = read(options.readBefore);
    for (const [index, change] of changes.entries()) {
      try {
        this.#host.step(`apply ${describeChange(change)}`);
        this.#host.applyChange(this.path, change);
      } catch (error) {
        if (error instanceof HostError) throw new HostError(error.kind, `${describeChange(change)}: ${error.message}`, index);
        throw error;
      }
    }
    return { before, after: read(options.readBack) };
  }

  async deleteLink(name: string): Promise<boolean> {
    this.#host.step(`delete link ${name}`);
    return this.#host.deleteLink(this.path, name);
  }
}
