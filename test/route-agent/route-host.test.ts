import { describe, expect, it } from 'vitest';
import type { CommandSpec } from '../../src/lib/run-command.js';
import { ExecRouteHost } from '../../src/route-agent/exec-route-host.js';
import { parseFdb, parseLinks, parseNeighbours, parseRoutes, renderNetworkOps } from '../../src/route-agent/route-host.js';
import type { NetworkOp } from '../../src/route-agent/diff.js';

// Captured from iproute2 6.1 (Debian 12) after the agent programmed a vxlan node.
const ADDR_SHOW = JSON.stringify([
  { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'UP'], mtu: 1500, address: '5e:1a:00:00:00:01', linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet', local: '10.250.0.11', prefixlen: 24, scope: 'global' }] },
  {
    ifindex: 5,
    ifname: 'portico-vxlan',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1450,
    address: '02:70:0a:fa:00:0b',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '10.250.0.11', link: 'eth0', port: 8472, learning: false } },
    ifalias: 'portico-node-agent',
    addr_info: [
      { family: 'inet', local: '10.244.1.0', prefixlen: 32, scope: 'global' },
      { family: 'inet6', local: 'fe80::70:aff:fefa:b', prefixlen: 64, scope: 'link' },
    ],
  },
  { ifindex: 6, ifname: 'other-vxlan', flags: ['UP'], mtu: 1450, address: '02:00:00:00:00:01', linkinfo: { info_kind: 'vxlan', info_data: { id: 9 } }, addr_info: [] },
]);

describe('iproute2 parsing', () => {
  it('finds only the devices carrying the agent alias, with their VXLAN parameters and global addresses', () => {
    const { devices, interfaces } = parseLinks(ADDR_SHOW);
    expect(devices).toEqual([
      { name: 'portico-vxlan', family: 4, vni: 1, port: 8472, local: '10.250.0.11', parent: 'eth0', mac: '02:70:0a:fa:00:0b', mtu: 1450, addresses: ['10.244.1.0/32'], up: true },
    ]);
    expect(interfaces.map((i) => [i.name, i.addresses])).toEqual([
      ['eth0', ['10.250.0.11/24']],
      ['portico-vxlan', ['10.244.1.0/32']],
      ['other-vxlan', []],
    ]);
  });

  it('routes, permanent neighbours and FDB entries on our devices', () => {
    expect(parseRoutes('[{"dst":"10.244.2.0/24","gateway":"10.244.2.0","dev":"portico-vxlan","flags":["onlink"]},{"dst":"10.244.3.0/24","gateway":"10.250.0.13","dev":"eth0","flags":[]}]', 4)).toEqual([
      { family: 4, dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'portico-vxlan', onlink: true },
      { family: 4, dst: '10.244.3.0/24', gateway: '10.250.0.13', dev: 'eth0', onlink: false },
    ]);
    const ours = new Set(['portico-vxlan']);
    expect(parseNeighbours('[{"dst":"10.244.2.0","dev":"portico-vxlan","lladdr":"02:70:0a:fa:00:0c","state":["PERMANENT"]},{"dst":"10.250.0.1","dev":"eth0","lladdr":"aa:aa:aa:aa:aa:aa","state":["PERMANENT"]}]', ours)).toEqual([
      { dev: 'portico-vxlan', address: '10.244.2.0', mac: '02:70:0a:fa:00:0c' },
    ]);
    expect(
      parseFdb('[{"mac":"33:33:00:00:00:01","ifname":"eth0","flags":["self"],"state":"permanent"},{"mac":"02:70:0a:fa:00:0c","ifname":"portico-vxlan","dst":"10.250.0.12","flags":["self"],"state":"permanent"}]', ours),
    ).toEqual([{ dev: 'portico-vxlan', mac: '02:70:0a:fa:00:0c', dst: '10.250.0.12' }]);
  });
});

const DEVICE = { name: 'portico-vxlan', family: 4 as const, vni: 1, port: 8472, local: '10.250.0.11', parent: 'eth0', mac: '02:70:0a:fa:00:0b', mtu: 1450, addresses: ['10.244.1.0/32'] };
const ROUTE = { family: 4 as const, dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'portico-vxlan', onlink: true };
const FDB = { dev: 'portico-vxlan', mac: '02:70:0a:fa:00:0c', dst: '10.250.0.12' };
const NEIGHBOUR = { dev: 'portico-vxlan', address: '10.244.2.0', mac: '02:70:0a:fa:00:0c' };

describe('renderNetworkOps', () => {
  it('three batches: ip (deletions, devices), bridge (FDB), ip (neighbours, routes)', () => {
    const ops: NetworkOp[] = [
      { op: 'delete-route', route: { ...ROUTE, dst: '10.244.9.0/24' } },
      { op: 'create-device', device: DEVICE },
      { op: 'replace-fdb', entry: FDB },
      { op: 'replace-neighbour', neighbour: NEIGHBOUR },
      { op: 'replace-route', route: ROUTE },
    ];
    expect(renderNetworkOps(ops).map((b) => [b.tool, b.lines.map((l) => l.text)])).toEqual([
      [
        'ip',
        [
          'route del 10.244.9.0/24 via 10.244.2.0 dev portico-vxlan onlink proto 80',
          'link add portico-vxlan type vxlan id 1 local 10.250.0.11 dev eth0 dstport 8472 nolearning',
          'link set dev portico-vxlan address 02:70:0a:fa:00:0b mtu 1450 alias portico-node-agent',
          'addr add 10.244.1.0/32 dev portico-vxlan',
          'link set dev portico-vxlan up',
        ],
      ],
      ['bridge', ['fdb replace 02:70:0a:fa:00:0c dev portico-vxlan dst 10.250.0.12 self permanent']],
      ['ip', ['neigh replace 10.244.2.0 lladdr 02:70:0a:fa:00:0c dev portico-vxlan nud permanent', 'route replace 10.244.2.0/24 via 10.244.2.0 dev portico-vxlan onlink proto 80']],
    ]);
  });

  it('refuses text that could break out of a batch line', () => {
    expect(() => renderNetworkOps([{ op: 'replace-route', route: { ...ROUTE, dev: 'eth0\nlink del eth0' } }])).toThrow(/cannot be passed to ip/);
  });
});

describe('ExecRouteHost.apply', () => {
  it('maps `Command failed -:N` back to the op of line N and keeps going', async () => {
    const calls: CommandSpec[] = [];
    const runner = {
      async run(spec: CommandSpec) {
        calls.push(spec);
        if (spec.command === 'ip' && spec.input?.startsWith('neigh')) return { code: 1, stdout: '', stderr: 'Error: Nexthop has invalid gateway.\nCommand failed -:2\n' };
        return { code: 0, stdout: '', stderr: '' };
      },
    };
    const failures = await new ExecRouteHost({ runner }).apply([
      { op: 'replace-fdb', entry: FDB },
      { op: 'replace-neighbour', neighbour: NEIGHBOUR },
      { op: 'replace-route', route: ROUTE },
    ]);
    expect(calls.map((c) => [c.command, ...c.args])).toEqual([
      ['bridge', '-force', '-batch', '-'],
      ['ip', '-force', '-batch', '-'],
    ]);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.op.op).toBe('replace-route');
    expect(failures[0]!.message).toContain('Nexthop has invalid gateway');
  });
});
