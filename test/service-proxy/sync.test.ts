import { afterEach, describe, expect, it, vi } from 'vitest';
import { FaultPlan } from '../../src/lib/fault-plan.js';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { node } from '../helpers/objects.js';
import { chainsOf, elementsOf, NODE, on, setup, slice, svc } from './fixture.js';

const service = (name: string, ip: string, extra: Parameters<typeof svc>[1] = {}) =>
  svc(`default/${name}`, { clusterIP: ip, ports: [{ name: 'http', port: 80 }], ...extra });
const endpoints = (name: string, ...eps: Parameters<typeof slice>[3]) => slice(`default/${name}-1`, name, [{ name: 'http', port: 8080 }], eps);

/** The dump a brand-new proxy produces from the same objects: what any sequence of syncs must equal. */
async function fromScratch(objects: Iterable<KubeObject>): Promise<string> {
  const h = setup();
  h.apply(...objects);
  h.proxier.markSynced();
  await h.proxier.syncNow();
  return h.nft.dump();
}

function allObjects(h: ReturnType<typeof setup>): KubeObject[] {
  const snap = h.store.snapshot();
  return [...snap.services.values(), ...snap.endpointSlices.values()];
}

afterEach(() => {
  vi.useRealTimers();
});

describe('partial syncs', () => {
  it('an endpoint change rewrites only that Service\'s chains and elements', async () => {
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'), service('b', '10.96.0.2'), endpoints('b', '10.244.1.2'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    h.apply(endpoints('a', '10.244.1.1', '10.244.1.3'));
    await h.proxier.syncNow();
    const tx = h.nft.history.at(-1)!;
    expect(tx).toContain('default/a/tcp/http');
    expect(tx).not.toContain('default/b/');
    expect(tx).not.toMatch(/flush (chain|map|set) ip portico-proxy (services|service-ips|filter-|nat-)/);
    expect(tx).not.toContain('add table');
    // The service chain refilled, the new endpoint's hairpin element added, nothing else.
    expect(tx).toMatch(/flush chain ip portico-proxy service-\w+-default\/a\/tcp\/http/);
    expect(tx).toContain('add element ip portico-proxy hairpin-endpoints { 10.244.1.3 . 10.244.1.3 }');
    expect(tx).not.toContain('hairpin-endpoints { 10.244.1.1 ');
    expect(h.nft.dump()).toBe(await fromScratch(allObjects(h)));
  });

  it('an unchanged resync of a Service writes nothing', async () => {
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    const before = h.nft.history.length;
    h.apply({ ...service('a', '10.96.0.1'), metadata: { name: 'a', namespace: 'default', labels: { touched: 'yes' } } });
    await h.proxier.syncNow();
    expect(h.nft.history.length).toBe(before); // empty transaction: not run
  });

  it('deleting a Service removes its chains, affinity sets and elements; others stay', async () => {
    const h = setup();
    const a = service('a', '10.96.0.1', { sessionAffinity: 'ClientIP', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30001 }] });
    h.apply(a, endpoints('a', '10.244.1.1'), service('b', '10.96.0.2'), endpoints('b', '10.244.1.2'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    h.remove(a);
    await h.proxier.syncNow();
    const dump = h.nft.dump();
    expect(dump).not.toContain('default/a/');
    expect(elementsOf(dump, 'service-nodeports')).toEqual([]);
    expect(elementsOf(dump, 'cluster-ips')).toEqual(['10.96.0.2']);
    expect(dump).toBe(await fromScratch(allObjects(h)));
  });

  it('any sequence of changes ends in the ruleset a fresh full sync would write', async () => {
    const h = setup();
    h.proxier.markSynced();
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const shapes: Array<(name: string, ip: string) => Parameters<typeof svc>[1]> = [
      () => ({}),
      () => ({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30000 + random(500) }] }),
      () => ({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 + random(3) } } }),
      () => ({ internalTrafficPolicy: 'Local' }),
      () => ({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 31000 + random(500) }] }),
      () => ({ externalIPs: [`192.0.2.${random(4)}`] }),
    ];
    for (let step = 0; step < 60; step++) {
      const name = `s${random(6)}`;
      const ip = `10.96.0.${Number(name.slice(1)) + 1}`;
      const what = random(4);
      if (what === 0) h.apply(service(name, ip, shapes[random(shapes.length)]!(name, ip)));
      else if (what === 1) {
        const eps = Array.from({ length: random(4) }, (_, i) => on(`10.244.${random(2)}.${i + 1}`, random(2) === 0 ? NODE : 'node-b', random(3) === 0 ? { ready: false, serving: true, terminating: true } : {}));
        h.apply(endpoints(name, ...eps));
      } else if (what === 2) h.store.remove('Service', `default/${name}`);
      else h.store.remove('EndpointSlice', `default/${name}-1`);
      if (random(3) === 0) await h.proxier.syncNow();
    }
    await h.proxier.syncNow();
    expect(h.nft.dump()).toBe(await fromScratch(allObjects(h)));
    expect(h.nft.history.length).toBeGreaterThan(5);
  });

  it('an endpoint IP shared by two Services keeps its hairpin element until neither uses it', async () => {
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'), service('b', '10.96.0.2'), endpoints('b', '10.244.1.1'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'hairpin-endpoints')).toEqual(['10.244.1.1 . 10.244.1.1']);
    h.store.remove('EndpointSlice', 'default/a-1');
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'hairpin-endpoints')).toEqual(['10.244.1.1 . 10.244.1.1']);
    h.store.remove('EndpointSlice', 'default/b-1');
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'hairpin-endpoints')).toEqual([]);
    expect(h.nft.dump()).toBe(await fromScratch(allObjects(h)));
  });

  it('two Services claiming one externalIP:port: the first keeps it, the other is reported, and gets it when freed', async () => {
    const h = setup();
    const a = service('a', '10.96.0.1', { externalIPs: ['192.0.2.7'] });
    h.apply(a, endpoints('a', '10.244.1.1'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    h.apply(service('b', '10.96.0.2', { externalIPs: ['192.0.2.7'] }), endpoints('b', '10.244.1.2'));
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'service-ips').filter((e) => e.startsWith('192.0.2.7'))).toEqual([expect.stringMatching(/default\/a\//)]);
    expect(h.log.lines.some((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_OBJECT' && String(l['msg']).includes('already used by Service default/a'))).toBe(true);
    h.remove(a);
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'service-ips').filter((e) => e.startsWith('192.0.2.7'))).toEqual([expect.stringMatching(/default\/b\//)]);
  });
});

describe('full syncs and failures', () => {
  it('writes nothing before Services and EndpointSlices have listed once', async () => {
    vi.useFakeTimers();
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.nft.history).toEqual([]);
    expect(h.proxier.healthy).toBe(false);
    h.proxier.markSynced();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.nft.history).toHaveLength(1);
    expect(h.nft.history[0]).toMatch(/^add table ip portico-proxy/);
    expect(h.proxier.healthy).toBe(true);
    await h.proxier.stop();
  });

  it('runs at most one sync per min-sync-period, however many changes arrive', async () => {
    vi.useFakeTimers();
    const h = setup({ extra: { minSyncPeriodMs: 1000, syncPeriodMs: 30_000 } });
    h.proxier.markSynced();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.nft.history).toHaveLength(1);
    for (let i = 1; i <= 20; i++) {
      h.apply(service(`s${i}`, `10.96.0.${i}`));
      await vi.advanceTimersByTimeAsync(40);
    }
    // 800 ms of changes: one more sync at the 1 s mark, with all of them.
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.nft.history).toHaveLength(2);
    expect(elementsOf(h.nft.dump(), 'cluster-ips')).toHaveLength(20);
    await h.proxier.stop();
  });

  it('a full resync every sync-period restores rules changed by hand', async () => {
    vi.useFakeTimers();
    const h = setup({ extra: { minSyncPeriodMs: 1000, syncPeriodMs: 30_000 } });
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'));
    h.proxier.markSynced();
    await vi.advanceTimersByTimeAsync(0);
    const good = h.nft.dump();
    const { Transaction } = await import('../../src/nft/transaction.js');
    await h.nft.run(new Transaction({ family: 'ip', name: 'portico-proxy' }).flushChain('services').addChain({ name: 'stray' }));
    expect(h.nft.dump()).not.toBe(good);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.nft.dump()).toBe(good);
    await h.proxier.stop();
  });

  it('a periodic full sync rewrites the base chains and maps but not unchanged Service chains, unless one went missing', async () => {
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'), service('b', '10.96.0.2'), endpoints('b', '10.244.1.2'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    const good = h.nft.dump();
    await h.proxier.syncNow({ full: true });
    const resync = h.nft.history.at(-1)!;
    expect(resync).toContain('flush chain ip portico-proxy services');
    expect(resync).toContain('add element ip portico-proxy service-ips { 10.96.0.1 . tcp . 80 : goto service-');
    expect(resync).not.toMatch(/add rule ip portico-proxy service-\w{8}-/);
    expect(h.nft.dump()).toBe(good);
    // A Service chain deleted behind our back: the next full sync rewrites everything.
    const { Transaction } = await import('../../src/nft/transaction.js');
    const serviceChain = [...chainsOf(good, 'service-', 'default/b/').keys()][0]!;
    await h.nft.run(new Transaction({ family: 'ip', name: 'portico-proxy' }).flushSet('service-ips', { map: true }).flushChain(serviceChain).deleteChain(serviceChain));
    await h.proxier.syncNow({ full: true });
    expect(h.nft.history.at(-1)).toMatch(/add rule ip portico-proxy service-\w+-default\/a\//);
    expect(h.nft.dump()).toBe(good);
  });

  it('a failed nft run keeps the previous ruleset, is logged and counted, and is retried as a full sync after sync-period', async () => {
    vi.useFakeTimers();
    const faults = new FaultPlan();
    const failures: boolean[] = [];
    const h = setup({ faults, extra: { minSyncPeriodMs: 1000, syncPeriodMs: 30_000, observer: { synced: () => undefined, syncFailed: (_e, full) => failures.push(full) } } });
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1'));
    h.proxier.markSynced();
    await vi.advanceTimersByTimeAsync(0);
    const before = h.nft.dump();
    faults.arm(0);
    h.apply(endpoints('a', '10.244.1.9'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(failures).toEqual([false]);
    expect(h.nft.dump()).toBe(before);
    expect(h.log.lines.some((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_SYNC')).toBe(true);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(h.nft.dump()).toBe(before); // not retried before the period
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.nft.history.at(-1)).toMatch(/^add table ip portico-proxy/); // retried as a full sync
    expect(elementsOf(h.nft.dump(), 'service-endpoints-tcp')).toContainEqual(expect.stringMatching(/ : 10\.244\.1\.9 \. 8080$/));
    await h.proxier.stop();
  });
});

describe('bad input', () => {
  it('an invalid clusterIP or port skips that Service with a log naming object and field; the others are programmed', async () => {
    const h = setup();
    h.apply(
      service('bad-ip', '10.96.0.300'),
      svc('default/bad-port', { clusterIP: '10.96.0.5', ports: [{ port: 70000 }] }),
      svc('default/bad-proto', { clusterIP: '10.96.0.6', ports: [{ port: 80, protocol: 'ICMP' }] }),
      service('good', '10.96.0.7'),
      endpoints('good', '10.244.1.1'),
    );
    h.proxier.markSynced();
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'cluster-ips')).toEqual(['10.96.0.7']);
    const errors = h.log.lines.filter((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_OBJECT').map((l) => l['msg']);
    expect(errors).toEqual(
      expect.arrayContaining([
        'Service default/bad-ip spec.clusterIP: "10.96.0.300" is not an IP address',
        'Service default/bad-port spec.ports[0].port: 70000 is not a port 1-65535',
        'Service default/bad-proto spec.ports[0].protocol: must be TCP, UDP or SCTP, got "ICMP"',
      ]),
    );
    // Fixed: programmed, and said so.
    h.apply(service('bad-ip', '10.96.0.3'));
    await h.proxier.syncNow();
    expect(elementsOf(h.nft.dump(), 'cluster-ips')).toEqual(['10.96.0.3', '10.96.0.7']);
    expect(h.log.lines.some((l) => l['msg'] === 'Service default/bad-ip is valid again')).toBe(true);
  });

  it('an EndpointSlice for an unknown Service and a Node without addresses are reported once', async () => {
    const h = setup();
    h.apply(endpoints('ghost', '10.244.1.1'), node('node-x'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    await h.proxier.syncNow({ full: true });
    const said = h.log.lines.filter((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_OBJECT' || l['code'] === 'PORTICO_ERR_SERVICE_PROXY_NODE').map((l) => l['msg']);
    expect(said).toEqual([
      'Node node-x status.addresses: the Node has no addresses; ignored',
      'EndpointSlice default/ghost-1 metadata.labels["kubernetes.io/service-name"]: names Service default/ghost, which does not exist; ignored',
    ]);
  });
});

describe('after a sync', () => {
  it('clears UDP conntrack entries to removed endpoints, and to a Service that just got endpoints; never for TCP', async () => {
    const h = setup();
    const dns = svc('default/dns', { type: 'NodePort', clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 'tcp', port: 53, protocol: 'TCP' }] });
    const dnsSlice = (...ips: string[]) => slice('default/dns-1', 'dns', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'tcp', port: 53, protocol: 'TCP' }], ips);
    h.apply(dns);
    h.proxier.markSynced();
    await h.proxier.syncNow();
    h.apply(dnsSlice('10.244.1.1', '10.244.1.2'));
    await h.proxier.syncNow();
    expect(h.conntrack.calls).toEqual([
      { op: 'service', args: { serviceIP: '10.96.0.53', protocol: 'udp' } },
      { op: 'nodeport-all', args: { nodePort: 30053, protocol: 'udp' } },
    ]);
    h.conntrack.calls.length = 0;
    h.apply(dnsSlice('10.244.1.2'));
    await h.proxier.syncNow();
    expect(h.conntrack.calls).toEqual([
      { op: 'endpoint', args: { serviceIP: '10.96.0.53', endpointIP: '10.244.1.1', protocol: 'udp' } },
      { op: 'nodeport', args: { nodePort: 30053, endpointIP: '10.244.1.1', protocol: 'udp' } },
    ]);
  });

  it('tells the health-check servers each healthCheckNodePort with its ready local endpoints', async () => {
    const h = setup();
    const lb = svc('default/lb', { type: 'LoadBalancer', clusterIP: '10.96.0.9', externalTrafficPolicy: 'Local', healthCheckNodePort: 32001, ports: [{ name: 'http', port: 80, nodePort: 30009 }] });
    h.apply(lb, slice('default/lb-1', 'lb', [{ name: 'http', port: 8080 }], [on('10.244.1.1', NODE), on('10.244.1.2', NODE, { ready: false, serving: true, terminating: true }), on('10.244.2.1', 'node-b')]));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    expect(h.health.at(-1)).toEqual(new Map([[32001, { namespace: 'default', name: 'lb', localEndpoints: 1 }]]));
    h.apply(slice('default/lb-1', 'lb', [{ name: 'http', port: 8080 }], [on('10.244.1.2', NODE, { ready: false, serving: true, terminating: true }), on('10.244.2.1', 'node-b')]));
    await h.proxier.syncNow();
    expect(h.health.at(-1)?.get(32001)?.localEndpoints).toBe(0); // only terminating: counts as none
    h.remove(lb);
    await h.proxier.syncNow();
    expect(h.health.at(-1)).toEqual(new Map());
  });

  it('an endpoint removed no longer appears in any chain after one sync', async () => {
    const h = setup();
    h.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1', '10.244.1.2'));
    h.proxier.markSynced();
    await h.proxier.syncNow();
    h.apply(endpoints('a', '10.244.1.2'));
    await h.proxier.syncNow();
    const dump = h.nft.dump();
    expect(dump).not.toContain('10.244.1.1');
    expect([...chainsOf(dump, 'service-', 'default/a/').values()][0]).toEqual([expect.stringMatching(/jump mark-for-masquerade$/), 'goto endpoints-tcp-1']);
    expect(elementsOf(dump, 'service-endpoints-tcp')).toContainEqual(expect.stringMatching(/ : 10\.244\.1\.2 \. 8080$/));
  });
});

describe('a new process', () => {
  it('rewrites every chain of the table the previous process left, instead of appending to them', async () => {
    const first = setup();
    first.apply(service('a', '10.96.0.1'), endpoints('a', '10.244.1.1', '10.244.1.2'));
    first.proxier.markSynced();
    await first.proxier.syncNow();
    const good = first.nft.dump();
    // Same kernel (FakeNft), new proxier; an endpoint went away while it was down.
    const { ServiceProxier } = await import('../../src/service-proxy/proxier.js');
    const next = new ServiceProxier({ store: first.store, nft: first.nft, logger: first.log.logger, nodeName: NODE, families: [4], clusterCIDRs: [{ ip: { family: 4, value: 0x0af40000n }, prefix: 16 }] });
    next.start();
    next.markSynced();
    await next.syncNow();
    expect(first.nft.dump()).toBe(good);
    first.apply(endpoints('a', '10.244.1.2'));
    await next.syncNow();
    expect(first.nft.dump()).toBe(await fromScratch(allObjects(first)));
    expect(first.log.lines.filter((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_SYNC')).toEqual([]);
    await next.stop();
  });
});
