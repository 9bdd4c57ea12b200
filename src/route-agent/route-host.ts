import type { IpFamily } from '../lib/cidr.js';
import type { NetworkOp, ObservedNetwork } from './diff.js';
import { DEVICE_ALIAS, ROUTE_PROTOCOL, type AgentFdbEntry, type AgentNeighbour, type AgentRoute, type VxlanDeviceSpec } from './plan.js';

// The OS adapter of the node agent: reads what it owns (devices with its alias, routes with its
// protocol, permanent neighbours and FDB entries on its devices) and applies NetworkOps.
// ExecRouteHost runs iproute2 (`ip`, `bridge`); FakeRouteHost is a model for unit tests.

export interface UnderlayInterface {
  readonly name: string;
  readonly mtu: number;
  /** Global addresses, `10.250.0.11/24`. */
  readonly addresses: readonly string[];
}

export interface OpFailure {
  readonly op: NetworkOp;
  readonly message: string;
}

export interface RouteHost {
  observe(): Promise<ObservedNetwork>;
  /** Applies every op it can; returns the ones that failed (the next reconcile retries them). */
  apply(ops: readonly NetworkOp[]): Promise<OpFailure[]>;
  /** The node's interfaces with their global addresses. */
  interfaces(): Promise<UnderlayInterface[]>;
  /** IP forwarding on for the families (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding). */
  ensureForwarding(families: readonly IpFamily[]): Promise<void>;
}

// ---- iproute2 text, both directions (pure) ----

const TOKEN = /^[A-Za-z0-9_.:/-]+$/;
function t(value: string | number): string {
  const text = String(value);
  if (!TOKEN.test(text)) throw new Error(`${JSON.stringify(text)} cannot be passed to ip`);
  return text;
}

function routeLine(verb: 'replace' | 'del', r: AgentRoute): string {
  // The family follows from the addresses (batch lines take no -6).
  return `route ${verb} ${t(r.dst)} via ${t(r.gateway)} dev ${t(r.dev)}${r.onlink ? ' onlink' : ''} proto ${ROUTE_PROTOCOL}`;
}

function neighbourLine(verb: 'replace' | 'del', n: AgentNeighbour): string {
  return verb === 'replace' ? `neigh replace ${t(n.address)} lladdr ${t(n.mac)} dev ${t(n.dev)} nud permanent` : `neigh del ${t(n.address)} dev ${t(n.dev)}`;
}

function fdbLine(verb: 'replace' | 'del', f: AgentFdbEntry): string {
  return `fdb ${verb} ${t(f.mac)} dev ${t(f.dev)} dst ${t(f.dst)} self${verb === 'replace' ? ' permanent' : ''}`;
}

function createDeviceLines(d: VxlanDeviceSpec): string[] {
  return [
    `link add ${t(d.name)} type vxlan id ${t(d.vni)} local ${t(d.local)} dev ${t(d.parent)} dstport ${t(d.port)} nolearning`,
    `link set dev ${t(d.name)} address ${t(d.mac)} mtu ${t(d.mtu)} alias ${DEVICE_ALIAS}`,
    ...d.addresses.map((cidr) => `addr add ${t(cidr)} dev ${t(d.name)}`),
    `link set dev ${t(d.name)} up`,
  ];
}

/**
 * Three batches, each run with -force so one failure does not stop the rest: `ip` (deletions and
 * devices), `bridge` (FDB), `ip` (neighbours and routes, which need the devices and FDB).
 * Each line remembers the op it came from, for error reports.
 */
