import { afterEach, describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { KubernetesIntegration, type KubernetesIntegrationOptions } from '../../src/k8s/kubernetes-integration.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { eventually } from '../helpers/http.js';
import { ingress, ingressClass, prefix, rule, service } from '../helpers/objects.js';
import { FakeApiServer } from './fake-api-server.js';

const ELECTION = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

const web = (key: string, className: string, host = 'web.example.com') =>
  ingress(key, { className, rules: [rule(host, [prefix('/', 'web', 80)])] });

function publishService(ip: string) {
  return { ...service('portico/portico', [80]), spec: { type: 'LoadBalancer', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip }] } } };
}

describe('KubernetesIntegration', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startApi() {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.create(ingressClass('portico'));
    api.create(ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' }));
    api.create(publishService('203.0.113.10'));
    api.create(web('shop/web', 'portico'));
    api.create(web('shop/theirs', 'nginx', 'theirs.example.com'));
    return api;
  }

  /** A replica: the integration plus a stand-in for the controller's rebuild loop. */
  async function replica(api: FakeApiServer, name: string, options: Partial<KubernetesIntegrationOptions> = {}) {
    const store = new ObjectStore();
    const integration = new KubernetesIntegration({
      kubeConfig: api.kubeConfig(),
      store,
      logger: createSilentLogger(),
      publishService: 'portico/portico',
      electionNamespace: 'portico',
      identity: name,
      leaderElection: ELECTION,
      backoff: { initialMs: 10, maxMs: 50 },
      ...options,
    });
    let stopped = false;
    const rebuild = () => !stopped && integration.routesBuilt(compileRoutes(store.snapshot(), DEFAULT_COMPILE_OPTIONS));
    store.subscribe((change) => integration.source.isSynced && change.kind !== 'Node' && rebuild());
    integration.start();
    await integration.synced;
    rebuild();
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await integration.stop();
    };
    cleanups.push(stop);
    return { integration, store, stop };
  }

  const statusOf = (api: FakeApiServer, key: string) =>
    ((api.get('Ingress', key)?.status as Ingress['status'] | undefined)?.loadBalancer?.ingress ?? []).map((a) => a.ip ?? a.hostname);

  it('two replicas: exactly one writes status and Events; stopping it hands over', async () => {
    const api = await startApi();
    const a = await replica(api, 'a');
    const b = await replica(api, 'b');
    await eventually(async () => a.integration.isLeader || b.integration.isLeader, 2000, 'a leader');
    await eventually(async () => statusOf(api, 'shop/web').length === 1, 2000, 'status published');
    expect(statusOf(api, 'shop/web')).toEqual(['203.0.113.10']);
    expect(statusOf(api, 'shop/theirs')).toEqual([]); // another class never gets our status
    const [leader, follower] = a.integration.isLeader ? [a, b] : [b, a];
    expect(follower.integration.isLeader).toBe(false);
    await leader.integration.statusWriter!.idle();
    expect(leader.integration.statusWriter!.stats.writes).toBe(1);
    expect(follower.integration.statusWriter!.stats.writes).toBe(0);

    // An Ingress with a problem: only the leader records the Event.
    api.create(ingress('shop/broken', { className: 'portico', rules: [rule('broken.example.com', [prefix('a//b', 'web', 80)])] }));
    await eventually(async () => api.list('Event', 'shop').length > 0, 2000, 'event');
    await leader.integration.events.flush();
    await follower.integration.events.flush();
    expect(follower.integration.events.stats.created).toBe(0);
    expect(api.list('Event', 'shop')[0]).toMatchObject({ involvedObject: { kind: 'Ingress', name: 'broken', uid: expect.any(String) }, type: 'Warning' });

    await eventually(async () => statusOf(api, 'shop/broken').length === 1, 2000, 'broken published');
    await leader.stop();
    // Released on stop (empty holder; or already the follower's), so nobody waits for it to expire.
    // The handover bound itself is checked on virtual time in leader-elector.test.ts.
    const holderAfterStop = (api.get('Lease', 'portico/portico-leader')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    expect(['', follower.integration.elector.identity]).toContain(holderAfterStop);
    await eventually(async () => follower.integration.isLeader, 5000, 'handover');
    api.create(web('shop/later', 'portico', 'later.example.com'));
    await eventually(async () => statusOf(api, 'shop/later').length === 1, 2000, 'new leader publishes');
    await follower.integration.statusWriter!.idle();
    expect(follower.integration.statusWriter!.stats.writes).toBe(1); // only shop/later: the rest was already right
  });

  it('switching IngressClass removes and adds the status; a new LB address is republished', async () => {
    const api = await startApi();
    const a = await replica(api, 'a');
    await eventually(async () => a.integration.isLeader && statusOf(api, 'shop/web').length === 1, 2000, 'published');
    api.apply(web('shop/web', 'nginx'));
    await eventually(async () => statusOf(api, 'shop/web').length === 0, 2000, 'status removed on class switch');
    api.apply(web('shop/web', 'portico'));
    await eventually(async () => statusOf(api, 'shop/web').length === 1, 2000, 'status back');
    api.setStatus('Service', 'portico/portico', { loadBalancer: { ingress: [{ ip: '203.0.113.99' }] } });
    await eventually(async () => statusOf(api, 'shop/web')[0] === '203.0.113.99', 2000, 'new address');
  });

  it('--publish-status-address wins and needs no Node watch; no publishing flag means no status writes', async () => {
    const api = await startApi();
    const a = await replica(api, 'a', { publishStatusAddresses: ['lb.example.com'] });
    await eventually(async () => statusOf(api, 'shop/web')[0] === 'lb.example.com', 2000, 'published');
    expect(api.requests.some((r) => r.resource === 'nodes')).toBe(false);
    await a.stop();

    const api2 = await startApi();
    const b = await replica(api2, 'b', { publishService: undefined });
    await eventually(async () => b.integration.isLeader, 2000, 'leader');
    expect(b.integration.statusWriter).toBeUndefined(); // nothing that could write status exists
    expect(api2.requests.some((r) => r.subresource === 'status')).toBe(false);
  });

  it('endpoint-only builds record Events but skip the status pass; route builds run it', async () => {
    const api = await startApi();
    const a = await replica(api, 'a', { publishStatusAddresses: ['lb.example.com'] });
    await eventually(async () => statusOf(api, 'shop/web')[0] === 'lb.example.com', 2000, 'published');
    const writer = a.integration.statusWriter!;
    await writer.idle();
    const passes = writer.stats.passes;
    const model = compileRoutes(a.store.snapshot(), DEFAULT_COMPILE_OPTIONS);
    a.integration.routesBuilt(model, { routesChanged: false });
    await writer.idle(); // a pass would have been scheduled synchronously
    expect(writer.stats.passes).toBe(passes);
    a.integration.routesBuilt(model, { routesChanged: true });
    await eventually(async () => writer.stats.passes > passes, 2000, 'status pass after a route build');
  });
});
