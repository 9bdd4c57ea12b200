// The controller against an API server (the in-process fake speaking the real REST protocol), with
// real traffic through the proxy before, during and after each event.
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { startController, type RunningController } from '../../src/controller/start-controller.js';
import { KubeClient } from '../../src/k8s/kube-client.js';
import type { Ingress, KubeObject } from '../../src/model/k8s-objects.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import { captureLogger, type CapturedLogger } from '../helpers/capture-logger.js';
import { closePods, serviceFor, startEchoPods, type EchoPod } from '../helpers/e2e.js';
import { eventually, httpRequest } from '../helpers/http.js';
import { configMap, ingress, ingressClass, prefix, rule } from '../helpers/objects.js';
import { FakeApiServer } from '../k8s/fake-api-server.js';

const ELECTION = { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 };
const fallbackCertificate = createDefaultCertificate();

const web = (key: string, host: string, className = 'portico', path = '/') =>
  ingress(key, { className, rules: [rule(host, [prefix(path, 'web', 80)])] });

describe('controller on the Kubernetes API', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startApi(objects: KubeObject[] = []) {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.create(ingressClass('portico'));
    api.create(ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' }));
    for (const obj of objects) api.create(obj);
    return api;
  }

  async function startInstance(api: FakeApiServer, identity = 'a', configMap?: string): Promise<{ running: RunningController; log: CapturedLogger; get: (host: string, path?: string) => ReturnType<typeof httpRequest> }> {
    const log = captureLogger('info');
    const running = await startController({
      kubernetes: {
        client: new KubeClient(api.kubeConfig()),
        publishStatusAddresses: ['203.0.113.7'],
        electionNamespace: 'portico',
        identity,
        leaderElection: ELECTION,
        backoff: { initialMs: 20, maxMs: 200 },
      },
      httpPort: 0,
      httpsPort: 0,
      adminPort: 0,
      bindAddress: '127.0.0.1',
      compile: { ...DEFAULT_COMPILE_OPTIONS, ...(configMap !== undefined && { configMap }) },
      logger: log.logger,
      fallbackCertificate,
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await running.close();
    };
    cleanups.push(close);
    const get = (host: string, path = '/') => httpRequest({ port: running.http.port, host, path });
    return { running, log, get };
  }

  const ready = (running: RunningController) => httpRequest({ port: running.admin.port, path: '/readyz' }).then((r) => r.status === 200);
  const statusOf = (api: FakeApiServer, key: string) =>
    ((api.get('Ingress', key)?.status as Ingress['status'] | undefined)?.loadBalancer?.ingress ?? []).map((a) => a.ip);

  /** Makes a change and waits (polling) until a response shows it; how fast is bench/controller's business. */
  async function servedAfter(act: () => void, done: () => Promise<boolean>, what: string): Promise<void> {
    act();
    await eventually(async () => (await done()) || undefined, 10_000, what);
  }

  let pods: EchoPod[] = [];
  afterEach(async () => {
    await closePods(pods);
    pods = [];
  });

  it('serves creates, updates and deletes made through the API (latency: bench/controller/kubernetes-propagation)', async () => {
    pods = await startEchoPods('web', 2);
    const api = await startApi([...serviceFor('shop/web', [pods[0]!]), ...serviceFor('shop/other', [pods[1]!])]);
    const { running, get } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    const lists = api.requests.filter((r) => r.verb === 'list').length;
    for (let i = 0; i < 5; i++) {
      await servedAfter(() => api.create(web(`shop/new-${i}`, `new-${i}.example.com`)), async () => (await get(`new-${i}.example.com`)).json?.pod === 'web-0', `create ${i}`);
      await servedAfter(
        () => api.apply(ingress(`shop/new-${i}`, { className: 'portico', rules: [rule(`new-${i}.example.com`, [prefix('/', 'other', 80)])] })),
        async () => (await get(`new-${i}.example.com`)).json?.pod === 'web-1',
        `update ${i}`,
      );
      await servedAfter(() => api.delete('Ingress', `shop/new-${i}`), async () => (await get(`new-${i}.example.com`)).status === 404, `delete ${i}`);
    }
    // All fifteen changes arrived over the open watches, not through relists.
    expect(api.requests.filter((r) => r.verb === 'list').length).toBe(lists);
    // Endpoint change through the API: traffic shifts without a route rebuild.
    const builds = running.controller.stats.routeBuilds;
    api.create(web('shop/web', 'web.example.com'));
    await eventually(async () => (await get('web.example.com')).json?.pod === 'web-0', 2000, 'web served');
    const routeBuilds = running.controller.stats.routeBuilds;
    expect(routeBuilds).toBeGreaterThan(builds);
    api.apply(serviceFor('shop/web', [pods[1]!])[1]!);
    await eventually(async () => (await get('web.example.com')).json?.pod === 'web-1', 2000, 'traffic shifted');
    expect(running.controller.stats.routeBuilds).toBe(routeBuilds);
  });

  it('--configmap: the ConfigMap is watched through the API; a change applies, deletion returns to the defaults, a bad key is an Event', async () => {
    pods = await startEchoPods('web', 1);
    const CM = 'ingress-nginx/ingress-nginx-controller';
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com'), configMap(CM, { 'proxy-body-size': '1k', 'proxy-set-headers': 'team' }), configMap('ingress-nginx/team', { 'X-Team': 'shop' })]);
    const { running } = await startInstance(api, 'a', CM);
    await eventually(() => ready(running), 3000, 'ready');
    const post = (body: string) => httpRequest({ port: running.http.port, host: 'web.example.com', method: 'POST', body });
    const big = 'x'.repeat(3000);
    expect((await post(big)).status).toBe(413);
    expect((await post('small')).json?.headers['x-team']).toBe('shop');
    await servedAfter(() => api.apply(configMap(CM, { 'proxy-body-size': '4k', 'proxy-connect-timeout': 'soon' })), async () => (await post(big)).status === 200, 'ConfigMap change applied');
    expect((await post('small')).json?.headers['x-team']).toBeUndefined();
    const events = () => api.list('Event', 'ingress-nginx') as Array<{ reason?: string; involvedObject?: { kind?: string; name?: string }; message?: string }>;
    await eventually(async () => events().some((e) => e.involvedObject?.kind === 'ConfigMap' && e.involvedObject.name === 'ingress-nginx-controller' && e.message?.includes('proxy-connect-timeout')), 3000, 'Event on the ConfigMap');
    await servedAfter(() => api.apply(configMap(CM, { 'proxy-body-size': '1k' })), async () => (await post(big)).status === 413, 'back to 1k');
    await servedAfter(() => api.delete('ConfigMap', CM), async () => (await post(big)).status === 200, 'deleted: the default 1m');
  });

  it('API server down at start: retries, reports not ready, never exits; serves once the API is up', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com')]);
    await api.stop();
    const { running, get } = await startInstance(api);
    const failing = () => running.kubernetes!.source.informers().every((informer) => informer.lastError !== undefined);
    await eventually(async () => failing(), 10_000, 'every informer failed at least once');
    expect(await ready(running)).toBe(false);
    expect((await httpRequest({ port: running.admin.port, path: '/healthz' })).status).toBe(200);
    await api.restart();
    await eventually(() => ready(running), 3000, 'ready after the API came up');
    expect((await get('web.example.com')).status).toBe(200);
  });

  it('keeps serving through dropped watches, 410 Gone mid-stream and an API restart, and catches up', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com')]);
    const { running, get } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const failures: string[] = [];
    let ok = 0;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const res = await httpRequest({ port: running.http.port, host: 'web.example.com', agent }).catch((e: Error) => ({ status: 0, body: e.message }));
        if (res.status === 200) ok++;
        else failures.push(`${res.status} ${res.body}`);
      }
    };
    const loops = [loop(), loop(), loop()];
    const served = async (host: string) => eventually(async () => (await get(host)).status === 200, 3000, `${host} served`);

    api.dropWatches();
    api.create(web('shop/after-drop', 'after-drop.example.com'));
    await served('after-drop.example.com');

    api.compact({ notifyWatchers: true }); // 410 Gone on the open watches
    api.create(web('shop/after-gone', 'after-gone.example.com'));
    await served('after-gone.example.com');

    const restartsBefore = running.kubernetes!.source.informers().reduce((sum, informer) => sum + informer.restarts, 0);
    await api.stop();
    await eventually(
      async () => running.kubernetes!.source.informers().reduce((sum, informer) => sum + informer.restarts, 0) > restartsBefore,
      10_000,
      'informers noticed the API is gone',
    );
    expect((await get('after-gone.example.com')).status).toBe(200); // serving from the last good configuration
    await api.restart();
    api.create(web('shop/after-restart', 'after-restart.example.com'));
    await served('after-restart.example.com');
    await eventually(async () => ok > 50, 30_000, 'more than 50 requests answered through it all'); // a count, however busy the machine

    stop = true;
    await Promise.all(loops);
    agent.destroy();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    const restarts = await httpRequest({ port: running.admin.port, path: '/metrics' });
    expect(restarts.body).toMatch(/portico_informer_restarts_total\{kind="Ingress"\} [1-9]/);
  });

  it('reports objects of unexpected shape and skips them; everything else keeps serving', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com')]);
    const { running, get, log } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'odd', namespace: 'shop' }, spec: { rules: 'not a list' } });
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'odd', namespace: 'shop' }, spec: { ports: [{ port: 'eighty' }] } });
    const line = await log.waitFor((l) => l.code === 'PORTICO_ERR_K8S_OBJECT_INVALID' && String(l.object ?? l.msg).includes('odd'));
    expect(JSON.stringify(line)).toContain('spec.rules');
    expect((await get('web.example.com')).status).toBe(200);
  });

  it('IngressClass: another class never gets routes or status; switching class moves both', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com', 'nginx')]);
    const { running, get } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    await eventually(async () => running.kubernetes?.isLeader, 3000, 'leader');
    await running.kubernetes!.statusWriter?.idle(); // any status pass the leader scheduled has run
    expect((await get('web.example.com')).status).toBe(404);
    expect(statusOf(api, 'shop/web')).toEqual([]);

    api.apply(web('shop/web', 'web.example.com', 'portico'));
    await eventually(async () => (await get('web.example.com')).status === 200, 2000, 'routed after switching to portico');
    await eventually(async () => statusOf(api, 'shop/web')[0] === '203.0.113.7', 2000, 'status written');

    api.apply(web('shop/web', 'web.example.com', 'nginx'));
    await eventually(async () => (await get('web.example.com')).status === 404, 2000, 'unrouted after switching away');
    await eventually(async () => statusOf(api, 'shop/web').length === 0, 2000, 'status removed');
  });

  it('two instances serve traffic; exactly one writes status; stopping it hands over', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com')]);
    const a = await startInstance(api, 'a');
    const b = await startInstance(api, 'b');
    await eventually(async () => (await ready(a.running)) && (await ready(b.running)), 3000, 'both ready');
    await eventually(async () => statusOf(api, 'shop/web')[0] === '203.0.113.7', 3000, 'status written');
    expect((await a.get('web.example.com')).status).toBe(200);
    expect((await b.get('web.example.com')).status).toBe(200);
    const leaders = [a, b].filter((x) => x.running.kubernetes?.isLeader);
    expect(leaders).toHaveLength(1);
    const statusWrites = () => api.requests.filter((r) => r.verb === 'update' && r.resource === 'ingresses' && r.subresource === 'status').length;
    const writesBefore = statusWrites();
    const [leader, follower] = a.running.kubernetes?.isLeader ? [a, b] : [b, a];
    await leader.running.close();
    await eventually(async () => follower.running.kubernetes?.isLeader, ELECTION.leaseDurationMs * 3, 'follower takes over');
    // The new leader publishes status for a new Ingress.
    api.create(web('shop/late', 'late.example.com'));
    await eventually(async () => statusOf(api, 'shop/late')[0] === '203.0.113.7', 3000, 'new leader writes status');
    expect(statusWrites()).toBeGreaterThan(writesBefore);
    expect((await follower.get('late.example.com')).status).toBe(200);
  });

  it('records Events for problems: an invalid path, a missing Service, a bad TLS Secret', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods)]);
    const { running } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    await eventually(async () => running.kubernetes?.isLeader, 3000, 'leader');
    api.create(
      ingress('shop/broken', {
        className: 'portico',
        tls: [{ hosts: ['broken.example.com'], secretName: 'nope-tls' }],
        rules: [rule('broken.example.com', [prefix('/ok', 'web', 80), { path: '/bad//path', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }, prefix('/missing', 'ghost', 80)])],
      }),
    );
    api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'junk-tls', namespace: 'shop' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('junk').toString('base64'), 'tls.key': Buffer.from('junk').toString('base64') } });
    api.create(ingress('shop/junk', { className: 'portico', tls: [{ hosts: ['junk.example.com'], secretName: 'junk-tls' }], rules: [rule('junk.example.com', [prefix('/', 'web', 80)])] }));
    const events = () => api.list('Event', 'shop') as Array<{ reason?: string; type?: string; involvedObject?: { kind?: string; name?: string }; message?: string }>;
    const has = (kind: string, name: string, reason: string) => events().some((e) => e.involvedObject?.kind === kind && e.involvedObject?.name === name && e.reason === reason && e.type === 'Warning');
    await eventually(async () => has('Ingress', 'broken', 'IngressPathInvalid') && has('Ingress', 'broken', 'TlsSecretMissing') && has('Ingress', 'broken', 'BackendServiceMissing') && has('Secret', 'junk-tls', 'TlsSecretInvalid'), 3000, 'events recorded');
    expect(events().filter((e) => e.reason === 'IngressPathInvalid')).toHaveLength(1); // deduplicated
  });

  it('exposes request, rebuild and TLS metrics on /metrics', async () => {
    pods = await startEchoPods('web', 1);
    const api = await startApi([...serviceFor('shop/web', pods), web('shop/web', 'web.example.com')]);
    const { running, get } = await startInstance(api);
    await eventually(() => ready(running), 3000, 'ready');
    for (let i = 0; i < 3; i++) expect((await get('web.example.com')).status).toBe(200);
    await get('nowhere.example.com');
    const res = await httpRequest({ port: running.admin.port, path: '/metrics' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('portico_requests_total{ingress="web",namespace="shop",service="web",status_class="2xx"} 3');
    expect(res.body).toMatch(/portico_requests_total\{[^}]*status_class="4xx"\} 1/);
    expect(res.body).toMatch(/portico_rebuilds_total\{kind="routes"\} [1-9]/);
    expect(res.body).toContain('portico_last_sync_timestamp_seconds');
    expect(res.body).toContain('portico_upstream_duration_seconds_bucket');
    expect(res.body).toContain('process_cpu_seconds_total');
  });
});