export function renderNetworkOps(ops: readonly NetworkOp[]): Array<{ tool: 'ip' | 'bridge'; lines: Array<{ text: string; op: NetworkOp }> }> {
  const first: Array<{ text: string; op: NetworkOp }> = [];
  const fdb: Array<{ text: string; op: NetworkOp }> = [];
  const last: Array<{ text: string; op: NetworkOp }> = [];
  for (const op of ops) {
    switch (op.op) {
      case 'delete-route':
        first.push({ text: routeLine('del', op.route), op });
        break;
      case 'delete-neighbour':
        first.push({ text: neighbourLine('del', op.neighbour), op });
        break;
      case 'delete-fdb':
        fdb.push({ text: fdbLine('del', op.entry), op });
        break;
      case 'delete-device':
        first.push({ text: `link del dev ${t(op.name)}`, op });
        break;
      case 'create-device':
        for (const text of createDeviceLines(op.device)) first.push({ text, op });
        break;
      case 'set-device-mtu':
        first.push({ text: `link set dev ${t(op.name)} mtu ${t(op.mtu)}`, op });
        break;
      case 'add-device-address':
        first.push({ text: `addr add ${t(op.cidr)} dev ${t(op.name)}`, op });
        break;
      case 'delete-device-address':
        first.push({ text: `addr del ${t(op.cidr)} dev ${t(op.name)}`, op });
        break;
      case 'set-device-up':
        first.push({ text: `link set dev ${t(op.name)} up`, op });
        break;
      case 'replace-fdb':
        fdb.push({ text: fdbLine('replace', op.entry), op });
        break;
      case 'replace-neighbour':
        last.push({ text: neighbourLine('replace', op.neighbour), op });
        break;
      case 'replace-route':
        last.push({ text: routeLine('replace', op.route), op });
        break;
    }
  }
  return [
    { tool: 'ip' as const, lines: first },
    { tool: 'bridge' as const, lines: fdb },
    { tool: 'ip' as const, lines: last },
  ].filter((batch) => batch.lines.length > 0);
}

type Json = Record<string, unknown>;

function jsonArray(text: string): Json[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const parsed: unknown = JSON.parse(trimmed);
  return Array.isArray(parsed) ? (parsed as Json[]) : [];
}

/** `ip -d -j addr show` → our VXLAN devices (alias DEVICE_ALIAS) and every interface. */
export function parseLinks(json: string): { devices: ObservedNetwork['devices']; interfaces: UnderlayInterface[] } {
  const devices: Array<ObservedNetwork['devices'][number]> = [];
  const interfaces: UnderlayInterface[] = [];
  for (const link of jsonArray(json)) {
    const name = String(link['ifname']);
    const addrInfo = (link['addr_info'] as Json[] | undefined) ?? [];
    const global = addrInfo.filter((a) => a['scope'] === 'global').map((a) => `${String(a['local'])}/${String(a['prefixlen'])}`);
    interfaces.push({ name, mtu: Number(link['mtu']), addresses: global });
    const info = link['linkinfo'] as Json | undefined;
    if (link['ifalias'] !== DEVICE_ALIAS || info?.['info_kind'] !== 'vxlan') continue;
    const data = (info['info_data'] as Json | undefined) ?? {};
    const local = typeof data['local'] === 'string' ? data['local'] : typeof data['local6'] === 'string' ? data['local6'] : '';
    devices.push({
      name,
      family: local.includes(':') ? 6 : 4,
      vni: Number(data['id']),
      port: Number(data['port']),
      local,
      parent: typeof data['link'] === 'string' ? data['link'] : '',
      mac: String(link['address']),
      mtu: Number(link['mtu']),
      addresses: global,
      up: ((link['flags'] as string[] | undefined) ?? []).includes('UP'),
    });
  }
  return { devices, interfaces };
}

/** `ip -j route show proto N` (one family) → routes. */
export function parseRoutes(json: string, family: IpFamily): AgentRoute[] {
  return jsonArray(json)
    .filter((r) => typeof r['gateway'] === 'string' && typeof r['dev'] === 'string')
    .map((r) => ({ family, dst: String(r['dst']), gateway: String(r['gateway']), dev: String(r['dev']), onlink: ((r['flags'] as string[] | undefined) ?? []).includes('onlink') }));
}

/** `ip -j neigh show nud permanent` → entries on the given devices. */
export function parseNeighbours(json: string, devices: ReadonlySet<string>): AgentNeighbour[] {
  return jsonArray(json)
    .filter((n) => devices.has(String(n['dev'])) && typeof n['lladdr'] === 'string')
    .map((n) => ({ dev: String(n['dev']), address: String(n['dst']), mac: String(n['lladdr']) }));
}

/** `bridge -j fdb show` → unicast entries with a destination on the given devices. */
export function parseFdb(json: string, devices: ReadonlySet<string>): AgentFdbEntry[] {
  return jsonArray(json)
    .filter((f) => devices.has(String(f['ifname'])) && typeof f['dst'] === 'string')
    .map((f) => ({ dev: String(f['ifname']), mac: String(f['mac']), dst: String(f['dst']) }));
}
