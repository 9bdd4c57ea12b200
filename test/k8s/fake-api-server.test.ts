import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingress, prefix, rule, secret, service } from '../helpers/objects.js';
import { FakeApiServer } from './fake-api-server.js';

const run = promisify(execFile);

interface Collected {
  events: Array<{ type: string; object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string } }>;
  ended: Promise<void>;
  abort: () => void;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

/** Opens a raw watch and collects its events. */
async function watch(api: FakeApiServer, path: string): Promise<Collected> {
  const controller = new AbortController();
  const response = await fetch(`${api.url}${path}`, { signal: controller.signal });
  expect(response.status).toBe(200);
  const events: Collected['events'] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body!) {
        buffered += decoder.decode(chunk, { stream: true });
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) if (line) events.push(JSON.parse(line));
      }
    } catch {
      // aborted or reset
    }
  })();
  return {
    events,
    ended,
    abort: () => controller.abort(),
    async waitFor(count, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

async function call(api: FakeApiServer, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const response = await fetch(`${api.url}${path}`, {
    method,
    ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': contentType } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const web = () => ingress('default/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] });

describe('FakeApiServer', () => {
  let api: FakeApiServer;
  beforeEach(async () => {
    api = await FakeApiServer.start();
  });
  afterEach(async () => {
    await api.close();
  });

  it('serves discovery and /version', async () => {
    expect((await call(api, 'GET', '/api')).body.versions).toEqual(['v1']);
    const groups = (await call(api, 'GET', '/apis')).body.groups.map((g: { name: string }) => g.name);
    expect(groups).toEqual(expect.arrayContaining(['networking.k8s.io', 'discovery.k8s.io', 'coordination.k8s.io']));
    const core = (await call(api, 'GET', '/api/v1')).body.resources.map((r: { name: string }) => r.name);
    expect(core).toEqual(expect.arrayContaining(['services', 'services/status', 'secrets', 'events', 'nodes']));
    const net = (await call(api, 'GET', '/apis/networking.k8s.io/v1')).body;
    expect(net.resources.find((r: { name: string }) => r.name === 'ingresses')).toMatchObject({ kind: 'Ingress', namespaced: true });
    expect((await call(api, 'GET', '/version')).body.major).toBe('1');
  });

  it('lists with metadata.resourceVersion, items without TypeMeta, scoped by namespace', async () => {
    api.create(web());
    api.create(ingress('other/api', { className: 'portico' }));
    const all = await call(api, 'GET', '/apis/networking.k8s.io/v1/ingresses');
    expect(all.body.kind).toBe('IngressList');
    expect(all.body.metadata.resourceVersion).toBe(api.resourceVersion);
    expect(all.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['default/web', 'other/api']);
    expect(all.body.items[0].kind).toBeUndefined();
    const scoped = await call(api, 'GET', '/apis/networking.k8s.io/v1/namespaces/other/ingresses');
    expect(scoped.body.items).toHaveLength(1);
  });

  it('filters Secrets by fieldSelector type and labels by labelSelector', async () => {
    api.create(secret('default/tls', { 'tls.crt': 'eA==', 'tls.key': 'eA==' }, 'kubernetes.io/tls', { labels: { app: 'a' } }));
    api.create(secret('default/opaque', {}));
    const tls = await call(api, 'GET', '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls');
    expect(tls.body.items.map((i: any) => i.metadata.name)).toEqual(['tls']);
    const labelled = await call(api, 'GET', '/api/v1/secrets?labelSelector=app%3Da');
    expect(labelled.body.items.map((i: any) => i.metadata.name)).toEqual(['tls']);
  });

  it('streams ADDED/MODIFIED/DELETED from a resourceVersion, with bookmarks and server-side timeouts', async () => {
    const rv = api.resourceVersion;
    const w = await watch(api, `/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`);
    const created = api.create(web());
    api.apply({ ...web(), metadata: { ...web().metadata, labels: { x: 'y' } } });
    api.delete('Ingress', 'default/web');
    api.sendBookmarks();
    await w.waitFor(4);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(w.events[0]!.object.metadata!.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(w.events[3]!.object.metadata!.resourceVersion).toBe(api.resourceVersion);
    await w.ended; // the server ends the watch by itself (timeoutSeconds=1); a hang fails the test's timeout
  });

  it('replays history after an old resourceVersion and sends synthetic ADDED without one', async () => {
    const rv = api.resourceVersion;
    api.create(web());
    const replay = await watch(api, `/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=${rv}`);
    await replay.waitFor(1);
    expect(replay.events[0]!.type).toBe('ADDED');
    const fresh = await watch(api, '/apis/networking.k8s.io/v1/namespaces/default/ingresses?watch=true');
    await fresh.waitFor(1);
    expect(fresh.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'web' } } });
    replay.abort();
    fresh.abort();
  });

  it('answers 410 Expired for compacted resourceVersions, and mid-stream on demand', async () => {
    const old = api.resourceVersion;
    api.create(web());
    api.compact();
    const expired = await watch(api, `/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=${old}`);
    await expired.ended;
    expect(expired.events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);

    const live = await watch(api, `/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=${api.resourceVersion}`);
    api.compact({ notifyWatchers: true });
    await live.ended;
    expect(live.events.at(-1)).toMatchObject({ type: 'ERROR', object: { code: 410 } });
  });

  it('turns selector transitions into ADDED/DELETED', async () => {
    const w = await watch(api, `/api/v1/secrets?watch=1&resourceVersion=${api.resourceVersion}&fieldSelector=type%3Dkubernetes.io%2Ftls`);
    api.create(secret('default/s', {}));
    api.apply(secret('default/s', {}, 'kubernetes.io/tls'));
    api.apply(secret('default/s', {}));
    await w.waitFor(2);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
    w.abort();
  });

  it('keeps status on create and main updates; PUT /status changes only status; 409 on stale resourceVersion', async () => {
    const base = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
    const created = await call(api, 'POST', base, { ...web(), status: { loadBalancer: { ingress: [{ ip: '1.1.1.1' }] } } });
    expect(created.status).toBe(201);
    expect(created.body.status).toBeUndefined();
    expect(created.body.metadata).toMatchObject({ uid: expect.any(String), generation: 1, resourceVersion: expect.any(String) });

    const withStatus = { ...created.body, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } };
    const statusPut = await call(api, 'PUT', `${base}/web/status`, { ...withStatus, spec: { ingressClassName: 'ignored' } });
    expect(statusPut.status).toBe(200);
    expect(statusPut.body.status.loadBalancer.ingress).toEqual([{ ip: '10.0.0.1' }]);
    expect(statusPut.body.spec.ingressClassName).toBe('portico');
    expect(statusPut.body.metadata.generation).toBe(1);

    const stale = await call(api, 'PUT', `${base}/web/status`, withStatus);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });

    const mainPut = await call(api, 'PUT', `${base}/web`, { ...statusPut.body, spec: { ingressClassName: 'other' }, status: {} });
    expect(mainPut.body.status.loadBalancer.ingress).toEqual([{ ip: '10.0.0.1' }]);
    expect(mainPut.body.metadata.generation).toBe(2);
    expect((await call(api, 'PUT', `${base}/nope/status`, { ...withStatus, metadata: { name: 'nope' } })).status).toBe(404);
  });

  it('does Lease optimistic concurrency: create, update, 409 on conflict, 409 AlreadyExists', async () => {
    const base = '/apis/coordination.k8s.io/v1/namespaces/portico/leases';
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'portico-leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } };
    const created = await call(api, 'POST', base, lease);
    expect(created.status).toBe(201);
    expect((await call(api, 'POST', base, lease)).body.reason).toBe('AlreadyExists');
    const got = await call(api, 'GET', `${base}/portico-leader`);
    const first = await call(api, 'PUT', `${base}/portico-leader`, { ...got.body, spec: { ...got.body.spec, holderIdentity: 'b' } });
    expect(first.status).toBe(200);
    const second = await call(api, 'PUT', `${base}/portico-leader`, { ...got.body, spec: { ...got.body.spec, holderIdentity: 'c' } });
    expect(second.status).toBe(409);
    expect(api.get('Lease', 'portico/portico-leader')!.spec).toMatchObject({ holderIdentity: 'b' });
  });

  it('applies merge patches (Events count bumps)', async () => {
    const base = '/api/v1/namespaces/default/events';
    await call(api, 'POST', base, { metadata: { name: 'web.1' }, reason: 'X', message: 'm', count: 1 });
    const patched = await call(api, 'PATCH', `${base}/web.1`, { count: 2, lastTimestamp: '2024-01-01T00:00:00Z' }, 'application/merge-patch+json');
    expect(patched.body).toMatchObject({ reason: 'X', count: 2, lastTimestamp: '2024-01-01T00:00:00Z' });
    expect((await call(api, 'PATCH', `${base}/web.1`, [], 'application/json-patch+json')).status).toBe(415);
  });

  it('injects faults: failNext, dropWatches, stop/restart on the same port with state kept', async () => {
    api.create(service('default/web', [80]));
    api.failNext(2);
    expect((await call(api, 'GET', '/api/v1/services')).status).toBe(500);
    expect((await call(api, 'GET', '/api/v1/services')).status).toBe(500);
    expect((await call(api, 'GET', '/api/v1/services')).status).toBe(200);

    const w = await watch(api, '/api/v1/services?watch=1&resourceVersion=1000');
    expect(api.watchCount('services')).toBe(1);
    expect(api.dropWatches()).toBe(1);
    await w.ended;
    expect(api.watchCount()).toBe(0);

    const port = api.port;
    await api.stop();
    await expect(fetch(`${api.url}/api/v1/services`)).rejects.toThrow();
    await api.restart();
    expect(api.port).toBe(port);
    expect((await call(api, 'GET', '/api/v1/services')).body.items).toHaveLength(1);
  });

  it('records requests by verb and can deny them (403) like RBAC', async () => {
    await api.close();
    api = await FakeApiServer.start({ authorize: (r) => r.verb !== 'create' });
    await call(api, 'GET', '/api/v1/namespaces/default/services');
    const denied = await call(api, 'POST', '/api/v1/namespaces/default/events', { metadata: { name: 'e' } });
    expect(denied.status).toBe(403);
    expect(denied.body.reason).toBe('Forbidden');
    expect(api.requests.map((r) => [r.verb, r.resource, r.namespace, r.status])).toEqual([
      ['list', 'services', 'default', 200],
      ['create', 'events', 'default', 403],
    ]);
  });

  // kubectl ships with the workplace image, not with Debian's repositories: say so when it is absent.
  const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
  if (!hasKubectl) console.warn('kubectl not found on PATH: the kubectl fidelity test is skipped');
  it.skipIf(!hasKubectl)('is what kubectl expects: get ingresses -A -o json and create -f', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-kubectl-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeconfigYaml());
    writeFileSync(
      join(dir, 'ingress.yaml'),
      [
        'apiVersion: networking.k8s.io/v1',
        'kind: Ingress',
        'metadata: {name: created, namespace: team}',
        'spec:',
        '  ingressClassName: portico',
        '  rules: [{host: a.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}}]',
        '',
      ].join('\n'),
    );
    api.create(web());
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), ...args], { env: { ...process.env, HOME: dir, KUBECACHEDIR: join(dir, 'cache') } });

    const created = await kubectl('create', '-f', join(dir, 'ingress.yaml'));
    expect(created.stdout).toContain('ingress.networking.k8s.io/created created');
    expect(api.get('Ingress', 'team/created')!.spec).toMatchObject({ ingressClassName: 'portico' });

    const listed = JSON.parse((await kubectl('--server', api.url, 'get', 'ingresses', '-A', '-o', 'json')).stdout) as { items: any[] };
    expect(listed.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['default/web', 'team/created']);
    expect(listed.items[0]).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', spec: { ingressClassName: 'portico' } });
    expect(api.requests.filter((r) => r.resource === 'ingresses').map((r) => r.verb)).toEqual(['create', 'list']);
  });
});
