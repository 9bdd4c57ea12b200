import { afterEach, describe, expect, it } from 'vitest';
import { isDeclaredApiCall } from '../../src/k8s/api-access.js';
import { KubernetesSource, type KubernetesSourceOptions } from '../../src/k8s/kubernetes-source.js';
import type { ObjectKind } from '../../src/model/k8s-objects.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { eventually } from '../helpers/http.js';
import { configMap, endpointSlice, ingress, ingressClass, node, prefix, rule, secret, service } from '../helpers/objects.js';
import { FakeApiServer } from './fake-api-server.js';

const FAST = { initialMs: 10, maxMs: 100 };

const web = (host = 'web.example.com') =>
  ingress('default/web', { className: 'portico', rules: [rule(host, [prefix('/', 'web', 80)])] });

function seed(api: FakeApiServer): void {
  api.create(ingressClass('portico'));
  api.create(web());
  api.create(service('default/web', [80]));
  api.create(endpointSlice('default/web-1', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }));
  api.create(secret('default/tls', { 'tls.crt': 'eA==', 'tls.key': 'eA==' }, 'kubernetes.io/tls'));
  api.create(secret('default/opaque', { password: 'eA==' }));
}

describe('KubernetesSource', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: Partial<KubernetesSourceOptions> & { api?: FakeApiServer; seed?: boolean } = {}) {
    const api = options.api ?? (await FakeApiServer.start());
    if (!options.api) cleanups.push(() => api.close());
    if (options.seed !== false) seed(api);
    const store = new ObjectStore();
    const log = captureLogger('debug');
    const restarts: Array<[ObjectKind, string]> = [];
    const source = new KubernetesSource({
      kubeConfig: api.kubeConfig(),
      store,
      logger: log.logger,
      backoff: FAST,
      onRestart: (kind, reason) => restarts.push([kind, reason]),
      ...options,
    });
    cleanups.push(() => source.stop());
    source.start();
    return { api, store, log, source, restarts };
  }

  const wait = (check: () => boolean, what: string, timeoutMs = 3000) => eventually(async () => check(), timeoutMs, what);

  it('lists every kind once, feeds the store, and resolves synced', async () => {
    const { api, store, source } = await setup();
    await source.synced;
    expect(source.isSynced).toBe(true);
    expect(store.keys('IngressClass')).toEqual(['portico']);
    expect(store.keys('Ingress')).toEqual(['default/web']);
    expect(store.keys('Service')).toEqual(['default/web']);
    expect(store.keys('EndpointSlice')).toEqual(['default/web-1']);
    expect(store.keys('Secret')).toEqual(['default/tls']);
    expect(store.keys('Node')).toEqual([]);
    const ing = store.get('Ingress', 'default/web')!;
    expect(ing.apiVersion).toBe('networking.k8s.io/v1'); // filled in: list items carry no TypeMeta
    const secretRequests = api.requests.filter((r) => r.resource === 'secrets');
    expect(secretRequests.every((r) => r.query.fieldSelector === 'type=kubernetes.io/tls')).toBe(true);
    expect(api.requests.filter((r) => r.verb === 'list').map((r) => r.resource).sort()).toEqual([
      'endpointslices',
      'ingressclasses',
      'ingresses',
      'secrets',
      'services',
    ]);
    expect(source.informers().every((i) => i.synced && i.restarts === 0)).toBe(true);
  });

  it('propagates create, update and delete through the open watches, in order, without relisting', async () => {
    // How fast is bench/'s business (k8s propagation latency); here: the path and the order.
    const { api, store, source } = await setup();
    await source.synced;
    const lists = api.requests.filter((r) => r.verb === 'list').length;
    const seen: string[] = [];
    store.subscribe((change) => {
      if (change.kind === 'Ingress') seen.push(`${change.type} ${change.key}`);
    });
    api.create(ingress('default/new', { className: 'portico' }));
    await wait(() => store.get('Ingress', 'default/new') !== undefined, 'create');
    api.apply(web('changed.example.com'));
    await wait(() => (store.get('Ingress', 'default/web') as ReturnType<typeof web>).spec?.rules?.[0]?.host === 'changed.example.com', 'update');
    api.delete('Ingress', 'default/new');
    await wait(() => store.get('Ingress', 'default/new') === undefined, 'delete');
    expect(seen).toEqual(['upsert default/new', 'upsert default/web', 'delete default/new']);
    expect(api.requests.filter((r) => r.verb === 'list').length).toBe(lists);
  });

  it('skips status-only changes in the store but exposes them through lookup() and onObjectChange', async () => {
    const changes: string[] = [];
    const { api, store, source } = await setup({ onObjectChange: (kind, key) => changes.push(`${kind} ${key}`) });
    await source.synced;
    let storeChanges = 0;
    store.subscribe(() => storeChanges++);
    api.setStatus('Ingress', 'default/web', { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } });
    await wait(() => source.lookup('Ingress', 'default/web')?.kind === 'Ingress' && JSON.stringify(source.lookup('Ingress', 'default/web')).includes('192.0.2.1'), 'status seen');
    expect(changes).toContain('Ingress default/web');
    expect(storeChanges).toBe(0);
  });

  it('with --configmap, watches the ConfigMaps of its namespace only (a declared call), changes and deletion included', async () => {
    const { api, store, source } = await setup({ configMap: 'ingress-nginx/ingress-nginx-controller' });
    api.create(configMap('ingress-nginx/ingress-nginx-controller', { 'proxy-body-size': '8m' }));
    api.create(configMap('ingress-nginx/custom-headers', { 'X-A': '1' }));
    api.create(configMap('default/other', { x: '1' }));
    await source.synced;
    await wait(() => store.keys('ConfigMap').length === 2, 'ConfigMaps listed');
    expect(store.keys('ConfigMap').sort()).toEqual(['ingress-nginx/custom-headers', 'ingress-nginx/ingress-nginx-controller']);
    api.apply(configMap('ingress-nginx/ingress-nginx-controller', { 'proxy-body-size': '1k' }));
    await wait(() => (store.get('ConfigMap', 'ingress-nginx/ingress-nginx-controller') as ReturnType<typeof configMap>).data?.['proxy-body-size'] === '1k', 'update');
    api.delete('ConfigMap', 'ingress-nginx/ingress-nginx-controller');
    await wait(() => store.get('ConfigMap', 'ingress-nginx/ingress-nginx-controller') === undefined, 'delete');
    const calls = api.requests.filter((r) => r.resource === 'configmaps');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((r) => r.namespace === 'ingress-nginx' && isDeclaredApiCall(r))).toBe(true);
  });

  it('watches no ConfigMap without --configmap', async () => {
    const { api, source } = await setup();
    await source.synced;
    expect(api.requests.some((r) => r.resource === 'configmaps')).toBe(false);
  });

  it('watches only --watch-namespace for namespaced kinds, IngressClasses cluster-wide', async () => {
    const { api, store, source } = await setup({ namespace: 'team' });
    api.create(ingress('team/a', { className: 'portico' }));
    await source.synced;
    await wait(() => store.keys('Ingress').length === 1, 'team ingress');
    expect(store.keys('Ingress')).toEqual(['team/a']);
    expect(store.keys('Service')).toEqual([]);
    expect(store.keys('IngressClass')).toEqual(['portico']);
    const scoped = api.requests.filter((r) => r.resource !== 'ingressclasses');
    expect(scoped.every((r) => r.namespace === 'team')).toBe(true);
    expect(api.requests.filter((r) => r.resource === 'ingressclasses').every((r) => r.namespace === undefined)).toBe(true);
  });

  it('with --publish-service watches Nodes and the publish Service outside --watch-namespace', async () => {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.create(node('n1', { internalIP: '172.18.0.2' }));
    api.create(service('portico/portico', [80]));
    api.create(service('portico/unrelated', [80]));
    const { store, source } = await setup({ api, namespace: 'team', publishService: 'portico/portico' });
    await source.synced;
    expect(store.keys('Node')).toEqual(['n1']);
    expect(store.keys('Service')).toEqual(['portico/portico']);
    expect(api.requests.find((r) => r.resource === 'services' && r.namespace === 'portico')?.query.fieldSelector).toBe('metadata.name=portico');
  });

  it('reports and skips objects with unexpected shapes, and takes them once fixed', async () => {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.create(ingressClass('portico'));
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'bad', namespace: 'default' }, spec: { rules: 'oops' } });
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'noports', namespace: 'default' }, spec: { ports: [{ port: 'eighty' }] } });
    const { store, source, log } = await setup({ api, seed: false });
    await source.synced;
    expect(store.keys('Ingress')).toEqual([]);
    expect(store.keys('Service')).toEqual([]);
    const line = await log.waitFor((l) => l.code === 'PORTICO_ERR_K8S_OBJECT_INVALID' && l.object === 'Ingress default/bad');
    expect(line.reason).toContain('spec.rules');
    await log.waitFor((l) => l.code === 'PORTICO_ERR_K8S_OBJECT_INVALID' && l.object === 'Service default/noports');

    // A watch event with a bad shape is skipped too, and removes the last good version.
    api.create(web());
    await wait(() => store.get('Ingress', 'default/web') !== undefined, 'good ingress');
    api.apply({ ...web(), spec: { ingressClassName: 42 } });
    await wait(() => store.get('Ingress', 'default/web') === undefined, 'bad update skipped');
    api.apply({ ...web(), metadata: { name: 'bad', namespace: 'default' } });
    await wait(() => store.get('Ingress', 'default/bad') !== undefined, 'fixed object taken');
    expect(log.lines.filter((l) => l.object === 'Ingress default/bad' && l.code)).toHaveLength(1);
  });

  it('keeps retrying while the API server is down at start, never synced, then syncs when it comes up', async () => {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    seed(api);
    await api.stop();
    const { store, source, restarts, log } = await setup({ api, seed: false });
    await wait(() => restarts.length >= 10, 'several restarts');
    expect(source.isSynced).toBe(false);
    expect(source.informers().every((i) => !i.synced && i.lastError !== undefined)).toBe(true);
    const retry = await log.waitFor((l) => l.code === 'PORTICO_ERR_K8S_WATCH');
    // The retry line names the server it cannot reach, so a wrong kubeconfig is obvious.
    expect(retry).toMatchObject({ server: api.url });
    expect(retry.msg).toContain(` on ${api.url} failed:`);
    await api.restart();
    await source.synced;
    expect(store.keys('Ingress')).toEqual(['default/web']);
  });

  it('keeps the last state through an API server restart and catches up with changes made meanwhile', async () => {
    const { api, store, source, restarts } = await setup();
    await source.synced;
    await api.stop();
    api.create(ingress('default/while-down', { className: 'portico' }));
    api.delete('Ingress', 'default/web');
    await wait(() => restarts.filter(([kind]) => kind === 'Ingress').length >= 2, 'the Ingress informer failing while the API is down');
    expect(store.keys('Ingress')).toEqual(['default/web']); // last good state stays
    await api.restart();
    await wait(() => store.keys('Ingress').join() === 'default/while-down', 'caught up after restart');
  });

  it('resumes dropped watches from the last resourceVersion without relisting', async () => {
    const { api, store, source, restarts } = await setup();
    await source.synced;
    const lists = api.requests.filter((r) => r.verb === 'list').length;
    for (let i = 0; i < 3; i++) {
      api.dropWatches();
      api.create(ingress(`default/after-drop-${i}`, { className: 'portico' }));
      await wait(() => store.get('Ingress', `default/after-drop-${i}`) !== undefined, `after drop ${i}`);
    }
    expect(api.requests.filter((r) => r.verb === 'list').length).toBe(lists);
    expect(restarts.length).toBeGreaterThan(0);
    expect(restarts.every(([, reason]) => reason === 'error')).toBe(true);
  });

  it('relists on 410 Gone when reconnecting, dropping objects deleted meanwhile', async () => {
    const { api, store, source, restarts } = await setup();
    await source.synced;
    await api.stop();
    api.delete('Ingress', 'default/web');
    api.create(ingress('default/fresh', { className: 'portico' }));
    api.compact();
    await api.restart();
    await wait(() => store.keys('Ingress').join() === 'default/fresh', 'relisted');
    expect(restarts.some(([kind, reason]) => kind === 'Ingress' && reason === 'expired')).toBe(true);
  });

  it('relists on 410 Gone mid-stream', async () => {
    const { api, store, source, restarts } = await setup();
    await source.synced;
    await wait(() => api.watchCount() === 5, 'every watch open');
    const lists = api.requests.filter((r) => r.verb === 'list').length;
    api.compact({ notifyWatchers: true });
    api.create(ingress('default/after-expiry', { className: 'portico' }));
    await wait(() => store.get('Ingress', 'default/after-expiry') !== undefined, 'after expiry');
    await wait(() => api.requests.filter((r) => r.verb === 'list').length === lists + 5, 'every kind relisted');
    expect(restarts.filter(([, reason]) => reason === 'expired')).toHaveLength(5);
  });

  it('survives failing requests (500s) with backoff and server-side watch timeouts without relisting', async () => {
    const api = await FakeApiServer.start({ maxWatchMs: 100 });
    cleanups.push(() => api.close());
    seed(api);
    api.failNext(8);
    const { store, source } = await setup({ api, seed: false });
    await source.synced;
    const lists = api.requests.filter((r) => r.verb === 'list' && r.status === 200).length;
    expect(lists).toBe(5);
    await wait(() => api.requests.filter((r) => r.verb === 'watch' && r.resource === 'ingresses').length > 2, 'several server-side watch timeouts');
    api.create(ingress('default/late', { className: 'portico' }));
    await wait(() => store.get('Ingress', 'default/late') !== undefined, 'late ingress');
    expect(api.requests.filter((r) => r.verb === 'list' && r.status === 200).length).toBe(5);
    expect(api.requests.filter((r) => r.verb === 'watch' && r.resource === 'ingresses').length).toBeGreaterThan(2);
  });

  it('only makes API calls declared in REQUIRED_API_ACCESS', async () => {
    const { api, source } = await setup({ publishService: 'default/web' });
    await source.synced;
    const before = api.requests.length;
    api.dropWatches();
    await wait(() => api.requests.length > before && api.watchCount() > 0, 'watches resumed');
    expect(api.requests.length).toBeGreaterThan(0);
    const undeclared = api.requests.filter((r) => !isDeclaredApiCall(r));
    expect(undeclared).toEqual([]);
  });

  it('stops promptly, with open watches and while retrying', async () => {
    const { api, source } = await setup();
    await source.synced;
    // Watches run for minutes (timeoutSeconds 300–600): stop() returning at all means it aborted them.
    await source.stop();
    await eventually(async () => api.watchCount() === 0, 1000, 'watches closed');
  });
});
