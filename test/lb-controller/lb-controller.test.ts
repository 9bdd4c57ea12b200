import { afterEach, describe, expect, it } from 'vitest';
import { LOADBALANCER_IPS_ANNOTATION } from '../../src/lb-ipam/allocate.js';
import { parsePools } from '../../src/lb-ipam/pool.js';
import { startLbController, type RunningLbController, type StartLbControllerOptions } from '../../src/lb-controller/start-lb-controller.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Service } from '../../src/model/k8s-objects.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { eventually } from '../helpers/http.js';
import { service } from '../helpers/objects.js';
import { FakeApiServer } from '../k8s/fake-api-server.js';

const ELECTION = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

function lb(key: string, extra: { ip?: string; ips?: string; className?: string; type?: string; families?: string[] } = {}): Service {
  const base = service(key, [80], extra.ips !== undefined ? { annotations: { [LOADBALANCER_IPS_ANNOTATION]: extra.ips } } : {});
  return {
    ...base,
    spec: {
      ...base.spec,
      type: extra.type ?? 'LoadBalancer',
      ...(extra.ip !== undefined && { loadBalancerIP: extra.ip }),
      ...(extra.className !== undefined && { loadBalancerClass: extra.className }),
      ...(extra.families !== undefined && { ipFamilies: extra.families }),
    },
  };
}

