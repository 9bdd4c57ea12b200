import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { isDeclaredApiCall, RESOURCES, type ApiResource } from '../../src/k8s/api-access.js';
import { isResourceExpired, KubeApiError, KubeClient, loadKubeConfig } from '../../src/k8s/kube-client.js';
import { PorticoError } from '../../src/lib/errors.js';
import { service } from '../helpers/objects.js';
import { FakeApiServer } from './fake-api-server.js';

describe('KubeClient', () => {
  let api: FakeApiServer;
  afterEach(async () => {
    await api?.close();
  });

  it('lists raw JSON objects (timestamps stay strings, unknown fields kept) and reports API errors as KubeApiError', async () => {
    api = await FakeApiServer.start();
    api.create({ ...service('default/web', [80]), spec: { ports: [{ port: 80 }], futureField: { x: 1 } } });
    const client = new KubeClient(api.kubeConfig());
    const { items, resourceVersion } = await client.list(RESOURCES.services);
    expect(resourceVersion).toBe(api.resourceVersion);
    expect(items[0]).toMatchObject({ metadata: { creationTimestamp: expect.any(String) }, spec: { futureField: { x: 1 } } });
    const error = await client.get(RESOURCES.leases, { namespace: 'portico', name: 'nope' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 404, reason: 'NotFound' });
  });

  it('reports an unreachable server as status 0', async () => {
    api = await FakeApiServer.start();
    const client = new KubeClient(api.kubeConfig());
    await api.stop();
    const error = await client.list(RESOURCES.services).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'KubeApiError', status: 0, reason: 'Unreachable' });
  });

  it('turns a watch ERROR 410 into an expired error', async () => {
    api = await FakeApiServer.start();
    api.create(service('default/web', [80]));
    api.compact();
    const client = new KubeClient(api.kubeConfig());
    const error = await client
      .watch(RESOURCES.services, { resourceVersion: '1', timeoutSeconds: 5, signal: new AbortController().signal, onEvent: () => undefined })
      .catch((e: unknown) => e);
    expect(isResourceExpired(error)).toBe(true);
  });

  it('refuses calls missing from REQUIRED_API_ACCESS', async () => {
    api = await FakeApiServer.start();
    const client = new KubeClient(api.kubeConfig());
    const pods: ApiResource = { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true };
    await expect(client.list(pods)).rejects.toMatchObject({ code: 'PORTICO_ERR_K8S_ACCESS_UNDECLARED' });
    await expect(client.get(RESOURCES.ingresses, { namespace: 'a', name: 'b' })).rejects.toBeInstanceOf(PorticoError);
    expect(api.requests).toEqual([]);
    expect(isDeclaredApiCall({ verb: 'update', group: 'networking.k8s.io', resource: 'ingresses', subresource: 'status', namespace: 'a', name: 'b' })).toBe(true);
    expect(isDeclaredApiCall({ verb: 'update', group: 'networking.k8s.io', resource: 'ingresses', namespace: 'a', name: 'b' })).toBe(false);
    expect(isDeclaredApiCall({ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'portico', name: 'x' }, { electionId: 'portico-leader' })).toBe(false);
  });

  it('works with a plain-http server without insecure-skip-tls-verify (kubectl proxy)', async () => {
    api = await FakeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'portico-kubeconfig-'));
    const file = join(dir, 'config');
    writeFileSync(file, api.kubeconfigYaml({ namespace: 'team' }).replace('    insecure-skip-tls-verify: true\n', ''));
    const client = new KubeClient(loadKubeConfig({ kubeconfigPath: file }));
    expect(client.server).toBe(api.url);
    expect(client.contextNamespace).toBe('team');
    expect((await client.list(RESOURCES.ingresses)).items).toEqual([]);
  });
});

describe('loadKubeConfig', () => {
  it('reports a missing --kubeconfig file as PORTICO_ERR_K8S_CONFIG', () => {
    expect(() => loadKubeConfig({ kubeconfigPath: '/nonexistent/kubeconfig' })).toThrow(
      expect.objectContaining({ code: 'PORTICO_ERR_K8S_CONFIG' }),
    );
  });

  it('with no --kubeconfig, no KUBECONFIG, no ~/.kube/config and no pod, names every place it looked (never localhost:8080)', () => {
    const home = mkdtempSync(join(tmpdir(), 'portico-home-'));
    let error: unknown;
    try {
      loadKubeConfig({ env: {}, homeDir: home });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'PORTICO_ERR_K8S_CONFIG' });
    const message = (error as Error).message;
    for (const place of ['--kubeconfig', 'KUBECONFIG', join(home, '.kube', 'config'), 'KUBERNETES_SERVICE_HOST']) expect(message).toContain(place);
  });

  it('reads KUBECONFIG from the given environment, then ~/.kube/config', async () => {
    const api = await FakeApiServer.start();
    onTestFinished(() => api.close());
    const dir = mkdtempSync(join(tmpdir(), 'portico-kubeconfig-'));
    const file = join(dir, 'config');
    writeFileSync(file, api.kubeconfigYaml({ namespace: 'team' }));
    expect(new KubeClient(loadKubeConfig({ env: { KUBECONFIG: file }, homeDir: '/nonexistent' })).server).toBe(api.url);
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube', 'config'), api.kubeconfigYaml({ namespace: 'home' }));
    expect(new KubeClient(loadKubeConfig({ env: {}, homeDir: dir })).contextNamespace).toBe('home');
    expect(() => loadKubeConfig({ env: { KUBECONFIG: join(dir, 'missing') }, homeDir: dir })).toThrow(
      expect.objectContaining({ code: 'PORTICO_ERR_K8S_CONFIG', message: expect.stringContaining(join(dir, 'missing')) }),
    );
  });
});
