import { describe, expect, it } from 'vitest';
import { errorKind, failedBatchLine, parseIpLinks, parseIpRoutes, renderIpChange } from '../../src/host/ip-batch.js';

describe('renderIpChange', () => {
  it.each([
    [{ op: 'create-bridge', name: 'cni0' }, 'link add name cni0 type bridge'],
    [{ op: 'create-bridge', name: 'cni0', mtu: 1450 }, 'link add name cni0 mtu 1450 type bridge'],
    [
      { op: 'create-veth', name: 'veth0011aabb', peerName: 'eth0', peerNetns: '/run/netns/pod', mtu: 1400, peerMac: '02:00:00:00:00:01' },
      'link add name veth0011aabb mtu 1400 txqueuelen 0 type veth peer name eth0 mtu 1400 txqueuelen 0 address 02:00:00:00:00:01 netns /run/netns/pod',
    ],
    [{ op: 'set-up', name: 'eth0' }, 'link set dev eth0 up'],
    [{ op: 'set-down', name: 'lo' }, 'link set dev lo down'],
    [{ op: 'set-master', name: 'veth1', master: 'cni0' }, 'link set dev veth1 master cni0'],
    [{ op: 'set-hairpin', name: 'veth1', on: true }, 'link set dev veth1 type bridge_slave hairpin on'],
    [{ op: 'set-promisc', name: 'cni0', on: true }, 'link set dev cni0 promisc on'],
    [{ op: 'set-mac', name: 'cni0', mac: '02:00:00:00:00:09' }, 'link set dev cni0 address 02:00:00:00:00:09'],
    [{ op: 'set-alias', name: 'eth0', alias: 'portico-cni:c1' }, 'link set dev eth0 alias portico-cni:c1'],
    [{ op: 'add-addr', dev: 'eth0', cidr: '10.1.0.2/24' }, 'addr add 10.1.0.2/24 broadcast + dev eth0'],
    [{ op: 'add-addr', dev: 'eth0', cidr: 'fd00::2/64', noDad: true }, 'addr add fd00::2/64 dev eth0 nodad'],
    [{ op: 'del-addr', dev: 'cni0', cidr: '10.9.0.1/24' }, 'addr del 10.9.0.1/24 dev cni0'],
    // LoadBalancer announcement
    [{ op: 'add-proxy-neigh', ip: 'fd40::100', dev: 'eth0', protocol: 80 }, 'neigh add proxy fd40::100 dev eth0 protocol 80'],
    [{ op: 'add-proxy-neigh', ip: 'fd40::100', dev: 'eth0' }, 'neigh add proxy fd40::100 dev eth0'],
    [{ op: 'del-proxy-neigh', ip: 'fd40::100', dev: 'eth0' }, 'neigh del proxy fd40::100 dev eth0'],
    [{ op: 'add-route', route: { dst: '0.0.0.0/0', gateway: '10.1.0.1', dev: 'eth0' } }, 'route add 0.0.0.0/0 via 10.1.0.1 dev eth0'],
    [
      { op: 'add-route', route: { dst: '10.96.0.0/12', dev: 'eth0', table: 100, metric: 5, scope: 253, mtu: 1300, advmss: 1260 } },
      'route add 10.96.0.0/12 dev eth0 table 100 metric 5 scope link mtu 1300 advmss 1260',
    ],
  ] as const)('%j', (change, line) => {
    expect(renderIpChange(change)).toBe(line);
  });

  it('has no line for sysctls', () => {
    expect(renderIpChange({ op: 'sysctl', key: 'net/ipv4/ip_forward', value: '1' })).toBeUndefined();
  });

  it('refuses tokens that would split or comment out a batch line', () => {
    expect(() => renderIpChange({ op: 'set-up', name: 'eth 0' })).toThrow(/cannot be passed to ip/);
    expect(() => renderIpChange({ op: 'set-up', name: 'eth#0' })).toThrow(/cannot be passed to ip/);
    expect(() => renderIpChange({ op: 'create-veth', name: 'v', peerName: 'e', peerNetns: '/run/netns/a"b' })).toThrow(/netns path/);
  });
});

describe('ip errors', () => {
  it('finds the failing batch line and classifies the error', () => {
    expect(failedBatchLine('RTNETLINK answers: File exists\nCommand failed -:3\n')).toBe(2);
    expect(failedBatchLine('whatever')).toBeUndefined();
    expect(errorKind('RTNETLINK answers: File exists')).toBe('exists');
    // IPv6 says it in lower case (a concurrent ADD already put the gateway on the bridge).
    expect(errorKind('Error: ipv6: address already assigned.')).toBe('exists');
    expect(errorKind('Cannot find device "eth9"')).toBe('not-found');
    expect(errorKind('Device "eth9" does not exist.')).toBe('not-found');
    expect(errorKind('Error: Nexthop has invalid gateway.')).toBe('failed');
  });
});

describe('parseIpLinks', () => {
  it('reads `ip -d -j addr show`', () => {
    const json = JSON.stringify([
      {
        ifindex: 3,
        link_index: 2,
        ifname: 'veth1',
        flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
        mtu: 1500,
        master: 'cni0',
        operstate: 'UP',
        address: 'ba:98:f1:65:02:94',
        linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: true } },
        addr_info: [
          { family: 'inet', local: '10.1.0.2', prefixlen: 24, scope: 'global' },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
      },
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP', 'PROMISC'], mtu: 65536, operstate: 'UNKNOWN', address: '00:00:00:00:00:00' },
    ]);
    expect(parseIpLinks(json)).toEqual([
      {
        index: 3,
        name: 'veth1',
        kind: 'veth',
        mac: 'ba:98:f1:65:02:94',
        mtu: 1500,
        up: true,
        operState: 'UP',
        master: 'cni0',
        peerIndex: 2,
        promisc: false,
        hairpin: true,
        addresses: [
          { cidr: '10.1.0.2/24', family: 4, scope: 'global' },
          { cidr: 'fe80::1/64', family: 6, scope: 'link' },
        ],
      },
      { index: 1, name: 'lo', kind: undefined, mac: '00:00:00:00:00:00', mtu: 65536, up: true, operState: 'UNKNOWN', master: undefined, peerIndex: undefined, promisc: true, hairpin: undefined, addresses: [] },
    ]);
    expect(parseIpLinks('')).toEqual([]);
  });
});

describe('parseIpRoutes', () => {
  it('keeps unicast routes of the main table and tells the families apart', () => {
    const json = JSON.stringify([
      { type: 'unicast', dst: 'default', gateway: '10.1.0.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global' },
      { type: 'unicast', dst: '10.9.0.0/16', gateway: '10.1.0.1', dev: 'eth0', table: 'main', metrics: [{ mtu: 1300 }] },
      { type: 'unicast', dst: 'default', dev: 'eth0', table: 'main', metric: 1024, pref: 'medium' },
      { type: 'local', dst: '10.1.0.2', dev: 'eth0', table: 'local' },
      { type: 'unicast', dst: '10.8.0.0/16', dev: 'eth0', table: '100' },
      { type: 'unicast', dst: '10.7.0.1', dev: 'eth0', table: 'main' },
    ]);
    const routes = parseIpRoutes(json);
    expect(routes.map((r) => [r.family, r.dst, r.gateway, r.mtu])).toEqual([
      [4, '0.0.0.0/0', '10.1.0.1', undefined],
      [4, '10.9.0.0/16', '10.1.0.1', 1300],
      [6, '::/0', undefined, undefined],
      [4, '10.7.0.1/32', undefined, undefined],
    ]);
  });
});
