import { describe, expect, it } from 'vitest';
import { FakeNetHost } from '../../src/host/fake-net-host.js';
import { HostError } from '../../src/host/net-host.js';
import { FaultPlan } from '../../src/lib/fault-plan.js';

describe('FakeNetHost', () => {
  it('models veth pairs across namespaces, bridges and routes', async () => {
    const host = new FakeNetHost();
    host.addNamespace('/run/netns/pod');
    const node = host.namespace();
    const pod = host.namespace('/run/netns/pod');
    await node.apply([
      { op: 'create-bridge', name: 'cni0' },
      { op: 'create-veth', name: 'veth1', peerName: 'eth0', peerNetns: '/run/netns/pod' },
      { op: 'set-master', name: 'veth1', master: 'cni0' },
      { op: 'set-up', name: 'veth1' },
    ]);
    expect((await node.lookupLink('veth1'))!.operState).toBe('LOWERLAYERDOWN');
    await pod.apply([
      { op: 'add-addr', dev: 'eth0', cidr: '10.1.0.2/24' },
      { op: 'set-up', name: 'eth0' },
      { op: 'add-route', route: { dst: '0.0.0.0/0', gateway: '10.1.0.1', dev: 'eth0' } },
    ]);
    const veth = (await node.lookupLink('veth1'))!;
    const eth0 = (await pod.lookupLink('eth0'))!;
    expect(veth.operState).toBe('UP');
    expect(veth.peerIndex).toBe(eth0.index);
    expect(eth0.peerIndex).toBe(veth.index);
    expect((await pod.listRoutes()).map((r) => r.dst)).toEqual(['0.0.0.0/0']);

    await expect(pod.apply([{ op: 'add-route', route: { dst: '10.9.0.0/16', gateway: '192.168.0.1', dev: 'eth0' } }])).rejects.toThrow(/invalid gateway/);
    await expect(node.apply([{ op: 'create-veth', name: 'veth2', peerName: 'eth0', peerNetns: '/run/netns/pod' }])).rejects.toMatchObject({ kind: 'exists' });

    expect(await node.deleteLink('veth1')).toBe(true);
    expect(await pod.lookupLink('eth0')).toBeUndefined();
    expect(await pod.listRoutes()).toEqual([]);
    expect(await node.deleteLink('veth1')).toBe(false);
  });

  it('destroys veth peers with their namespace', async () => {
    const host = new FakeNetHost();
    host.addNamespace('/run/netns/pod');
    await host.namespace().apply([{ op: 'create-veth', name: 'veth1', peerName: 'eth0', peerNetns: '/run/netns/pod' }]);
    host.removeNamespace('/run/netns/pod');
    expect(await host.namespace().lookupLink('veth1')).toBeUndefined();
    expect(await host.probeNetns('/run/netns/pod')).toBe('missing');
  });

  it('stops at the failing change and reports its index', async () => {
    const host = new FakeNetHost({ faults: new FaultPlan({ failAt: 1 }) });
    const error = await host
      .namespace()
      .apply([
        { op: 'create-bridge', name: 'br0' },
        { op: 'set-up', name: 'br0' },
      ])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ message: expect.stringMatching(/injected fault/) });
    expect((await host.namespace().lookupLink('br0'))!.up).toBe(false);
    const missing = await host.namespace().apply([{ op: 'set-up', name: 'nope' }]).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HostError);
    expect((missing as HostError).changeIndex).toBe(0);
  });
});
