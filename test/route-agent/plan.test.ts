import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type IpPrefix } from '../../src/lib/cidr.js';
import { diffNetwork, type ObservedNetwork } from '../../src/route-agent/diff.js';
import { buildNodeNetworks } from '../../src/route-agent/node-network.js';
import { buildNetworkState, EMPTY_NETWORK, vtepMac, type NetworkState } from '../../src/route-agent/plan.js';
import { node } from '../helpers/objects.js';

const CLUSTER: IpPrefix[] = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!];
const IFACE = { name: 'eth0', mtu: 1500 };

function threeNodes() {
  return buildNodeNetworks({
    nodes: [
      node('node-2', { podCIDRs: ['10.244.2.0/24'], internalIP: '10.250.0.12' }),
      node('node-1', { podCIDRs: ['10.244.1.0/24'], internalIP: '10.250.0.11' }),
      node('node-3', { podCIDRs: ['10.244.3.0/24'], internalIP: '10.250.0.13' }),
    ],
    clusterCIDRs: CLUSTER,
  });
}

function state(mode: 'host-gw' | 'vxlan', selfName = 'node-1', nodes = threeNodes().nodes): NetworkState {
  return buildNetworkState({ mode, self: nodes.find((n) => n.name === selfName), selfName, nodes, iface: IFACE, vni: 1, port: 8472 });
}

/** The kernel after applying `wanted` from nothing (what a fake would hold). */
function observedFrom(wanted: NetworkState): ObservedNetwork {
  return { ...structuredClone(wanted), devices: wanted.devices.map((d) => ({ ...d, up: true })) };
}