describe('portico lb-controller against the fake API server', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startApi(): Promise<FakeApiServer> {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    return api;
  }

  async function start(api: FakeApiServer, pool: string, options: Partial<StartLbControllerOptions> = {}): Promise<RunningLbController> {
    const { ranges, diagnostics } = parsePools(pool);
    const running = await startLbController({
      kubeConfig: api.kubeConfig(),
      pools: ranges,
      poolDiagnostics: diagnostics,
      electionNamespace: 'portico',
      leaderElection: ELECTION,
      backoff: { initialMs: 10, maxMs: 50 },
      logger: createSilentLogger(),
      env: {},
      ...options,
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await running.close();
    };
    cleanups.push(close);
    return { ...running, close };
  }

  const ips = (api: FakeApiServer, key: string) =>
    ((api.get('Service', key)?.status as Service['status'] | undefined)?.loadBalancer?.ingress ?? []).map((entry) => entry.ip);

  const events = (api: FakeApiServer) =>
    api.list('Event').map((event) => `${(event.involvedObject as { name: string }).name} ${event.reason as string}: ${event.message as string}`);

  it('assigns the lowest free addresses by namespace/name; leaves ClusterIP and other-class Services alone', async () => {
    const api = await startApi();
    api.create(lb('shop/web'));
    api.create(lb('shop/api'));
    api.create(lb('shop/theirs', { className: 'example.com/other-lb' }));
    api.create({ ...lb('shop/plain', { type: 'ClusterIP' }), status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } });
    const running = await start(api, '192.0.2.0/29');
    await eventually(async () => ips(api, 'shop/web').length === 1, 3000, 'web assigned');
    expect(ips(api, 'shop/api')).toEqual(['192.0.2.1']);
    expect(ips(api, 'shop/web')).toEqual(['192.0.2.2']);
    expect(ips(api, 'shop/theirs')).toEqual([]);
    // A ClusterIP Service with a pool address in its status has it cleared (released on type change).
    await eventually(async () => ips(api, 'shop/plain').length === 0, 3000, 'stale status cleared');
    await running.controller.idle();
    const patches = api.requests.filter((r) => r.verb === 'patch' && r.resource === 'services');
    expect(patches.map((r) => `${r.subresource} ${r.name}`).sort()).toEqual(['status api', 'status plain', 'status web']);
  });

  it('keeps every address across a restart and gives a newcomer the next free one', async () => {
    const api = await startApi();
    api.create(lb('shop/b'));
    api.create(lb('shop/c'));
    const first = await start(api, '192.0.2.10-192.0.2.20');
    await eventually(async () => ips(api, 'shop/c').length === 1, 3000, 'assigned');
    expect([ips(api, 'shop/b'), ips(api, 'shop/c')]).toEqual([['192.0.2.10'], ['192.0.2.11']]);
    await first.controller.idle();
    await first.close();
    // While it is down, a Service that sorts first arrives: it must not push the others around.
    api.create(lb('shop/a'));
    const writesBefore = api.requests.filter((r) => r.verb === 'patch' && r.resource === 'services').length;
    const second = await start(api, '192.0.2.10-192.0.2.20');
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'newcomer assigned');
    await second.controller.idle();
    expect([ips(api, 'shop/a'), ips(api, 'shop/b'), ips(api, 'shop/c')]).toEqual([['192.0.2.12'], ['192.0.2.10'], ['192.0.2.11']]);
    const writes = api.requests.filter((r) => r.verb === 'patch' && r.resource === 'services').slice(writesBefore);
    expect(writes.map((r) => r.name)).toEqual(['a']);
  });

  it('an exhausted pool: an Event on the Service; the address of a deleted Service goes to it', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    api.create(lb('shop/b'));
    const running = await start(api, '192.0.2.0/31');
    await eventually(async () => ips(api, 'shop/b').length === 1, 3000, 'assigned');
    api.create(lb('shop/c'));
    await eventually(async () => events(api).some((e) => e.startsWith('c LbExhausted')), 3000, 'exhausted Event');
    expect(events(api)).toEqual(['c LbExhausted: no free IPv4 address left in the pool (192.0.2.0/31) for Service shop/c (PORTICO_ERR_LB_EXHAUSTED)']);
    expect(ips(api, 'shop/c')).toEqual([]);
    api.delete('Service', 'shop/a');
    await eventually(async () => ips(api, 'shop/c').length === 1, 3000, 'released address reused');
    expect(ips(api, 'shop/c')).toEqual(['192.0.2.0']);
    await running.controller.idle();
    expect(events(api)).toHaveLength(1); // the same problem is not recorded again
  });

  it('releases the address when a Service stops being LoadBalancer, and reassigns it', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    await start(api, '192.0.2.0/30');
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'assigned');
    api.apply({ ...lb('shop/a', { type: 'ClusterIP' }) });
    await eventually(async () => ips(api, 'shop/a').length === 0, 3000, 'released');
    api.create(lb('shop/z'));
    await eventually(async () => ips(api, 'shop/z').length === 1, 3000, 'reassigned');
    expect(ips(api, 'shop/z')).toEqual(['192.0.2.1']);
  });

  it('honours spec.loadBalancerIP and the annotation; a taken or outside address gets an Event naming the Service and the IP, and nothing is stolen', async () => {
    const api = await startApi();
    api.create(lb('shop/holder', { ip: '192.0.2.5' }));
    api.create(lb('shop/dual', { ips: '192.0.2.6,2001:db8::6', families: ['IPv4', 'IPv6'] }));
    const running = await start(api, '192.0.2.0/29,2001:db8::/120');
    await eventually(async () => ips(api, 'shop/holder').length === 1 && ips(api, 'shop/dual').length === 2, 3000, 'requested addresses');
    expect(ips(api, 'shop/holder')).toEqual(['192.0.2.5']);
    expect(ips(api, 'shop/dual')).toEqual(['192.0.2.6', '2001:db8::6']);
    api.create(lb('shop/thief', { ip: '192.0.2.5' }));
    api.create(lb('shop/outside', { ip: '198.51.100.1' }));
    await eventually(async () => events(api).length === 2, 3000, 'two Events');
    expect(events(api).sort()).toEqual([
      'outside LbIpUnavailable: spec.loadBalancerIP: Service shop/outside requests 198.51.100.1 is outside the pool (192.0.2.0/29,2001:db8::/120); it gets no address (PORTICO_ERR_LB_IP_UNAVAILABLE)',
      'thief LbIpUnavailable: spec.loadBalancerIP: Service shop/thief requests 192.0.2.5 is held by Service shop/holder; it gets no address (PORTICO_ERR_LB_IP_UNAVAILABLE)',
    ]);
    await running.controller.idle();
    expect(ips(api, 'shop/holder')).toEqual(['192.0.2.5']);
    expect(ips(api, 'shop/thief')).toEqual([]);
  });

  it('retries a failed status write', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    const log = captureLogger('warn');
    api.failNext(2, { match: (r) => r.verb === 'patch' && r.resource === 'services' });
    const running = await start(api, '192.0.2.0/30', { logger: log.logger });
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'assigned after retries');
    await running.controller.idle();
    expect(running.controller.stats.failures).toBe(2);
    expect(log.lines.filter((l) => l.code === 'PORTICO_ERR_LB_STATUS_WRITE')).toHaveLength(2);
  });

  it('two replicas: only the leader writes; stopping it hands over without moving addresses', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    const one = await start(api, '192.0.2.0/29');
    const two = await start(api, '192.0.2.0/29');
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'assigned');
    const [leader, follower] = one.controller.isLeader ? [one, two] : [two, one];
    await leader.controller.idle();
    expect(follower.controller.isLeader).toBe(false);
    expect(follower.controller.stats.writes).toBe(0);
    await leader.close();
    await eventually(async () => follower.controller.isLeader, 3000, 'handover');
    api.create(lb('shop/b'));
    await eventually(async () => ips(api, 'shop/b').length === 1, 3000, 'new leader assigns');
    expect([ips(api, 'shop/a'), ips(api, 'shop/b')]).toEqual([['192.0.2.1'], ['192.0.2.2']]);
    // The fake applies the patch before its answer reaches the controller: wait for the pass to end.
    await follower.controller.idle();
    expect(follower.controller.stats.writes).toBe(1);
  });

  it('a pool range that does not parse is logged and skipped; the others are used', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    const log = captureLogger('info');
    await start(api, 'banana,192.0.2.9-192.0.2.9', { logger: log.logger });
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'assigned');
    expect(ips(api, 'shop/a')).toEqual(['192.0.2.9']);
    expect(log.lines.find((l) => l.code === 'PORTICO_ERR_LB_POOL')?.msg).toMatch(/"banana" is neither a CIDR/);
  });

  it('in a pod, a bad pool range is also a Warning Event on the controller Pod', async () => {
    const api = await startApi();
    await start(api, 'banana,192.0.2.9-192.0.2.9', { env: { POD_NAME: 'lb-0', POD_NAMESPACE: 'portico' } });
    await eventually(async () => api.list('Event').length === 1, 3000, 'pool Event');
    const [event] = api.list('Event');
    expect(event!.involvedObject).toMatchObject({ kind: 'Pod', namespace: 'portico', name: 'lb-0', apiVersion: 'v1' });
    expect(event!.reason).toBe('LbPool');
    expect(event!.message).toMatch(/^--pool: pool range "banana" is neither a CIDR/);
  });

  it('serves /healthz once Services have listed, and /metrics', async () => {
    const api = await startApi();
    api.create(lb('shop/a'));
    const running = await start(api, '192.0.2.0/29', { healthzPort: 0, metricsPort: 0, bindAddress: '127.0.0.1' });
    await eventually(async () => (await fetch(`http://127.0.0.1:${running.healthz!.port}/healthz`)).status === 200, 3000, 'healthy');
    await eventually(async () => ips(api, 'shop/a').length === 1, 3000, 'assigned');
    await running.controller.idle();
    const text = await (await fetch(`http://127.0.0.1:${running.metrics!.port}/metrics`)).text();
    expect(text).toMatch(/portico_lb_addresses_assigned\{family="IPv4"\} 1/);
    expect(text).toMatch(/portico_lb_pool_addresses\{family="IPv4"\} 6/);
    expect(text).toMatch(/portico_lb_leader 1/);
  });
});
