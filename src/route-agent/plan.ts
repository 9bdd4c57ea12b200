import { createHash } from 'node:crypto';
import { formatCidr, formatIp, networkOf, type IpAddress, type IpFamily } from '../lib/cidr.js';
import type { NodeNetwork } from './node-network.js';

// The node's wanted overlay state as a value: which VXLAN devices, routes, neighbours and FDB
// entries the agent owns (flannel's host-gw and vxlan backends). Pure; the route host compares it
// with what the kernel has and applies the difference.

export type RouteAgentMode = 'host-gw' | 'vxlan';

/** Routes the agent writes carry this protocol number, so it finds (and removes) only its own. */
export const ROUTE_PROTOCOL = 80;
/** ifalias of the devices the agent creates. */
export const DEVICE_ALIAS = 'portico-node-agent';
/** VXLAN device names per underlay family (fit IFNAMSIZ whatever the VNI). */
export const VXLAN_DEVICE: Record<IpFamily, string> = { 4: 'portico-vxlan', 6: 'portico-vxlan6' };
/** Encapsulation overhead: outer IP + UDP + VXLAN + inner Ethernet (flannel's 50, 70 over IPv6). */
const VXLAN_OVERHEAD: Record<IpFamily, number> = { 4: 50, 6: 70 };

export interface VxlanDeviceSpec {
  readonly name: string;
  /** Underlay (and overlay) family. */
  readonly family: IpFamily;
  readonly vni: number;
  readonly port: number;
  /** This node's underlay address. */
  readonly local: string;
  /** The underlay interface. */
  readonly parent: string;
  readonly mac: string;
  readonly mtu: number;
  /** `<own pod subnet network address>/32` (or /128): the source of node → remote pod traffic. */
  readonly addresses: readonly string[];
}

export interface AgentRoute {
  readonly family: IpFamily;
  /** The remote pod CIDR. */
  readonly dst: string;
  readonly gateway: string;
  readonly dev: string;
  /** vxlan: the gateway is the remote subnet's network address, reachable only "on link". */
  readonly onlink: boolean;
}

export interface AgentNeighbour {
  readonly dev: string;
  readonly address: string;
  readonly mac: string;
}

export interface AgentFdbEntry {
  readonly dev: string;
  readonly mac: string;
  /** The remote node's underlay address. */
  readonly dst: string;
}

export interface NetworkState {
  readonly devices: readonly VxlanDeviceSpec[];
  readonly routes: readonly AgentRoute[];
  readonly neighbours: readonly AgentNeighbour[];
  readonly fdb: readonly AgentFdbEntry[];
}

export const EMPTY_NETWORK: NetworkState = { devices: [], routes: [], neighbours: [], fdb: [] };

/**
 * The VTEP MAC every node can compute for every other from its address alone (no API writes, so
 * manifest mode works): IPv4 `02:70:` + the four address bytes (10.250.0.12 → 02:70:0a:fa:00:0c);
 * IPv6 `02:76:` + the first four bytes of the address's SHA-256.
 */
export function vtepMac(address: IpAddress): string {
  let bytes: number[];
  if (address.family === 4) {
    const v = Number(address.value);
    bytes = [0x02, 0x70, (v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  } else {
    const digest = createHash('sha256').update(formatIp(address)).digest();
    bytes = [0x02, 0x76, digest[0]!, digest[1]!, digest[2]!, digest[3]!];
  }
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface BuildNetworkOptions {
  readonly mode: RouteAgentMode;
  /** This node; undefined when its Node is missing or unusable (no local device then). */
  readonly self: NodeNetwork | undefined;
  readonly selfName: string;
  /** Every usable node (self included or not). */
  readonly nodes: readonly NodeNetwork[];
  readonly iface: { readonly name: string; readonly mtu: number };
  readonly vni: number;
  readonly port: number;
}

function byKey<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function buildNetworkState(options: BuildNetworkOptions): NetworkState {
  const { self, iface } = options;
  const peers = options.nodes.filter((node) => node.name !== options.selfName);
  const devices: VxlanDeviceSpec[] = [];
  const routes: AgentRoute[] = [];
  const neighbours: AgentNeighbour[] = [];
  const fdb: AgentFdbEntry[] = [];
  for (const family of [4, 6] as const) {
    const local = self?.addresses.get(family);
    if (options.mode === 'host-gw') {
      for (const peer of peers) {
        const cidr = peer.podCIDRs.find((c) => c.ip.family === family);
        const gateway = peer.addresses.get(family);
        if (cidr && gateway) routes.push({ family, dst: formatCidr(cidr), gateway: formatIp(gateway), dev: iface.name, onlink: false });
      }
      continue;
    }
    // vxlan needs our own underlay address of the family to encapsulate from.
    if (!local) continue;
    const ownCidr = self?.podCIDRs.find((c) => c.ip.family === family);
    const name = VXLAN_DEVICE[family];
    const remote = peers.flatMap((peer) => {
      const cidr = peer.podCIDRs.find((c) => c.ip.family === family);
      const address = peer.addresses.get(family);
      return cidr && address ? [{ cidr, address }] : [];
    });
    if (!ownCidr && remote.length === 0) continue;
    devices.push({
      name,
      family,
      vni: options.vni,
      port: options.port,
      local: formatIp(local),
      parent: iface.name,
      mac: vtepMac(local),
      mtu: iface.mtu - VXLAN_OVERHEAD[family],
      addresses: ownCidr ? [`${formatIp(networkOf(ownCidr))}/${family === 4 ? 32 : 128}`] : [],
    });
    for (const { cidr, address } of remote) {
      const gateway = formatIp(networkOf(cidr));
      const mac = vtepMac(address);
      routes.push({ family, dst: formatCidr(cidr), gateway, dev: name, onlink: true });
      neighbours.push({ dev: name, address: gateway, mac });
      fdb.push({ dev: name, mac, dst: formatIp(address) });
    }
  }
  return {
    devices,
    routes: byKey(routes, (r) => `${r.family} ${r.dst}`),
    neighbours: byKey(neighbours, (n) => `${n.dev} ${n.address}`),
    fdb: byKey(fdb, (f) => `${f.dev} ${f.mac} ${f.dst}`),
  };
}

/** The MTU pods should use on this node: the underlay's, less the encapsulation in vxlan mode. */
export function podMtu(mode: RouteAgentMode, iface: { mtu: number }, family: IpFamily): number {
  return mode === 'vxlan' ? iface.mtu - VXLAN_OVERHEAD[family] : iface.mtu;
}
