import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { backend, ingress, prefix, rule, service } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';

describe.each(DATA_PLANES)('serving through the controller (data plane: %s)', (dataPlane) => {
  let harness: Harness;
  let pods: { web: EchoPod[]; named: EchoPod[]; many: EchoPod[]; fallback: EchoPod[] };

  beforeAll(async () => {
    pods = {
      web: await startEchoPods('web', 2),
      named: await startEchoPods('named', 1),
      many: await startEchoPods('many', 10),
      fallback: await startEchoPods('fallback', 1),
    };
    harness = await startHarness({
      '00-class.yaml': [PORTICO_CLASS],
      'web.yaml': [
        ...serviceFor('shop/web', pods.web),
        ...serviceFor('shop/named', pods.named, { portName: 'http', servicePort: 8080 }),
        ...serviceFor('shop/many', pods.many),
        service('shop/empty', [80]),
        ingress('shop/web', {
          className: 'portico',
          rules: [
            rule('shop.example.com', [
              prefix('/', 'web', 80),
              prefix('/named', 'named', 'http'),
              prefix('/many', 'many', 80),
              prefix('/missing', 'does-not-exist', 80),
              prefix('/empty', 'empty', 80),
              prefix('/wrong-port', 'web', 81),
            ]),
          ],
        }),
      ],
    }, { dataPlane });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(Object.values(pods).flat());
  });

  it('routes by host and path, passing method, path+query, host and body unchanged', async () => {
    const body = JSON.stringify({ order: 42, note: 'ünïcode' });
    const res = await harness.get('shop.example.com', '/cart/items?id=7&sort=desc&x=%2F%20', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-custom': 'kept' },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      service: 'web',
      method: 'POST',
      path: '/cart/items?id=7&sort=desc&x=%2F%20',
      host: 'shop.example.com',
      body,
    });
    expect(res.json?.headers['x-custom']).toBe('kept');
    expect(res.json?.headers['x-forwarded-host']).toBe('shop.example.com');
    expect(res.json?.headers['x-forwarded-proto']).toBe('http');
    expect(res.json?.headers['x-real-ip']).toBe('127.0.0.1');
  });

  it('selects the Service port by name', async () => {
    const res = await harness.get('shop.example.com', '/named/x');
    expect(res.status).toBe(200);
    expect(res.json?.pod).toBe('named-0');
  });

  it('spreads traffic over all 10 endpoints within 100 requests', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const res = await harness.get('shop.example.com', '/many');
      expect(res.status).toBe(200);
      seen.add(res.json?.pod ?? '');
    }
    expect([...seen].sort()).toEqual(pods.many.map((_, i) => `many-${i}`).sort());
  });

  it('answers 404 where no rule matches and there is no default backend', async () => {
    const res = await harness.get('other.example.com', '/');
    expect(res.status).toBe(404);
    expect(res.headers.server).toBe('portico');
  });

  it.each([
    ['a missing Service', '/missing'],
    ['a Service without endpoints', '/empty'],
    ['an unknown Service port', '/wrong-port'],
  ])('answers 503 for %s', async (_name, path) => {
    const res = await harness.get('shop.example.com', path);
    expect(res.status).toBe(503);
    expect(res.headers.server).toBe('portico');
  });

  it('sends a defaultBackend-only Ingress every unmatched request', async () => {
    await harness.write('fallback.yaml', [
      ...serviceFor('shop/fallback', pods.fallback),
      ingress('shop/fallback', { className: 'portico', defaultBackend: backend('fallback', 80) }),
    ]);
    const res = await (async () => {
      for (let i = 0; i < 200; i++) {
        const r = await harness.get('other.example.com', '/anything?x=1');
        if (r.status === 200) return r;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('defaultBackend never served');
    })();
    expect(res.json).toMatchObject({ pod: 'fallback-0', path: '/anything?x=1', host: 'other.example.com' });
    // Rules still win over the default backend.
    expect((await harness.get('shop.example.com', '/')).json?.service).toBe('web');
    await harness.remove('fallback.yaml');
  });

  it('proxies WebSocket upgrades both ways', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${harness.port}/named/socket`, { headers: { host: 'shop.example.com' } });
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => {
        ws.send('hello');
        ws.send('world');
      });
      ws.on('message', (data) => {
        messages.push(String(data));
        if (messages.length === 2) resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(messages).toEqual(['hello', 'world']);
  });
});
