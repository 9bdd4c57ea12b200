import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { chainsOf, elementsOf, NODE, on, setup, slice, svc } from './fixture.js';

// Golden rulesets: each Service shape fully synced into FakeNft, dumped, compared with a reviewed
// file under golden/. The explicit expectations beside each one pin the behaviour that matters, so a
// regenerated golden file cannot quietly accept a wrong rule.

const web = (spec: Parameters<typeof svc>[1], options?: Parameters<typeof svc>[2]) =>
  svc('default/web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }], ...spec }, options);
const webSlice = (...endpoints: Parameters<typeof slice>[3]) => slice('default/web-1', 'web', [{ name: 'http', port: 8080 }], endpoints);

/** Every DNAT target in a dump (`dnat to` rules and endpoint map values), sorted, deduplicated. */
function dnatTargets(dump: string): string[] {
  const targets = [...dump.matchAll(/dnat to (\S+)/g)].map((m) => m[1]!);
  for (const block of dump.matchAll(/\tmap (?:service|nodeport)-endpoints-\w+ \{\n([\s\S]*?)\n\t\}/g)) {
    for (const m of block[1]!.matchAll(/element .* : (\S+) \. (\d+)$/gm)) targets.push(m[1]!.includes(':') ? `[${m[1]}]:${m[2]}` : `${m[1]}:${m[2]}`);
  }
  return [...new Set(targets)].sort();
}

async function synced(...objects: KubeObject[]): Promise<string> {
  const h = setup();
  h.apply(...objects);
  h.proxier.markSynced();
  await h.proxier.syncNow();
  return h.nft.dump();
}

describe('golden rulesets (FakeNft dump after a full sync)', () => {
  it('ClusterIP: the VIP goes to the service chain, off-cluster sources are marked, N endpoints by numgen', async () => {
    const dump = await synced(web({}), webSlice(on('10.244.1.5', NODE), on('10.244.2.5', 'node-b')));
    await expect(dump).toMatchFileSnapshot('golden/clusterip.nft');
    expect(elementsOf(dump, 'service-ips')).toEqual([expect.stringMatching(/^10\.96\.0\.10 \. tcp \. 80 : goto service-\w{8}-default\/web\/tcp\/http$/)]);
    expect(elementsOf(dump, 'cluster-ips')).toEqual(['10.96.0.10']);
    const [rules] = [...chainsOf(dump, 'service-', 'default/web/tcp/http').values()];
    expect(rules![0]).toBe('ip daddr 10.96.0.10 meta l4proto tcp th dport 80 ip saddr != @cluster-cidrs jump mark-for-masquerade');
    // A uniform slot of n, looked up with the address the packet came to: the endpoints are map elements.
    expect(rules!.slice(1)).toEqual(['goto endpoints-tcp-2']);
    expect([...chainsOf(dump, 'endpoints-tcp-2', '').values()][0]).toEqual([
      'dnat ip addr . port to ip daddr . meta l4proto . tcp dport . numgen random mod 2 map @service-endpoints-tcp',
      'dnat ip addr . port to meta l4proto . tcp dport . numgen random mod 2 map @nodeport-endpoints-tcp',
    ]);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toEqual(['10.96.0.10 . tcp . 80 . 0 : 10.244.1.5 . 8080', '10.96.0.10 . tcp . 80 . 1 : 10.244.2.5 . 8080']);
    expect(elementsOf(dump, 'nodeport-endpoints-tcp')).toEqual([]);
    expect(elementsOf(dump, 'cluster-cidrs')).toEqual(['10.244.0.0/16']);
    // Hairpin: a pod reaching itself through the Service is masqueraded (one element per endpoint IP).
    expect(elementsOf(dump, 'hairpin-endpoints')).toEqual(['10.244.1.5 . 10.244.1.5', '10.244.2.5 . 10.244.2.5']);
    expect(dump).toContain('ct status dnat ip saddr . ip daddr @hairpin-endpoints masquerade fully-random');
  });

  it('NodePort: the node port goes to the external chain, which masquerades and goes cluster-wide', async () => {
    const dump = await synced(web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }] }), webSlice(on('10.244.1.5', NODE)));
    await expect(dump).toMatchFileSnapshot('golden/nodeport.nft');
    expect(elementsOf(dump, 'service-nodeports')).toEqual([expect.stringMatching(/^tcp \. 30080 : goto external-\w+-default\/web\/tcp\/http$/)]);
    expect([...chainsOf(dump, 'external-', 'default/web/tcp/http').values()][0]).toEqual(['jump mark-for-masquerade', expect.stringMatching(/^goto service-/)]);
    expect(dump).toContain('fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports');
    // NodePort traffic comes to a node address: its slot is looked up by protocol and node port.
    expect([...chainsOf(dump, 'service-', 'default/web/tcp/http').values()][0]!.at(-1)).toBe('goto endpoints-tcp-1');
    expect([...chainsOf(dump, 'endpoints-tcp-1', '').values()][0]!.at(-1)).toBe('dnat ip addr . port to meta l4proto . tcp dport . numgen random mod 1 map @nodeport-endpoints-tcp');
    expect(elementsOf(dump, 'nodeport-endpoints-tcp')).toEqual(['tcp . 30080 . 0 : 10.244.1.5 . 8080']);
  });

  it('--nodeport-addresses limits NodePorts to local addresses inside the CIDRs', async () => {
    const h = setup({ nodePortCIDRs: ['192.168.0.0/16', '10.0.0.0/8'] });
    h.apply(web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), webSlice(on('10.244.1.5', NODE)));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    expect(h.nft.dump()).toContain('fib daddr type local ip daddr @nodeport-cidrs meta l4proto . th dport vmap @service-nodeports');
    expect(elementsOf(h.nft.dump(), 'nodeport-cidrs')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
  });

  it('LoadBalancer and externalIPs: each address goes to the external chain; the NodePort too', async () => {
    const dump = await synced(
      web({ type: 'LoadBalancer', externalIPs: ['192.0.2.10'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, { lbIPs: ['192.0.2.200'] }),
      webSlice(on('10.244.1.5', NODE)),
    );
    await expect(dump).toMatchFileSnapshot('golden/loadbalancer.nft');
    const keys = elementsOf(dump, 'service-ips').map((e) => e.replace(/ : .*/, ''));
    expect(keys).toEqual(['10.96.0.10 . tcp . 80', '192.0.2.10 . tcp . 80', '192.0.2.200 . tcp . 80']);
    expect(elementsOf(dump, 'service-ips').filter((e) => e.includes('goto external-'))).toHaveLength(2);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toEqual(['10.96.0.10 . tcp . 80 . 0 : 10.244.1.5 . 8080', '192.0.2.10 . tcp . 80 . 0 : 10.244.1.5 . 8080', '192.0.2.200 . tcp . 80 . 0 : 10.244.1.5 . 8080']);
  });

  it('externalIPs on a ClusterIP Service', async () => {
    const dump = await synced(web({ externalIPs: ['192.0.2.10', 'not-an-ip'] }), webSlice(on('10.244.1.5', NODE)));
    await expect(dump).toMatchFileSnapshot('golden/externalips.nft');
    expect(elementsOf(dump, 'service-ips').map((e) => e.replace(/ : .*/, ''))).toEqual(['10.96.0.10 . tcp . 80', '192.0.2.10 . tcp . 80']);
  });

  it('no endpoints: every entry point is rejected in the filter chains, no service chain exists', async () => {
    const dump = await synced(web({ type: 'NodePort', externalIPs: ['192.0.2.10'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] }));
    await expect(dump).toMatchFileSnapshot('golden/no-endpoints.nft');
    expect(elementsOf(dump, 'no-endpoint-services')).toEqual(['10.96.0.10 . tcp . 80 : goto reject-chain', '192.0.2.10 . tcp . 80 : goto reject-chain']);
    expect(elementsOf(dump, 'no-endpoint-nodeports')).toEqual(['tcp . 30080 : goto reject-chain']);
    expect(elementsOf(dump, 'service-ips')).toEqual([]);
    expect(chainsOf(dump, 'service-', 'default/web').size).toBe(0);
    expect(dump).toMatch(/chain filter-input \{\n.*\n\t\tct state new jump nodeport-endpoints-check\n\t\tct state new jump service-endpoints-check/);
    expect(dump).toContain('chain reject-chain {\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject\n\t}');
  });

  it('sessionAffinity ClientIP: a dynamic set per endpoint with the timeout, checked first, updated on DNAT', async () => {
    const dump = await synced(
      web({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }),
      webSlice(on('10.244.1.5', NODE), on('10.244.2.5', 'node-b')),
    );
    await expect(dump).toMatchFileSnapshot('golden/affinity.nft');
    expect(dump).toMatch(/set affinity-\w+-default\/web\/tcp\/http__10\.244\.1\.5\/8080 \{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 60s/);
    const rules = [...chainsOf(dump, 'service-', 'default/web/tcp/http').values()][0]!;
    // A known client goes back to its endpoint (refreshing its entry); a new one is placed and remembered.
    expect(rules[1]).toMatch(/^ip saddr @(affinity-\w+-default\/web\/tcp\/http__10\.244\.1\.5\/8080) meta l4proto tcp update @\1 \{ ip saddr \} dnat to 10\.244\.1\.5:8080$/);
    expect(rules[3]).toMatch(/^numgen random mod 2 0 meta l4proto tcp update @affinity-\w+-default\/web\/tcp\/http__10\.244\.1\.5\/8080 \{ ip saddr \} dnat to 10\.244\.1\.5:8080$/);
    expect(rules[4]).toMatch(/^meta l4proto tcp update @affinity-\w+-default\/web\/tcp\/http__10\.244\.2\.5\/8080 \{ ip saddr \} dnat to 10\.244\.2\.5:8080$/);
  });

  it('internalTrafficPolicy Local: the ClusterIP goes to the local chain with only this node\'s endpoints', async () => {
    const dump = await synced(web({ internalTrafficPolicy: 'Local' }), webSlice(on('10.244.1.5', NODE), on('10.244.2.5', 'node-b')));
    await expect(dump).toMatchFileSnapshot('golden/itp-local.nft');
    expect(elementsOf(dump, 'service-ips')).toEqual([expect.stringMatching(/: goto local-\w+-default\/web\/tcp\/http$/)]);
    const local = [...chainsOf(dump, 'local-', 'default/web/tcp/http').values()][0]!;
    expect(local.at(-1)).toBe('goto local-endpoints-tcp-1');
    expect([...chainsOf(dump, 'local-endpoints-tcp-1', '').values()][0]![0]).toBe('dnat ip addr . port to ip daddr . meta l4proto . tcp dport . numgen random mod 1 offset 1048576 map @service-endpoints-tcp');
    expect(elementsOf(dump, 'service-endpoints-tcp')).toEqual(['10.96.0.10 . tcp . 80 . 1048576 : 10.244.1.5 . 8080']);
    expect(dump).not.toContain('10.244.2.5');
  });

  it('internalTrafficPolicy Local without a local endpoint: the ClusterIP is dropped, not rejected', async () => {
    const dump = await synced(web({ internalTrafficPolicy: 'Local' }), webSlice(on('10.244.2.5', 'node-b')));
    expect(elementsOf(dump, 'no-endpoint-services')).toEqual(['10.96.0.10 . tcp . 80 : drop']);
  });

  it('externalTrafficPolicy Local: pods short-circuit cluster-wide, the node is masqueraded, others keep their source', async () => {
    const dump = await synced(
      web({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, { lbIPs: ['192.0.2.200'] }),
      webSlice(on('10.244.1.5', NODE), on('10.244.2.5', 'node-b')),
    );
    await expect(dump).toMatchFileSnapshot('golden/etp-local.nft');
    const external = [...chainsOf(dump, 'external-', 'default/web/tcp/http').values()][0]!;
    expect(external).toEqual([
      expect.stringMatching(/^ip saddr @cluster-cidrs goto service-/),
      'fib saddr type local jump mark-for-masquerade',
      expect.stringMatching(/^fib saddr type local goto service-/),
      expect.stringMatching(/^goto local-/),
    ]);
    const local = [...chainsOf(dump, 'local-', 'default/web/tcp/http').values()][0]!;
    expect(local).toEqual(['goto local-endpoints-tcp-1']);
    expect([...chainsOf(dump, 'service-', 'default/web/tcp/http').values()][0]!.at(-1)).toBe('goto endpoints-tcp-2');
    // Cluster-wide slots 0..1, local slots from the offset: only this node's endpoint.
    expect(elementsOf(dump, 'nodeport-endpoints-tcp')).toEqual(['tcp . 30080 . 0 : 10.244.1.5 . 8080', 'tcp . 30080 . 1 : 10.244.2.5 . 8080', 'tcp . 30080 . 1048576 : 10.244.1.5 . 8080']);
  });

  it('externalTrafficPolicy Local without a local endpoint: external traffic is dropped, pods still go cluster-wide', async () => {
    const dump = await synced(web({ type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), webSlice(on('10.244.2.5', 'node-b')));
    expect([...chainsOf(dump, 'local-', 'default/web/tcp/http').values()][0]).toEqual(['drop']);
    expect(elementsOf(dump, 'service-nodeports')).toEqual([expect.stringMatching(/goto external-/)]);
  });

  it('terminating fallback: serving+terminating endpoints only when none is ready; not-serving never', async () => {
    const draining = await synced(
      web({}),
      webSlice(on('10.244.1.5', NODE, { ready: false, serving: true, terminating: true }), on('10.244.1.6', NODE, { ready: false, serving: false, terminating: true })),
    );
    await expect(draining).toMatchFileSnapshot('golden/terminating-fallback.nft');
    expect(dnatTargets(draining)).toEqual(['10.244.1.5:8080']);
    const mixed = await synced(web({}), webSlice(on('10.244.1.5', NODE, { ready: false, serving: true, terminating: true }), on('10.244.1.7', NODE)));
    expect(dnatTargets(mixed)).toEqual(['10.244.1.7:8080']);
  });

  it('more endpoints than the shared dispatch chains cover: the lookups sit in the service chain', async () => {
    const ips = Array.from({ length: 17 }, (_, i) => `10.244.3.${i + 1}`);
    const dump = await synced(web({}), webSlice(...ips.map((ip) => on(ip, 'node-b'))));
    expect([...chainsOf(dump, 'service-', 'default/web/tcp/http').values()][0]!.slice(1)).toEqual([
      'dnat ip addr . port to ip daddr . meta l4proto . tcp dport . numgen random mod 17 map @service-endpoints-tcp',
      'dnat ip addr . port to meta l4proto . tcp dport . numgen random mod 17 map @nodeport-endpoints-tcp',
    ]);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toHaveLength(17);
    expect(dnatTargets(dump)).toEqual(ips.map((ip) => `${ip}:8080`).sort());
  });

  it('multi-port: a chain per port, slice ports matched by name', async () => {
    const dump = await synced(
      svc('default/multi', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9100 }] }),
      slice('default/multi-1', 'multi', [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9102 }], ['10.244.1.5']),
    );
    await expect(dump).toMatchFileSnapshot('golden/multi-port.nft');
    expect(dnatTargets(dump)).toEqual(['10.244.1.5:8080', '10.244.1.5:9102']);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toEqual(['10.96.0.20 . tcp . 80 . 0 : 10.244.1.5 . 8080', '10.96.0.20 . tcp . 9100 . 0 : 10.244.1.5 . 9102']);
    expect(elementsOf(dump, 'service-ips').map((e) => e.replace(/ : .*/, ''))).toEqual(['10.96.0.20 . tcp . 80', '10.96.0.20 . tcp . 9100']);
  });

  it('the same port on TCP and UDP: separate entries keyed by protocol', async () => {
    const dump = await synced(
      svc('kube-system/dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }),
      slice('kube-system/dns-1', 'dns', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }], ['10.244.1.9']),
    );
    await expect(dump).toMatchFileSnapshot('golden/tcp-udp.nft');
    expect(elementsOf(dump, 'service-ips').map((e) => e.replace(/ : .*/, ''))).toEqual(['10.96.0.53 . tcp . 53', '10.96.0.53 . udp . 53']);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toEqual(['10.96.0.53 . tcp . 53 . 0 : 10.244.1.9 . 53']);
    expect(elementsOf(dump, 'service-endpoints-udp')).toEqual(['10.96.0.53 . udp . 53 . 0 : 10.244.1.9 . 53']);
    expect(dump).toContain('goto endpoints-udp-1');
    expect(dump).toContain('dnat ip addr . port to ip daddr . meta l4proto . udp dport . numgen random mod 1 map @service-endpoints-udp');
  });

  it('SCTP ports are programmed like TCP and UDP', async () => {
    const dump = await synced(
      svc('default/sig', { clusterIP: '10.96.0.60', ports: [{ name: 'sctp', port: 9000, protocol: 'SCTP' }] }),
      slice('default/sig-1', 'sig', [{ name: 'sctp', port: 9001, protocol: 'SCTP' }], ['10.244.1.9']),
    );
    expect(elementsOf(dump, 'service-ips')).toEqual([expect.stringMatching(/^10\.96\.0\.60 \. sctp \. 9000 : goto service-\w+-default\/sig\/sctp\/sctp$/)]);
    expect(elementsOf(dump, 'service-endpoints-sctp')).toEqual(['10.96.0.60 . sctp . 9000 . 0 : 10.244.1.9 . 9001']);
  });

  it('dual-stack: each family table gets its own ClusterIP and endpoints', async () => {
    const h = setup({ families: [4, 6], clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'] });
    h.apply(
      web({ clusterIPs: ['10.96.0.10', 'fd00:10:96::a'], ipFamilies: ['IPv4', 'IPv6'] }),
      webSlice(on('10.244.1.5', NODE)),
      slice('default/web-v6', 'web', [{ name: 'http', port: 8080 }], [on('fd00:10:244:1::5', NODE)], 'IPv6'),
    );
    h.proxier.markSynced();
    await h.proxier.syncNow();
    const dump = h.nft.dump();
    await expect(dump).toMatchFileSnapshot('golden/dual-stack.nft');
    expect(elementsOf(h.nft.dump({ family: 'ip6', name: 'portico-proxy' }), 'service-ips')).toEqual([expect.stringMatching(/^fd00:10:96::a \. tcp \. 80 : goto service-/)]);
    expect(elementsOf(h.nft.dump({ family: 'ip6', name: 'portico-proxy' }), 'service-endpoints-tcp')).toEqual(['fd00:10:96::a . tcp . 80 . 0 : fd00:10:244:1::5 . 8080']);
    expect(dump).toContain('dnat ip6 addr . port to ip6 daddr . meta l4proto . tcp dport . numgen random mod 1 map @service-endpoints-tcp');
    expect(dump).toContain('ip6 daddr fd00:10:96::a meta l4proto tcp th dport 80 ip6 saddr != @cluster-cidrs jump mark-for-masquerade');
    expect(elementsOf(h.nft.dump({ family: 'ip6', name: 'portico-proxy' }), 'cluster-cidrs')).toEqual(['fd00:10:244::/56']);
    expect(dump).not.toMatch(/table ip portico-proxy[\s\S]*fd00:10:244:1::5[\s\S]*table ip6/);
  });

  it('skips headless, ExternalName and other proxies\' Services, and headless-labelled slices', async () => {
    const dump = await synced(
      svc('default/headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
      svc('default/ext', { type: 'ExternalName', externalName: 'example.com', ports: [{ port: 80 }] }),
      svc('default/other', { clusterIP: '10.96.0.30', ports: [{ port: 80 }] }, { labels: { 'service.kubernetes.io/service-proxy-name': 'someone-else' } }),
      svc('default/web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }),
      { ...slice('default/web-h', 'web', [{ port: 80 }], ['10.244.1.5']), metadata: { name: 'web-h', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web', 'service.kubernetes.io/headless': '' } } },
    );
    expect(elementsOf(dump, 'cluster-ips')).toEqual(['10.96.0.10']);
    expect(elementsOf(dump, 'no-endpoint-services')).toEqual(['10.96.0.10 . tcp . 80 : goto reject-chain']);
  });
});
