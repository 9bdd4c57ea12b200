import type { IpFamily } from '../lib/cidr.js';
import type { FaultPlan } from '../lib/fault-plan.js';
import { describeNetworkOp, type NetworkOp, type ObservedDevice, type ObservedNetwork } from './diff.js';
import type { AgentFdbEntry, AgentNeighbour, AgentRoute } from './plan.js';
import type { OpFailure, RouteHost, UnderlayInterface } from './route-host.js';

// An in-memory kernel for the node agent's unit tests: devices, routes, neighbours, FDB entries,
// with the errors that matter (a route, neighbour or FDB entry on a device that does not exist;
// deleting what is not there), plus hand edits (`deleteRoute`) and a FaultPlan per op.

export class FakeRouteHost implements RouteHost {
  devices = new Map<string, ObservedDevice>();
  routes: AgentRoute[] = [];
  neighbours: AgentNeighbour[] = [];
  fdb: AgentFdbEntry[] = [];
  readonly forwarding = new Set<IpFamily>();
  readonly applied: string[] = [];
  underlay: UnderlayInterface[];
  readonly #faults: FaultPlan | undefined;

  constructor(options: { interfaces?: UnderlayInterface[]; faults?: FaultPlan } = {}) {
    this.underlay = options.interfaces ?? [{ name: 'eth0', mtu: 1500, addresses: ['10.250.0.11/24'] }];
    this.#faults = options.faults;
  }

  async observe(): Promise<ObservedNetwork> {
    this.#faults?.step('observe');
    return structuredClone({ devices: [...this.devices.values()], routes: this.routes, neighbours: this.neighbours, fdb: this.fdb });
  }

  async interfaces(): Promise<UnderlayInterface[]> {
    return structuredClone(this.underlay);
  }

  async ensureForwarding(families: readonly IpFamily[]): Promise<void> {
    for (const family of families) this.forwarding.add(family);
  }

  async apply(ops: readonly NetworkOp[]): Promise<OpFailure[]> {
    const failures: OpFailure[] = [];
    for (const op of ops) {
      try {
        this.#faults?.step(describeNetworkOp(op));
        this.#apply(op);
        this.applied.push(describeNetworkOp(op));
      } catch (error) {
        failures.push({ op, message: (error as Error).message });
      }
    }
    return failures;
  }

  /** A hand edit: `ip route del`. */
  deleteRoute(dst: string): void {
    this.routes = this.routes.filter((r) => r.dst !== dst);
  }

  #device(name: string): ObservedDevice {
    const device = this.devices.get(name);
    if (!device && !this.underlay.some((i) => i.name === name)) throw new Error(`Cannot find device "${name}"`);
    return device!;
  }

  #apply(op: NetworkOp): void {
    switch (op.op) {
      case 'delete-device':
        if (!this.devices.delete(op.name)) throw new Error(`Cannot find device "${op.name}"`);
        this.routes = this.routes.filter((r) => r.dev !== op.name);
        this.neighbours = this.neighbours.filter((n) => n.dev !== op.name);
        this.fdb = this.fdb.filter((f) => f.dev !== op.name);
        return;
      case 'create-device':
        if (this.devices.has(op.device.name)) throw new Error('RTNETLINK answers: File exists');
        if (!this.underlay.some((i) => i.name === op.device.parent)) throw new Error(`Cannot find device "${op.device.parent}"`);
        this.devices.set(op.device.name, { ...structuredClone(op.device), up: true });
        return;
      case 'set-device-mtu':
        this.devices.set(op.name, { ...this.#device(op.name), mtu: op.mtu });
        return;
      case 'add-device-address': {
        const device = this.#device(op.name);
        this.devices.set(op.name, { ...device, addresses: [...device.addresses, op.cidr] });
        return;
      }
      case 'delete-device-address': {
        const device = this.#device(op.name);
        this.devices.set(op.name, { ...device, addresses: device.addresses.filter((a) => a !== op.cidr) });
        return;
      }
      case 'set-device-up':
        this.devices.set(op.name, { ...this.#device(op.name), up: true });
        return;
      case 'delete-route': {
        const before = this.routes.length;
        this.routes = this.routes.filter((r) => !(r.family === op.route.family && r.dst === op.route.dst));
        if (this.routes.length === before) throw new Error('RTNETLINK answers: No such process');
        return;
      }
      case 'replace-route':
        this.#device(op.route.dev);
        this.routes = [...this.routes.filter((r) => !(r.family === op.route.family && r.dst === op.route.dst)), { ...op.route }];
        return;
      case 'delete-neighbour': {
        const before = this.neighbours.length;
        this.neighbours = this.neighbours.filter((n) => !(n.dev === op.neighbour.dev && n.address === op.neighbour.address));
        if (this.neighbours.length === before) throw new Error('RTNETLINK answers: No such file or directory');
        return;
      }
      case 'replace-neighbour':
        this.#device(op.neighbour.dev);
        this.neighbours = [...this.neighbours.filter((n) => !(n.dev === op.neighbour.dev && n.address === op.neighbour.address)), { ...op.neighbour }];
        return;
      case 'delete-fdb': {
        const before = this.fdb.length;
        this.fdb = this.fdb.filter((f) => !(f.dev === op.entry.dev && f.mac === op.entry.mac && f.dst === op.entry.dst));
        if (this.fdb.length === before) throw new Error('RTNETLINK answers: No such file or directory');
        return;
      }
      case 'replace-fdb':
        this.#device(op.entry.dev);
        this.fdb = [...this.fdb.filter((f) => !(f.dev === op.entry.dev && f.mac === op.entry.mac && f.dst === op.entry.dst)), { ...op.entry }];
        return;
    }
  }
}