describe('buildNodeNetworks', () => {
  it('keeps usable Nodes sorted by name, with their pod CIDR and InternalIP', () => {
    const { nodes, diagnostics } = threeNodes();
    expect(diagnostics).toEqual([]);
    expect(nodes.map((n) => n.name)).toEqual(['node-1', 'node-2', 'node-3']);
  });

  it('reports and skips a Node without podCIDR, without address, outside the cluster CIDR, or overlapping', () => {
    const { nodes, diagnostics } = buildNodeNetworks({
      nodes: [
        node('a-ok', { podCIDRs: ['10.244.1.0/24'], internalIP: '10.250.0.11' }),
        node('b-no-cidr', { internalIP: '10.250.0.12' }),
        node('c-no-address', { podCIDRs: ['10.244.3.0/24'] }),
        node('d-outside', { podCIDRs: ['10.99.4.0/24'], internalIP: '10.250.0.14' }),
        node('e-overlap', { podCIDRs: ['10.244.1.128/25'], internalIP: '10.250.0.15' }),
        node('f-garbage', { podCIDRs: ['10.244.6.0/33'], internalIP: '10.250.0.16' }),
        node('g-v6-without-v6-address', { podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'], internalIP: '10.250.0.17' }),
        node('h-wider-overlap', { podCIDRs: ['10.244.0.0/20'], internalIP: '10.250.0.18' }),
      ],
      clusterCIDRs: CLUSTER,
    });
    expect(nodes.map((n) => n.name)).toEqual(['a-ok', 'g-v6-without-v6-address']);
    expect(nodes[1]!.podCIDRs).toHaveLength(1);
    expect(diagnostics.map((d) => [d.object.name, d.code, d.field])).toEqual([
      ['b-no-cidr', 'PORTICO_ERR_NODE_AGENT_NODE', 'spec.podCIDR'],
      ['c-no-address', 'PORTICO_ERR_NODE_AGENT_NODE', 'status.addresses'],
      ['d-outside', 'PORTICO_ERR_NODE_AGENT_POD_CIDR', 'spec.podCIDRs[0]'],
      ['e-overlap', 'PORTICO_ERR_NODE_AGENT_POD_CIDR', 'spec.podCIDRs[0]'],
      ['f-garbage', 'PORTICO_ERR_NODE_AGENT_NODE', 'spec.podCIDRs[0]'],
      ['g-v6-without-v6-address', 'PORTICO_ERR_NODE_AGENT_NODE', 'spec.podCIDRs[1]'],
      ['h-wider-overlap', 'PORTICO_ERR_NODE_AGENT_POD_CIDR', 'spec.podCIDRs[0]'],
    ]);
    expect(diagnostics[3]!.message).toContain('overlaps 10.244.1.0/24 of Node a-ok');
  });
});

it('an overlapping newcomer loses to the established Nodes (creationTimestamp), even when its name sorts first', () => {
  const established = [1, 2].map((n) => node(`node-${n}`, { podCIDRs: [`10.244.${n}.0/24`], internalIP: `10.250.0.1${n}`, creationTimestamp: '2026-01-01T00:00:00Z' }));
  const newcomer = node('aaa', { podCIDRs: ['10.244.0.0/16'], internalIP: '10.250.0.99', creationTimestamp: '2026-12-01T00:00:00Z' });
  const { nodes, diagnostics } = buildNodeNetworks({ nodes: [newcomer, ...established], clusterCIDRs: CLUSTER });
  expect(nodes.map((n) => n.name)).toEqual(['node-1', 'node-2']);
  expect(diagnostics.map((d) => [d.object.name, d.code])).toEqual([['aaa', 'PORTICO_ERR_NODE_AGENT_POD_CIDR']]);
});

describe('vtepMac', () => {
  it('is 02:70 and the IPv4 address bytes, and a stable hash for IPv6', () => {
    expect(vtepMac(parseIp('10.250.0.12')!)).toBe('02:70:0a:fa:00:0c');
    const v6 = vtepMac(parseIp('fd00::12')!);
    expect(v6).toMatch(/^02:76(:[0-9a-f]{2}){4}$/);
    expect(vtepMac(parseIp('fd00::12')!)).toBe(v6);
    expect(vtepMac(parseIp('fd00::13')!)).not.toBe(v6);
  });
});

describe('buildNetworkState', () => {
  it('host-gw: one route per other node via its address on the underlay', () => {
    expect(state('host-gw')).toEqual({
      devices: [],
      routes: [
        { family: 4, dst: '10.244.2.0/24', gateway: '10.250.0.12', dev: 'eth0', onlink: false },
        { family: 4, dst: '10.244.3.0/24', gateway: '10.250.0.13', dev: 'eth0', onlink: false },
      ],
      neighbours: [],
      fdb: [],
    });
  });

  it('vxlan: a device, and per other node a route, a permanent neighbour and an FDB entry (flannel)', () => {
    const wanted = state('vxlan');
    expect(wanted.devices).toEqual([
      { name: 'portico-vxlan', family: 4, vni: 1, port: 8472, local: '10.250.0.11', parent: 'eth0', mac: '02:70:0a:fa:00:0b', mtu: 1450, addresses: ['10.244.1.0/32'] },
    ]);
    expect(wanted.routes).toEqual([
      { family: 4, dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'portico-vxlan', onlink: true },
      { family: 4, dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'portico-vxlan', onlink: true },
    ]);
    expect(wanted.neighbours).toEqual([
      { dev: 'portico-vxlan', address: '10.244.2.0', mac: '02:70:0a:fa:00:0c' },
      { dev: 'portico-vxlan', address: '10.244.3.0', mac: '02:70:0a:fa:00:0d' },
    ]);
    expect(wanted.fdb).toEqual([
      { dev: 'portico-vxlan', mac: '02:70:0a:fa:00:0c', dst: '10.250.0.12' },
      { dev: 'portico-vxlan', mac: '02:70:0a:fa:00:0d', dst: '10.250.0.13' },
    ]);
  });

  it('dual-stack: a second device over the IPv6 underlay', () => {
    const { nodes } = buildNodeNetworks({
      nodes: ['1', '2'].map((n) => {
        const obj = node(`node-${n}`, { podCIDRs: [`10.244.${n}.0/24`, `fd00:10:244:${n}::/64`] });
        obj.status = { addresses: [{ type: 'InternalIP', address: `10.250.0.1${n}` }, { type: 'InternalIP', address: `fd00:250::1${n}` }] };
        return obj;
      }),
      clusterCIDRs: CLUSTER,
    });
    const wanted = state('vxlan', 'node-1', nodes);
    expect(wanted.devices.map((d) => [d.name, d.local, d.mtu, d.addresses])).toEqual([
      ['portico-vxlan', '10.250.0.11', 1450, ['10.244.1.0/32']],
      ['portico-vxlan6', 'fd00:250::11', 1430, ['fd00:10:244:1::/128']],
    ]);
    expect(wanted.routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`)).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev portico-vxlan',
      'fd00:10:244:2::/64 via fd00:10:244:2:: dev portico-vxlan6',
    ]);
  });

  it('without its own Node the agent still routes to the others in host-gw, and makes no device in vxlan', () => {
    const { nodes } = threeNodes();
    const others = nodes.filter((n) => n.name !== 'node-1');
    expect(state('host-gw', 'node-1', others).routes).toHaveLength(2);
    expect(state('vxlan', 'node-1', others)).toEqual(EMPTY_NETWORK);
  });
});

describe('diffNetwork', () => {
  it('from nothing: device first, FDB before neighbours and routes', () => {
    const ops = diffNetwork(state('vxlan'), { devices: [], routes: [], neighbours: [], fdb: [] });
    expect(ops.map((op) => op.op)).toEqual(['create-device', 'replace-fdb', 'replace-fdb', 'replace-neighbour', 'replace-neighbour', 'replace-route', 'replace-route']);
  });

  it('nothing to do when the kernel already has it', () => {
    expect(diffNetwork(state('vxlan'), observedFrom(state('vxlan')))).toEqual([]);
    expect(diffNetwork(state('host-gw'), observedFrom(state('host-gw')))).toEqual([]);
  });

  it('a removed node: its route goes first, then its neighbour and FDB entry', () => {
    const { nodes } = threeNodes();
    const ops = diffNetwork(state('vxlan', 'node-1', nodes.filter((n) => n.name !== 'node-3')), observedFrom(state('vxlan')));
    expect(ops).toEqual([
      { op: 'delete-route', route: { family: 4, dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'portico-vxlan', onlink: true } },
      { op: 'delete-neighbour', neighbour: { dev: 'portico-vxlan', address: '10.244.3.0', mac: '02:70:0a:fa:00:0d' } },
      { op: 'delete-fdb', entry: { dev: 'portico-vxlan', mac: '02:70:0a:fa:00:0d', dst: '10.250.0.13' } },
    ]);
  });

  it('a route deleted by hand comes back; a changed gateway is replaced', () => {
    const observed = observedFrom(state('host-gw'));
    const edited = { ...observed, routes: [{ ...observed.routes[0]!, gateway: '10.250.0.99' }] };
    expect(diffNetwork(state('host-gw'), edited).map((op) => (op.op === 'replace-route' ? op.route.dst : op.op))).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
  });

  it('vxlan → host-gw: the device goes (with what hangs on it), the routes move to the underlay', () => {
    const ops = diffNetwork(state('host-gw'), observedFrom(state('vxlan')));
    expect(ops.map((op) => op.op)).toEqual(['delete-device', 'replace-route', 'replace-route']);
  });

  it('host-gw → vxlan: the underlay routes are replaced by overlay ones (same destinations)', () => {
    const ops = diffNetwork(state('vxlan'), observedFrom(state('host-gw')));
    expect(ops.filter((op) => op.op === 'delete-route')).toEqual([]);
    expect(ops.filter((op) => op.op === 'replace-route').map((op) => op.op === 'replace-route' && op.route.dev)).toEqual(['portico-vxlan', 'portico-vxlan']);
  });

  it('a device with another VNI is recreated, and everything on it re-added', () => {
    const observed = observedFrom(state('vxlan'));
    const stale = { ...observed, devices: [{ ...observed.devices[0]!, vni: 7 }] };
    expect(diffNetwork(state('vxlan'), stale).map((op) => op.op)).toEqual([
      'delete-device',
      'create-device',
      'replace-fdb',
      'replace-fdb',
      'replace-neighbour',
      'replace-neighbour',
      'replace-route',
      'replace-route',
    ]);
  });

  it('fixes a device set down, a changed MTU and a lost address in place', () => {
    const observed = observedFrom(state('vxlan'));
    const edited = { ...observed, devices: [{ ...observed.devices[0]!, up: false, mtu: 1400, addresses: ['10.244.9.0/32'] }] };
    expect(diffNetwork(state('vxlan'), edited)).toEqual([
      { op: 'set-device-mtu', name: 'portico-vxlan', mtu: 1450 },
      { op: 'delete-device-address', name: 'portico-vxlan', cidr: '10.244.9.0/32' },
      { op: 'add-device-address', name: 'portico-vxlan', cidr: '10.244.1.0/32' },
      { op: 'set-device-up', name: 'portico-vxlan' },
    ]);
  });

  it('cleanup (want nothing) removes the device and the underlay routes', () => {
    const observed = observedFrom(state('vxlan'));
    const mixed = { ...observed, routes: [...observed.routes, ...state('host-gw').routes.map((r) => ({ ...r, dst: r.dst.replace('10.244', '10.245') }))] };
    expect(diffNetwork(EMPTY_NETWORK, mixed).map((op) => (op.op === 'delete-route' ? `delete-route ${op.route.dst}` : op.op))).toEqual([
      'delete-route 10.245.2.0/24',
      'delete-route 10.245.3.0/24',
      'delete-device',
    ]);
  });
});
