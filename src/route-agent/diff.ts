import type { AgentFdbEntry, AgentNeighbour, AgentRoute, NetworkState, VxlanDeviceSpec } from './plan.js';

// Wanted vs observed overlay state → the changes that turn one into the other, in an order the
// kernel accepts (deletions first; a device before what hangs on it). Pure. Removing a device takes
// its routes, neighbours and FDB entries with it, so those are not deleted one by one.

export interface ObservedDevice extends VxlanDeviceSpec {
  readonly up: boolean;
}

export interface ObservedNetwork extends Omit<NetworkState, 'devices'> {
  readonly devices: readonly ObservedDevice[];
}

export type NetworkOp =
  | { readonly op: 'delete-route'; readonly route: AgentRoute }
  | { readonly op: 'delete-neighbour'; readonly neighbour: AgentNeighbour }
  | { readonly op: 'delete-fdb'; readonly entry: AgentFdbEntry }
  | { readonly op: 'delete-device'; readonly name: string }
  /** Create with its MAC, MTU, alias and addresses, and bring it up. */
  | { readonly op: 'create-device'; readonly device: VxlanDeviceSpec }
  | { readonly op: 'set-device-mtu'; readonly name: string; readonly mtu: number }
  | { readonly op: 'add-device-address'; readonly name: string; readonly cidr: string }
  | { readonly op: 'delete-device-address'; readonly name: string; readonly cidr: string }
  | { readonly op: 'set-device-up'; readonly name: string }
  | { readonly op: 'replace-fdb'; readonly entry: AgentFdbEntry }
  | { readonly op: 'replace-neighbour'; readonly neighbour: AgentNeighbour }
  | { readonly op: 'replace-route'; readonly route: AgentRoute };

const routeKey = (r: AgentRoute) => `${r.family} ${r.dst}`;
const routeSame = (a: AgentRoute, b: AgentRoute) => a.gateway === b.gateway && a.dev === b.dev && a.onlink === b.onlink;
const neighbourKey = (n: AgentNeighbour) => `${n.dev} ${n.address}`;
const fdbKey = (f: AgentFdbEntry) => `${f.dev} ${f.mac} ${f.dst}`;

/** What cannot be changed on a live VXLAN device: a difference means delete and create. */
function sameIdentity(a: VxlanDeviceSpec, b: VxlanDeviceSpec): boolean {
  return a.family === b.family && a.vni === b.vni && a.port === b.port && a.local === b.local && a.parent === b.parent && a.mac === b.mac;
}

export function diffNetwork(wanted: NetworkState, observed: ObservedNetwork): NetworkOp[] {
  const deletions: NetworkOp[] = [];
  const creations: NetworkOp[] = [];
  const wantedDevices = new Map(wanted.devices.map((d) => [d.name, d]));
  /** Devices deleted (or recreated) in this diff: what hung on them is gone already. */
  const fresh = new Set<string>();
  for (const device of observed.devices) {
    const want = wantedDevices.get(device.name);
    if (!want || !sameIdentity(want, device)) {
      deletions.push({ op: 'delete-device', name: device.name });
      fresh.add(device.name);
    }
  }
  const observedDevices = new Map(observed.devices.map((d) => [d.name, d]));
  for (const want of wanted.devices) {
    const have = observedDevices.get(want.name);
    if (!have || fresh.has(want.name)) {
      creations.push({ op: 'create-device', device: want });
      fresh.add(want.name);
      continue;
    }
    if (have.mtu !== want.mtu) creations.push({ op: 'set-device-mtu', name: want.name, mtu: want.mtu });
    for (const cidr of have.addresses) if (!want.addresses.includes(cidr)) creations.push({ op: 'delete-device-address', name: want.name, cidr });
    for (const cidr of want.addresses) if (!have.addresses.includes(cidr)) creations.push({ op: 'add-device-address', name: want.name, cidr });
    if (!have.up) creations.push({ op: 'set-device-up', name: want.name });
  }
  const gone = (dev: string) => fresh.has(dev) && !wantedDevices.has(dev);
  const onFresh = (dev: string) => fresh.has(dev);

  const wantedRoutes = new Map(wanted.routes.map((r) => [routeKey(r), r]));
  const haveRoutes = new Map(observed.routes.filter((r) => !gone(r.dev)).map((r) => [routeKey(r), r]));
  for (const [key, route] of haveRoutes) if (!wantedRoutes.has(key) && !onFresh(route.dev)) deletions.push({ op: 'delete-route', route });

  const wantedNeighbours = new Map(wanted.neighbours.map((n) => [neighbourKey(n), n]));
  for (const n of observed.neighbours) {
    if (onFresh(n.dev)) continue;
    const want = wantedNeighbours.get(neighbourKey(n));
    if (!want) deletions.push({ op: 'delete-neighbour', neighbour: n });
  }
  const wantedFdb = new Set(wanted.fdb.map(fdbKey));
  const haveFdb = new Set(observed.fdb.filter((f) => !onFresh(f.dev)).map(fdbKey));
  for (const f of observed.fdb) if (!onFresh(f.dev) && !wantedFdb.has(fdbKey(f))) deletions.push({ op: 'delete-fdb', entry: f });

  for (const f of wanted.fdb) if (!haveFdb.has(fdbKey(f))) creations.push({ op: 'replace-fdb', entry: f });
  const haveNeighbours = new Map(observed.neighbours.filter((n) => !onFresh(n.dev)).map((n) => [neighbourKey(n), n]));
  for (const n of wanted.neighbours) {
    const have = haveNeighbours.get(neighbourKey(n));
    if (!have || have.mac !== n.mac) creations.push({ op: 'replace-neighbour', neighbour: n });
  }
  for (const route of wanted.routes) {
    const have = haveRoutes.get(routeKey(route));
    if (!have || !routeSame(have, route) || onFresh(route.dev)) creations.push({ op: 'replace-route', route });
  }
  // Routes out first (traffic stops using an entry before the entry goes), then the rest.
  const routeDeletions = deletions.filter((op) => op.op === 'delete-route');
  return [...routeDeletions, ...deletions.filter((op) => op.op !== 'delete-route'), ...creations];
}

export function describeNetworkOp(op: NetworkOp): string {
  switch (op.op) {
    case 'delete-route':
    case 'replace-route':
      return `${op.op === 'delete-route' ? 'remove' : 'set'} route ${op.route.dst} via ${op.route.gateway} dev ${op.route.dev}${op.route.onlink ? ' onlink' : ''}`;
    case 'delete-neighbour':
    case 'replace-neighbour':
      return `${op.op === 'delete-neighbour' ? 'remove' : 'set'} neighbour ${op.neighbour.address} lladdr ${op.neighbour.mac} dev ${op.neighbour.dev}`;
    case 'delete-fdb':
    case 'replace-fdb':
      return `${op.op === 'delete-fdb' ? 'remove' : 'set'} fdb ${op.entry.mac} dst ${op.entry.dst} dev ${op.entry.dev}`;
    case 'delete-device':
      return `remove device ${op.name}`;
    case 'create-device':
      return `create vxlan ${op.device.name} id ${op.device.vni} local ${op.device.local} dev ${op.device.parent} dstport ${op.device.port}`;
    case 'set-device-mtu':
      return `set ${op.name} mtu ${op.mtu}`;
    case 'add-device-address':
      return `add address ${op.cidr} to ${op.name}`;
    case 'delete-device-address':
      return `remove address ${op.cidr} from ${op.name}`;
    case 'set-device-up':
      return `set ${op.name} up`;
  }
}
