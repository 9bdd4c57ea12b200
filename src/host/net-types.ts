// Plain values describing links, addresses and routes in a network namespace, and the changes
// the CNI plugin makes to them. A list of NetChange is a plan: pure code builds it, a NetNamespace
// applies it (one `ip -batch` in the exec implementation, an in-memory model in the fake).

export type Family = 4 | 6;

export interface LinkAddress {
  /** `10.244.1.2/24`, `fd00::2/64`. */
  cidr: string;
  family: Family;
  /** `global`, `link`, `host`. */
  scope: string;
}

export interface Link {
  index: number;
  name: string;
  /** `veth`, `bridge`, … (undefined for plain devices such as lo). */
  kind: string | undefined;
  mac: string;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** `UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`, … */
  operState: string;
  master: string | undefined;
  /** For a veth: the peer's ifindex (in the peer's namespace). */
  peerIndex: number | undefined;
  promisc: boolean;
  /** For a bridge port: hairpin mode. */
  hairpin: boolean | undefined;
  /** The interface alias (ifalias), which portico-cni uses to mark the interfaces it owns. */
  alias: string | undefined;
  addresses: LinkAddress[];
}

export interface Route {
  family: Family;
  /** Always a CIDR: `0.0.0.0/0` for the IPv4 default route. */
  dst: string;
  gateway: string | undefined;
  dev: string | undefined;
  table: string;
  scope: string | undefined;
  protocol: string | undefined;
  metric: number | undefined;
  mtu: number | undefined;
  advmss: number | undefined;
}

export interface RouteSpec {
  dst: string;
  gateway?: string;
  dev: string;
  mtu?: number;
  advmss?: number;
  metric?: number;
  table?: number;
  /** 0 universe/global, 253 link, 254 host (CNI 1.1 result scopes). */
  scope?: number;
}

export type NetChange =
  | { op: 'create-bridge'; name: string; mtu?: number }
  | { op: 'create-veth'; name: string; peerName: string; peerNetns: string; mtu?: number; peerMac?: string }
  | { op: 'set-up'; name: string }
  | { op: 'set-down'; name: string }
  | { op: 'set-master'; name: string; master: string }
  | { op: 'set-hairpin'; name: string; on: boolean }
  | { op: 'set-promisc'; name: string; on: boolean }
  | { op: 'set-mac'; name: string; mac: string }
  | { op: 'set-alias'; name: string; alias: string }
  | { op: 'add-addr'; dev: string; cidr: string; noDad?: boolean }
  | { op: 'del-addr'; dev: string; cidr: string }
  | { op: 'add-route'; route: RouteSpec }
  /** A sysctl under /proc/sys (key `net/ipv4/ip_forward`). Optional ones ignore failures. */
  | { op: 'sysctl'; key: string; value: string; optional?: boolean }
  // -- LoadBalancer announcement (src/lb-announce) -------------------------------------------
  /** A proxy NDP entry: the kernel answers neighbour solicitations for `ip` on `dev` (needs proxy_ndp and forwarding). */
  | { op: 'add-proxy-neigh'; ip: string; dev: string; protocol?: number }
  | { op: 'del-proxy-neigh'; ip: string; dev: string };

export function describeChange(change: NetChange): string {
  switch (change.op) {
    case 'create-bridge':
      return `create bridge ${change.name}`;
    case 'create-veth':
      return `create veth ${change.name} (peer ${change.peerName} in ${change.peerNetns})`;
    case 'set-up':
      return `set ${change.name} up`;
    case 'set-down':
      return `set ${change.name} down`;
    case 'set-master':
      return `attach ${change.name} to ${change.master}`;
    case 'set-hairpin':
      return `set hairpin ${change.on ? 'on' : 'off'} on ${change.name}`;
    case 'set-promisc':
      return `set promisc ${change.on ? 'on' : 'off'} on ${change.name}`;
    case 'set-mac':
      return `set ${change.name} address ${change.mac}`;
    case 'set-alias':
      return `set ${change.name} alias ${change.alias}`;
    case 'add-addr':
      return `add address ${change.cidr} to ${change.dev}`;
    case 'del-addr':
      return `remove address ${change.cidr} from ${change.dev}`;
    case 'add-route':
      return `add route ${change.route.dst}${change.route.gateway ? ` via ${change.route.gateway}` : ''} dev ${change.route.dev}`;
    case 'sysctl':
      return `set ${change.key}=${change.value}`;
    case 'add-proxy-neigh':
      return `add proxy neighbour ${change.ip} on ${change.dev}`;
    case 'del-proxy-neigh':
      return `remove proxy neighbour ${change.ip} from ${change.dev}`;
  }
}
