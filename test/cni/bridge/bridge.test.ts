import { describe, expect, it } from 'vitest';
import { FAKE_OWN_NETNS } from '../../../src/host/fake-net-host.js';
import { MASQ_CHAIN, MASQ_TABLE, parseMasqComment } from '../../../src/cni/bridge/masquerade.js';
import { bridgeConfig, env, harness, POD_NETNS } from '../harness.js';

const add = (h: ReturnType<typeof harness>, config: unknown, overrides: Record<string, string | undefined> = {}) => h.run({ env: env('ADD', overrides), config });
const withPrev = (config: Record<string, unknown>, prevResult: unknown) => ({ ...config, prevResult });

describe('bridge ADD', () => {
  it('creates the bridge, the veth pair, addresses and routes, and answers like the reference', async () => {
    const h = harness();
    const result = await add(h, bridgeConfig({ isDefaultGateway: true, hairpinMode: true, dns: { nameservers: ['10.96.0.10'] } }, { routes: [{ dst: '10.96.0.0/12' }] }));
    expect(result.code).toBe(0);
    expect(result.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: '02:00:00:00:00:05' },
        { name: 'veth00000001', mac: '02:00:00:00:00:03' },
        { name: 'eth0', mac: '02:00:00:00:00:04', sandbox: POD_NETNS },
      ],
      ips: [{ interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }],
      routes: [{ dst: '10.96.0.0/12' }, { dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: { nameservers: ['10.96.0.10'] },
    });
    const state = h.host.snapshot();
    const bridge = state['host']!.links.find((l) => l.name === 'cni0')!;
    expect(bridge).toMatchObject({ kind: 'bridge', up: true, mac: '02:00:00:00:00:05', addresses: [{ cidr: '10.244.1.1/24', family: 4, scope: 'global' }] });
    expect(state['host']!.links.find((l) => l.name === 'veth00000001')).toMatchObject({ master: 'cni0', hairpin: true, up: true, operState: 'UP', peer: `${POD_NETNS}:eth0` });
    expect(state['host']!.sysctls).toEqual({ 'net/ipv4/ip_forward': '1', 'net/ipv6/conf/cni0/accept_ra': '0' });
    const pod = state[POD_NETNS]!;
    expect(pod.links.map((l) => [l.name, l.up, l.addresses.map((a) => a.cidr)])).toEqual([
      ['eth0', true, ['10.244.1.2/24']],
      ['lo', true, []],
    ]);
    expect(pod.routes.map((r) => `${r.dst} via ${r.gateway}`)).toEqual(['0.0.0.0/0 via 10.244.1.1', '10.96.0.0/12 via 10.244.1.1']);
    expect(pod.sysctls).toEqual({ 'net/ipv4/conf/eth0/arp_notify': '1', 'net/ipv6/conf/eth0/accept_dad': '0' });
    expect(h.ipamFiles()).toEqual({ '10.244.1.2': 'c1\r\neth0', 'last_reserved_ip.0': '10.244.1.2' });
    expect(h.nft.dump()).toBe('');
  });

  it.each([
    ['0.3.0', { version: '4', interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }, { name: 'eth0', mac: '02:00:00:00:00:04', sandbox: POD_NETNS }],
    ['0.3.1', { version: '4', interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }, { name: 'eth0', mac: '02:00:00:00:00:04', sandbox: POD_NETNS }],
    ['0.4.0', { version: '4', interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }, { name: 'eth0', mac: '02:00:00:00:00:04', sandbox: POD_NETNS }],
    ['1.0.0', { interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }, { name: 'eth0', mac: '02:00:00:00:00:04', sandbox: POD_NETNS }],
    ['1.1.0', { interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }, { name: 'eth0', mac: '02:00:00:00:00:04', mtu: 1500, sandbox: POD_NETNS }],
  ])('answers in version %s', async (version, ip, iface) => {
    const h = harness();
    const result = await add(h, bridgeConfig({ cniVersion: version }));
    expect(result.json.cniVersion).toBe(version);
    expect(result.json.ips).toEqual([ip]);
    expect(result.json.interfaces[2]).toEqual(iface);
    expect(result.json.dns).toEqual({});
  });

  it('sets up dual-stack addresses, gateways and masquerade rules', async () => {
    const h = harness();
    const result = await add(h, bridgeConfig({ ipMasq: true, isDefaultGateway: true }, { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:1::/64' }]] }));
    expect(result.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.244.1.2/24', 'fd00:1::2/64']);
    expect(result.json.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.244.1.1' },
      { dst: '::/0', gw: 'fd00:1::1' },
    ]);
    const state = h.host.snapshot();
    expect(state['host']!.links.find((l) => l.name === 'cni0')!.addresses.map((a) => a.cidr)).toEqual(['10.244.1.1/24', 'fd00:1::1/64']);
    expect(state['host']!.sysctls['net/ipv6/conf/all/forwarding']).toBe('1');
    expect(state[POD_NETNS]!.sysctls['net/ipv6/conf/eth0/disable_ipv6']).toBe('0');
    expect(h.nft.dump()).toMatch(/ip saddr 10\.244\.1\.2 ip daddr != 10\.244\.1\.0\/24 ip daddr != 224\.0\.0\.0\/4 masquerade comment "pcni [0-9a-f]{8}:[0-9a-f]{16} ip=10\.244\.1\.2 net=podnet id=c1 if=eth0"/);
    expect(h.nft.dump()).toMatch(/ip6 saddr fd00:1::2 ip6 daddr != fd00:1::\/64 ip6 daddr != ff00::\/8 masquerade/);
    expect(h.nft.dump()).toContain('type nat hook postrouting priority srcnat; policy accept;\n\t\tjump pod-masq comment "pcni jump"');
  });

  it('gives the second pod the next address and reuses the bridge', async () => {
    const h = harness({ namespaces: [POD_NETNS, '/run/netns/pod2'] });
    const first = await add(h, bridgeConfig());
    const second = await add(h, bridgeConfig(), { CNI_CONTAINERID: 'c2', CNI_NETNS: '/run/netns/pod2' });
    expect(second.json.ips[0].address).toBe('10.244.1.3/24');
    expect(second.json.interfaces[0]).toEqual(first.json.interfaces[0]);
  });

  it('leaves the bridge without an address when it is not the gateway (L3 without isGateway)', async () => {
    const h = harness();
    const result = await add(h, bridgeConfig({ isGateway: false }));
    expect(result.json.ips[0]).toEqual({ interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' });
    const state = h.host.snapshot();
    expect(state['host']!.links.find((l) => l.name === 'cni0')!.addresses).toEqual([]);
    expect(state['host']!.sysctls['net/ipv4/ip_forward']).toBeUndefined();
  });

  it('attaches an L2-only interface when there is no ipam type', async () => {
    const h = harness();
    const result = await add(h, { cniVersion: '1.0.0', name: 'l2net', type: 'portico-cni', bridge: 'br-l2' });
    expect(result.code).toBe(0);
    expect(result.json.ips).toBeUndefined();
    expect(result.json.interfaces.map((i: { name: string }) => i.name)).toEqual(['br-l2', 'veth00000001', 'eth0']);
    expect(h.host.snapshot()[POD_NETNS]!.links.find((l) => l.name === 'eth0')).toMatchObject({ up: true, addresses: [] });
  });

  it('applies mtu, promiscMode and the requested MAC', async () => {
    const h = harness();
    const result = await add(h, bridgeConfig({ cniVersion: '1.1.0', mtu: 1400, promiscMode: true, runtimeConfig: { mac: 'AA:BB:CC:00:11:22' } }));
    expect(result.json.interfaces.map((i: { mtu: number }) => i.mtu)).toEqual([1400, 1400, 1400]);
    expect(result.json.interfaces[2].mac).toBe('aa:bb:cc:00:11:22');
    expect(h.host.snapshot()['host']!.links.find((l) => l.name === 'cni0')!.promisc).toBe(true);
  });

  it('replaces a different bridge address only with forceAddress', async () => {
    const h = harness();
    await h.host.namespace().apply([
      { op: 'create-bridge', name: 'cni0' },
      { op: 'set-up', name: 'cni0' },
      { op: 'sysctl', key: 'net/ipv6/conf/cni0/accept_ra', value: '0' },
      { op: 'add-addr', dev: 'cni0', cidr: '10.9.9.1/24' },
    ]);
    const before = h.host.snapshot();
    const refused = await add(h, bridgeConfig());
    expect(refused.json).toMatchObject({ code: 999, msg: expect.stringContaining('bridge cni0 already has an IP address different from 10.244.1.1/24 (10.9.9.1/24)') });
    expect(h.host.snapshot()).toEqual(before);
    expect(h.ipamFiles()).toEqual({});
    const forced = await add(h, bridgeConfig({ forceAddress: true }));
    expect(forced.code).toBe(0);
    expect(h.host.snapshot()['host']!.links.find((l) => l.name === 'cni0')!.addresses.map((a) => a.cidr)).toEqual(['10.244.1.1/24']);
  });
});

describe('bridge ADD: bad input changes nothing', () => {
  it.each([
    ['unknown ipam type', bridgeConfig({ ipam: { type: 'dhcp' } }), {}, 7, 'ipam.type "dhcp" is not supported'],
    ['bad subnet', bridgeConfig({}, { ranges: [[{ subnet: '10.244.1.0/40' }]] }), {}, 7, 'ipam.ranges[0][0].subnet must be a CIDR'],
    ['rangeStart outside the subnet', bridgeConfig({}, { ranges: [[{ subnet: '10.244.1.0/24', rangeStart: '10.244.2.1' }]] }), {}, 7, 'ipam.ranges[0][0].rangeStart 10.244.2.1 is not in subnet'],
    ['overlapping range sets', bridgeConfig({}, { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: '10.244.0.0/16' }]] }), {}, 7, 'range set 0 overlaps with range set 1'],
    ['hairpin and promisc', bridgeConfig({ hairpinMode: true, promiscMode: true }), {}, 7, 'hairpinMode and promiscMode cannot both be true'],
    ['wrong type', bridgeConfig({ isGateway: 'yes' }), {}, 7, 'isGateway must be true or false, got "yes"'],
    ['bad mtu', bridgeConfig({ mtu: 20 }), {}, 7, 'mtu must be 0 (kernel default) or between 68 and 65535, got 20'],
    ['long bridge name', bridgeConfig({ bridge: 'a-very-long-bridge' }), {}, 7, 'bridge "a-very-long-bridge" is too long'],
    ['bad MAC', bridgeConfig({ args: { cni: { mac: 'ff:ff:ff:ff:ff:ff' } } }), {}, 7, 'args.cni.mac = "ff:ff:ff:ff:ff:ff" is not a unicast MAC'],
    ['vlan', bridgeConfig({ vlan: 100 }), {}, 2, 'vlan = 100 is not supported by portico-cni'],
    ['iptables backend', bridgeConfig({ ipMasqBackend: 'iptables' }), {}, 2, 'ipMasqBackend = "iptables" is not supported'],
    ['missing netns', bridgeConfig(), { CNI_NETNS: '/run/netns/nope' }, 4, 'CNI_NETNS /run/netns/nope does not exist'],
    ['own netns', bridgeConfig(), { CNI_NETNS: FAKE_OWN_NETNS }, 8, "is the plugin's own network namespace"],
    ['bad CNI_ARGS IP', bridgeConfig(), { CNI_ARGS: 'IP=nope' }, 4, 'CNI_ARGS IP="nope" is not an IP address'],
    ['unsupported version', bridgeConfig({ cniVersion: '0.2.0' }), {}, 1, 'incompatible CNI versions'],
  ])('%s', async (_name, config, overrides, code, message) => {
    const h = harness();
    const before = h.host.snapshot();
    const result = await add(h, config, overrides);
    expect(result.code).toBe(1);
    expect(result.json.code).toBe(code);
    expect(result.json.msg).toContain(message);
    expect(h.host.snapshot()).toEqual(before);
    expect(h.ipamFiles()).toEqual({});
    expect(h.nft.dump()).toBe('');
  });

  it('cannot read ipam.resolvConf → code 5, touching nothing', async () => {
    const h = harness();
    const before = h.host.snapshot();
    const result = await add(h, bridgeConfig({}, { resolvConf: '/etc/nope.conf' }));
    expect(result.json).toMatchObject({ code: 5, msg: expect.stringContaining('ipam.resolvConf: cannot read /etc/nope.conf') });
    expect(h.host.snapshot()).toEqual(before);
    expect(h.ipamFiles()).toEqual({});
  });

  it('reads ipam.resolvConf but answers with the bridge dns, as the reference does', async () => {
    const h = harness();
    h.files.set('/etc/pod-resolv.conf', 'nameserver 10.0.0.10\nsearch a.local\n');
    expect((await add(h, bridgeConfig({}, { resolvConf: '/etc/pod-resolv.conf' }))).json.dns).toEqual({});
  });

  it('refuses an interface name that exists in the container (code 4), touching nothing', async () => {
    const h = harness();
    await add(h, bridgeConfig({ ipMasq: true }));
    const before = { host: h.host.snapshot(), ipam: h.ipamFiles(), nft: h.nft.dump() };
    const again = await add(h, bridgeConfig({ ipMasq: true }), { CNI_CONTAINERID: 'c2' });
    expect(again.json).toEqual({ cniVersion: '1.0.0', code: 4, msg: `CNI_IFNAME eth0 already exists in CNI_NETNS ${POD_NETNS}` });
    expect({ host: h.host.snapshot(), ipam: h.ipamFiles(), nft: h.nft.dump() }).toEqual(before);
  });

  it('refuses a non-bridge link with the bridge name and rolls back the veth', async () => {
    const h = harness({ namespaces: [POD_NETNS, '/run/netns/other'] });
    await h.host.namespace().apply([{ op: 'create-veth', name: 'cni0', peerName: 'x', peerNetns: '/run/netns/other' }]);
    const before = h.host.snapshot();
    const result = await add(h, bridgeConfig());
    expect(result.json).toMatchObject({ code: 999, msg: '"cni0" already exists but is not a bridge' });
    expect(h.host.snapshot()).toEqual(before);
  });

  it('refuses a second ADD of the same attachment after its interface was renamed (duplicate allocation)', async () => {
    const h = harness({ namespaces: [POD_NETNS, '/run/netns/pod2'] });
    await add(h, bridgeConfig());
    const before = h.ipamFiles();
    const dup = await add(h, bridgeConfig(), { CNI_NETNS: '/run/netns/pod2' });
    expect(dup.json).toMatchObject({ code: 999, msg: expect.stringContaining('duplicate allocation is not allowed') });
    expect(h.ipamFiles()).toEqual(before);
    expect(h.host.snapshot()['/run/netns/pod2']!.links.map((l) => l.name)).toEqual(['lo']);
  });
});

describe('bridge DEL', () => {
  it('removes the veth pair, the reservation and the masquerade rules, and can run again', async () => {
    const h = harness();
    const before = h.host.snapshot();
    await add(h, bridgeConfig({ ipMasq: true }));
    const del = await h.run({ env: env('DEL'), config: bridgeConfig({ ipMasq: true }) });
    expect(del).toMatchObject({ code: 0, stdout: '' });
    const after = h.host.snapshot();
    expect(after[POD_NETNS]!.links.map((l) => l.name)).toEqual(['lo']);
    expect(after['host']!.links.map((l) => l.name)).toEqual(['cni0', 'lo']);
    expect(h.ipamFiles()).toEqual({ 'last_reserved_ip.0': '10.244.1.2' });
    expect(h.nft.ruleCount()).toBe(1); // only the postrouting jump
    expect((await h.run({ env: env('DEL'), config: bridgeConfig({ ipMasq: true }) })).code).toBe(0);
    expect(before[POD_NETNS]!.links.map((l) => l.name)).toEqual(['lo']);
  });

  it('DEL of a pod\'s second interface (net1) removes only net1\'s masquerade rule, never eth0\'s', async () => {
    const h = harness();
    const config = bridgeConfig({ ipMasq: true });
    const eth0Added = await add(h, config);
    expect(eth0Added.code).toBe(0);
    expect((await add(h, config, { CNI_IFNAME: 'net1' })).code).toBe(0);
    const rules = () => h.nft.listRules({ ...MASQ_TABLE, chain: MASQ_CHAIN }).then((list) => list.map((r) => r.comment ?? ''));
    expect((await rules()).map((c) => c.split(' if=')[1])).toEqual(['eth0', 'net1']);
    // The two attachments own different rules: the hash covers the interface name.
    const [eth0, net1] = (await rules()).map((c) => parseMasqComment(c)!.attachmentHash);
    expect(eth0).not.toBe(net1);

    expect((await h.run({ env: env('DEL', { CNI_IFNAME: 'net1' }), config })).code).toBe(0);
    expect((await rules()).map((c) => c.split(' if=')[1])).toEqual(['eth0']);
    // eth0 still checks out: CHECK finds its masquerade rule, addresses and routes.
    const check = await h.run({ env: env('CHECK'), config: withPrev(config, eth0Added.json) });
    expect(check).toMatchObject({ code: 0, stdout: '' });
  });

  it('succeeds when the netns is gone, or not given, and still releases IPAM and rules', async () => {
    for (const netns of ['gone', '']) {
      const h = harness();
      await add(h, bridgeConfig({ ipMasq: true }));
      if (netns === 'gone') h.host.removeNamespace(POD_NETNS);
      const del = await h.run({ env: env('DEL', { CNI_NETNS: netns === 'gone' ? POD_NETNS : '' }), config: bridgeConfig({ ipMasq: true }) });
      expect(del.code).toBe(0);
      expect(h.ipamFiles()).toEqual({ 'last_reserved_ip.0': '10.244.1.2' });
      expect(h.nft.ruleCount()).toBe(1);
    }
  });

  it("leaves another attachment's interface alone (DEL for an unknown container in an existing netns)", async () => {
    const h = harness();
    await add(h, bridgeConfig());
    const del = await h.run({ env: env('DEL', { CNI_CONTAINERID: 'stranger' }), config: bridgeConfig() });
    expect(del.code).toBe(0);
    expect(h.host.snapshot()[POD_NETNS]!.links.find((l) => l.name === 'eth0')).toMatchObject({ alias: 'portico-cni:c1' });
    expect(h.ipamFiles()).toEqual({ '10.244.1.2': 'c1\r\neth0', 'last_reserved_ip.0': '10.244.1.2' });
    expect(h.logs).toContain(`DEL: leaving eth0 in ${POD_NETNS} alone: it belongs to portico-cni:c1, not stranger`);
  });

  it('succeeds for a container it never saw, and refuses the plugin namespace', async () => {
    const h = harness();
    expect((await h.run({ env: env('DEL', { CNI_CONTAINERID: 'never' }), config: bridgeConfig() })).code).toBe(0);
    const own = await h.run({ env: env('DEL', { CNI_NETNS: FAKE_OWN_NETNS }), config: bridgeConfig() });
    expect(own.json.code).toBe(8);
  });
});

describe('bridge CHECK', () => {
  async function added(version = '1.0.0', extra: Record<string, unknown> = {}) {
    const h = harness();
    const config = bridgeConfig({ cniVersion: version, ipMasq: true, isDefaultGateway: true, ...extra }, { routes: [{ dst: '10.96.0.0/12' }] });
    const result = await add(h, config);
    expect(result.code).toBe(0);
    return { h, config: withPrev(config, result.json) };
  }

  it.each(['0.4.0', '1.0.0', '1.1.0'])('passes right after ADD (%s)', async (version) => {
    const { h, config } = await added(version);
    expect(await h.run({ env: env('CHECK'), config })).toMatchObject({ code: 0, stdout: '' });
  });

  it('fails after an address is removed', async () => {
    const { h, config } = await added();
    await h.host.namespace(POD_NETNS).apply([{ op: 'del-addr', dev: 'eth0', cidr: '10.244.1.2/24' }]);
    const check = await h.run({ env: env('CHECK'), config });
    expect(check.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'address 10.244.1.2/24 is missing on eth0' });
  });

  it('fails after a route is removed', async () => {
    const { h, config } = await added();
    const ns = h.host.ns(POD_NETNS);
    ns.routes = ns.routes.filter((r) => r.dst !== '10.96.0.0/12');
    const check = await h.run({ env: env('CHECK'), config });
    expect(check.json).toMatchObject({ code: 999, msg: `route 10.96.0.0/12 via 10.244.1.1 is missing in ${POD_NETNS}` });
  });

  it('fails when the masquerade rule or the veth is gone', async () => {
    const { h, config } = await added();
    const rules = await h.nft.listRules({ family: 'inet', name: 'portico-cni', chain: 'pod-masq' });
    const { Transaction } = await import('../../../src/nft/transaction.js');
    await h.nft.run(new Transaction({ family: 'inet', name: 'portico-cni' }).deleteRule({ chain: 'pod-masq', handle: rules[0]!.handle }));
    expect((await h.run({ env: env('CHECK'), config })).json.msg).toBe('the masquerade rule for 10.244.1.2 is missing');
    await h.host.namespace().deleteLink('veth00000001');
    expect((await h.run({ env: env('CHECK'), config })).json.msg).toBe(`interface eth0 was not found in ${POD_NETNS}`);
  });

  it('fails when the jump to the masquerade chain is gone, which GC restores', async () => {
    const { h, config } = await added('1.1.0');
    const { Transaction } = await import('../../../src/nft/transaction.js');
    await h.nft.run(new Transaction({ family: 'inet', name: 'portico-cni' }).flushChain('postrouting'));
    expect((await h.run({ env: env('CHECK'), config })).json.msg).toBe('the jump from postrouting to pod-masq in table inet portico-cni is missing');
    const gc = await h.run({ env: { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, config: { ...config, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
    expect(gc.code).toBe(0);
    expect((await h.run({ env: env('CHECK'), config })).code).toBe(0);
  });

  it('answers code 3 for an unknown container and 7 without prevResult', async () => {
    const { h, config } = await added();
    expect((await h.run({ env: env('CHECK', { CNI_CONTAINERID: 'other' }), config })).json).toMatchObject({ code: 3, msg: expect.stringContaining('unknown container other') });
    const { prevResult: _prev, ...withoutPrev } = config;
    expect((await h.run({ env: env('CHECK'), config: withoutPrev })).json).toMatchObject({ code: 7, msg: 'prevResult is required for CHECK (the result of ADD)' });
  });

  it('refuses CHECK on 0.3.1 configs with code 1', async () => {
    const { h, config } = await added('0.3.1');
    expect((await h.run({ env: env('CHECK'), config })).json).toMatchObject({ code: 1 });
  });
});

describe('bridge GC and STATUS', () => {
  it('GC releases reservations and rules of attachments not in cni.dev/valid-attachments', async () => {
    const pods = ['/run/netns/p1', '/run/netns/p2', '/run/netns/p3'];
    const h = harness({ namespaces: pods });
    const config = bridgeConfig({ cniVersion: '1.1.0', ipMasq: true });
    for (const [i, netns] of pods.entries()) expect((await add(h, config, { CNI_CONTAINERID: `c${i + 1}`, CNI_NETNS: netns })).code).toBe(0);
    const gc = await h.run({ env: { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, config: { ...config, 'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }] } });
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    expect(h.ipamFiles()).toEqual({ '10.244.1.3': 'c2\r\neth0', 'last_reserved_ip.0': '10.244.1.4' });
    const rules = await h.nft.listRules({ family: 'inet', name: 'portico-cni', chain: 'pod-masq' });
    expect(rules.map((r) => r.comment)).toEqual([expect.stringContaining('ip=10.244.1.3 net=podnet id=c2 if=eth0')]);
    expect(h.logs).toContain('gc: released 2 stale reservation(s) in network podnet');
  });

  it('GC needs the valid attachments list', async () => {
    const h = harness();
    const gc = await h.run({ env: { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, config: bridgeConfig({ cniVersion: '1.1.0' }) });
    expect(gc.json).toMatchObject({ code: 7, msg: 'cni.dev/valid-attachments is required for GC (the attachments to keep)' });
  });

  it('STATUS answers 50 when the range is full and 51 when the bridge name is taken', async () => {
    const h = harness({ namespaces: ['/run/netns/p1', '/run/netns/p2'] });
    const config = bridgeConfig({ cniVersion: '1.1.0' }, { ranges: [[{ subnet: '10.244.1.0/29', rangeStart: '10.244.1.2', rangeEnd: '10.244.1.3' }]] });
    const status = () => h.run({ env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, config });
    expect((await status()).code).toBe(0);
    await add(h, config, { CNI_CONTAINERID: 'a', CNI_NETNS: '/run/netns/p1' });
    expect((await status()).code).toBe(0);
    await add(h, config, { CNI_CONTAINERID: 'b', CNI_NETNS: '/run/netns/p2' });
    expect((await status()).json).toEqual({ cniVersion: '1.1.0', code: 50, msg: 'no IP addresses available: range set 0 (10.244.1.2-10.244.1.3) is full' });
    const other = harness({ namespaces: ['/run/netns/x'] });
    await other.host.namespace().apply([{ op: 'create-veth', name: 'cni0', peerName: 'e', peerNetns: '/run/netns/x' }]);
    expect((await other.run({ env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, config })).json.code).toBe(51);
  });
});
