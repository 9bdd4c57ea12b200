import type { Family, Link, LinkAddress, NetChange, Route, RouteSpec } from './net-types.js';

// Pure translation between NetChange plans and iproute2: batch lines for `ip -batch -`, and the
// `ip -d -j addr show` / `ip -d -j route show` JSON back into Link and Route values.

/** Names and values that are safe inside an ip batch line (no whitespace, quotes or `#`). */
const TOKEN = /^[A-Za-z0-9_.:/@+=,-]+$/;

function token(value: string | number, what: string): string {
  const text = String(value);
  if (!TOKEN.test(text)) throw new Error(`${what} ${JSON.stringify(text)} cannot be passed to ip`);
  return text;
}

const SCOPE_NAMES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host' };

function renderRoute(route: RouteSpec): string {
  const parts = ['route', 'add', token(route.dst, 'route destination')];
  if (route.gateway !== undefined) parts.push('via', token(route.gateway, 'gateway'));
  parts.push('dev', token(route.dev, 'device'));
  if (route.table !== undefined) parts.push('table', token(route.table, 'table'));
  if (route.metric !== undefined) parts.push('metric', token(route.metric, 'metric'));
  if (route.scope !== undefined) parts.push('scope', token(SCOPE_NAMES[route.scope] ?? route.scope, 'scope'));
  if (route.mtu !== undefined) parts.push('mtu', token(route.mtu, 'mtu'));
  if (route.advmss !== undefined) parts.push('advmss', token(route.advmss, 'advmss'));
  return parts.join(' ');
}

/** One batch line for an ip change; undefined for sysctl changes (not ip's business). */
export function renderIpChange(change: NetChange): string | undefined {
  switch (change.op) {
    case 'create-bridge':
      return ['link add name', token(change.name, 'link name'), ...(change.mtu ? ['mtu', token(change.mtu, 'mtu')] : []), 'type bridge'].join(' ');
    case 'create-veth': {
      // txqueuelen 0 on both ends, as the reference plugins create their veths (netlink, qlen unset).
      const mtu = [...(change.mtu ? ['mtu', token(change.mtu, 'mtu')] : []), 'txqueuelen 0'];
      return [
        'link add name',
        token(change.name, 'link name'),
        ...mtu,
        'type veth peer name',
        token(change.peerName, 'link name'),
        ...mtu,
        ...(change.peerMac ? ['address', token(change.peerMac, 'mac')] : []),
        'netns',
        token(change.peerNetns, 'netns path'),
      ].join(' ');
    }
    case 'set-up':
      return `link set dev ${token(change.name, 'link name')} up`;
    case 'set-down':
      return `link set dev ${token(change.name, 'link name')} down`;
    case 'set-master':
      return `link set dev ${token(change.name, 'link name')} master ${token(change.master, 'link name')}`;
    case 'set-hairpin':
      return `link set dev ${token(change.name, 'link name')} type bridge_slave hairpin ${change.on ? 'on' : 'off'}`;
    case 'set-promisc':
      return `link set dev ${token(change.name, 'link name')} promisc ${change.on ? 'on' : 'off'}`;
    case 'set-mac':
      return `link set dev ${token(change.name, 'link name')} address ${token(change.mac, 'mac')}`;
    case 'set-alias':
      return `link set dev ${token(change.name, 'link name')} alias ${token(change.alias, 'alias')}`;
    case 'add-addr': {
      // The kernel gives IPv4 addresses no broadcast unless asked; netlink users (the reference
      // plugins) set it, so `brd +` keeps `ip addr` output identical.
      const v4 = !change.cidr.includes(':');
      return `addr add ${token(change.cidr, 'address')}${v4 ? ' broadcast +' : ''} dev ${token(change.dev, 'link name')}${change.noDad && !v4 ? ' nodad' : ''}`;
    }
    case 'del-addr':
      return `addr del ${token(change.cidr, 'address')} dev ${token(change.dev, 'link name')}`;
    case 'add-route':
      return renderRoute(change.route);
    case 'sysctl':
      return undefined;
    // -- LoadBalancer announcement
    case 'add-proxy-neigh':
      return `neigh add proxy ${token(change.ip, 'address')} dev ${token(change.dev, 'link name')}${change.protocol !== undefined ? ` protocol ${token(change.protocol, 'protocol')}` : ''}`;
    case 'del-proxy-neigh':
      return `neigh del proxy ${token(change.ip, 'address')} dev ${token(change.dev, 'link name')}`;
  }
}

