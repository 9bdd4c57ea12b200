// The admin port's debug dumps, against a running controller.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exact, ingress, prefix, rule, backend, service } from '../helpers/objects.js';
import { closePods, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { httpRequest } from '../helpers/http.js';

describe('admin debug views', () => {
  let harness: Harness;
  let pods: EchoPod[];
  beforeAll(async () => {
    pods = await startEchoPods('web', 2);
    harness = await startHarness({
      'web.yaml': [
        PORTICO_CLASS,
        ...serviceFor('shop/web', pods),
        service('shop/empty', [80]),
        ingress('shop/web', {
          className: 'portico',
          rules: [
            rule('shop.example.com', [prefix('/', 'web', 80), exact('/health', 'empty', 80)]),
            rule(undefined, [prefix('/any', 'web', 80)]),
          ],
          defaultBackend: backend('missing', 80),
          tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
          annotations: { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' },
        }),
      ],
    });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods);
  });
  const view = async (path: string) => {
    const res = await httpRequest({ port: harness.running.admin.port, path });
    expect(res.status).toBe(200);
    return JSON.parse(res.body) as Record<string, unknown>;
  };

  it('/debug/routes lists the compiled table (as the model sorts it) with backend and policy', async () => {
    const { routes } = (await view('/debug/routes')) as { routes: Array<Record<string, unknown>> };
    expect(routes).toEqual([
      { host: 'shop.example.com', path: '/', pathType: 'Prefix', backend: 'shop/web/80', ingress: 'shop/web', policy: { sslRedirect: true, tlsSecret: 'shop/shop-tls' } },
      { host: 'shop.example.com', path: '/health', pathType: 'Exact', backend: 'shop/empty/80', ingress: 'shop/web', policy: { sslRedirect: true, tlsSecret: 'shop/shop-tls' } },
      { host: null, path: '/any', pathType: 'Prefix', backend: 'shop/web/80', ingress: 'shop/web', policy: { sslRedirect: true } },
      { host: null, path: null, pathType: 'Default', backend: 'shop/missing/80', ingress: 'shop/web', policy: { sslRedirect: false } },
    ]);
  });

  it('/debug/backends gives each backend its endpoints with state, or the reason it has none', async () => {
    const { backends } = (await view('/debug/backends')) as { backends: Array<Record<string, unknown>> };
    expect(backends.map((b) => b.backend)).toEqual(['shop/empty/80', 'shop/missing/80', 'shop/web/80']);
    expect(backends[0]).toMatchObject({ problem: { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS' }, endpoints: [] });
    expect(backends[1]).toMatchObject({ problem: { code: 'PORTICO_ERR_BACKEND_SERVICE_MISSING' }, endpoints: [] });
    expect(backends[2]).toMatchObject({ service: 'web', port: 80 });
    expect(backends[2]!.endpoints).toEqual(
      pods.map((pod, i) => ({ address: '127.0.0.1', port: pod.port, state: 'ready', pod: `web-${i}` })).sort((a, b) => a.port - b.port),
    );
  });

  it('/debug/ indexes every admin endpoint', async () => {
    const { endpoints } = (await view('/debug/')) as { endpoints: Record<string, string> };
    expect(Object.keys(endpoints).sort()).toEqual(['/debug/backends', '/debug/certificates', '/debug/routes', '/debug/stats', '/healthz', '/metrics', '/readyz']);
    for (const path of Object.keys(endpoints)) expect((await httpRequest({ port: harness.running.admin.port, path })).status, path).toBe(200);
  });
});