/** The 0-based index of the failing batch line, from ip's "Command failed -:N". */
export function failedBatchLine(stderr: string): number | undefined {
  const match = /Command failed -:(\d+)/.exec(stderr);
  return match ? Number(match[1]) - 1 : undefined;
}

export function errorKind(stderr: string): 'exists' | 'not-found' | 'failed' {
  if (/File exists|address already assigned/i.test(stderr)) return 'exists';
  if (/Cannot find device|does not exist|No such device/.test(stderr)) return 'not-found';
  return 'failed';
}

/** The first line of ip's complaint, without the batch bookkeeping. */
export function ipErrorMessage(stderr: string): string {
  return (
    stderr
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('Command failed'))
      .join('; ') || 'ip failed'
  );
}

interface IpJsonAddr {
  family?: string;
  local?: string;
  prefixlen?: number;
  scope?: string;
}

interface IpJsonLink {
  ifindex?: number;
  ifname?: string;
  flags?: string[];
  mtu?: number;
  operstate?: string;
  address?: string;
  master?: string;
  link_index?: number;
  promiscuity?: number;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: IpJsonAddr[];
}

export function parseIpLinks(json: string): Link[] {
  const trimmed = json.trim();
  if (trimmed === '') return [];
  const entries = JSON.parse(trimmed) as IpJsonLink[];
  return entries.map((entry) => {
    const flags = entry.flags ?? [];
    const addresses: LinkAddress[] = [];
    for (const addr of entry.addr_info ?? []) {
      if ((addr.family !== 'inet' && addr.family !== 'inet6') || addr.local === undefined || addr.prefixlen === undefined) continue;
      addresses.push({ cidr: `${addr.local}/${addr.prefixlen}`, family: addr.family === 'inet' ? 4 : 6, scope: addr.scope ?? 'global' });
    }
    return {
      index: entry.ifindex ?? 0,
      name: entry.ifname ?? '',
      kind: entry.linkinfo?.info_kind,
      mac: entry.address ?? '',
      mtu: entry.mtu ?? 0,
      up: flags.includes('UP'),
      operState: entry.operstate ?? 'UNKNOWN',
      master: entry.master,
      peerIndex: entry.link_index,
      promisc: flags.includes('PROMISC'),
      hairpin: entry.linkinfo?.info_slave_kind === 'bridge' ? entry.linkinfo.info_slave_data?.hairpin === true : undefined,
      alias: entry.ifalias,
      addresses,
    };
  });
}

interface IpJsonRoute {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  table?: string;
  scope?: string;
  protocol?: string;
  metric?: number;
  metrics?: Array<Record<string, number>>;
  pref?: string;
}

/** Routes from `ip -d -j route show table all`: unicast routes of the main table. */
export function parseIpRoutes(json: string): Route[] {
  const trimmed = json.trim();
  if (trimmed === '') return [];
  const entries = JSON.parse(trimmed) as IpJsonRoute[];
  const routes: Route[] = [];
  for (const entry of entries) {
    if ((entry.type ?? 'unicast') !== 'unicast' || (entry.table ?? 'main') !== 'main' || entry.dst === undefined) continue;
    // `table all` mixes families and JSON has no family field; only IPv6 routes carry `pref`.
    const family: Family = entry.dst.includes(':') || (entry.gateway ?? '').includes(':') || entry.pref !== undefined ? 6 : 4;
    let dst = entry.dst;
    if (dst === 'default') dst = family === 4 ? '0.0.0.0/0' : '::/0';
    else if (!dst.includes('/')) dst = `${dst}/${family === 4 ? 32 : 128}`;
    const metric = (name: string) => entry.metrics?.find((m) => name in m)?.[name];
    routes.push({
      family,
      dst,
      gateway: entry.gateway,
      dev: entry.dev,
      table: entry.table ?? 'main',
      scope: entry.scope,
      protocol: entry.protocol,
      metric: entry.metric,
      mtu: metric('mtu'),
      advmss: metric('advmss'),
    });
  }
  return routes;
}
