// --configmap in manifest mode: the ingress-nginx ConfigMap's defaults reach the proxy, and a change
// (or its deletion) applies without a restart.
import { connect as h2connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { configMap, ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually } from '../helpers/http.js';
import { httpsRequest } from '../helpers/tls-client.js';

const CM = 'ingress-nginx/ingress-nginx-controller';
const DEFAULT_HSTS = 'max-age=31536000; includeSubDomains';

describe.each(DATA_PLANES)('--configmap (data plane: %s)', (dataPlane) => {
  let harness: Harness | undefined;
  let pods: EchoPod[] = [];
  afterEach(async () => {
    await harness?.close();
    await closePods(pods);
    harness = undefined;
    pods = [];
  });

  const web = ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] });
  const big = 'x'.repeat(3000);

  it('applies the ConfigMap, its changes and its deletion without a restart', async () => {
    pods = await startEchoPods('web', 1);
    harness = await startHarness(
      {
        'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), web],
        'configmap.yaml': [
          configMap(CM, { 'proxy-body-size': '1k', 'hsts-max-age': '600', 'proxy-set-headers': 'ingress-nginx/upstream', 'add-headers': 'ingress-nginx/response', 'worker-processes': '4' }),
          configMap('ingress-nginx/upstream', { 'X-Team': 'shop' }),
          configMap('ingress-nginx/response', { 'X-Frame-Options': 'DENY' }),
        ],
      },
      { compile: { configMap: CM }, dataPlane },
    );
    const h = harness;
    const post = (body: string) => h.get('web.example.com', '/upload', { method: 'POST', body, headers: { 'content-type': 'text/plain', 'x-team': 'client' } });
    const hsts = async () => (await httpsRequest({ port: h.tlsPort, servername: 'web.example.com' })).headers['strict-transport-security'];

    expect((await post(big)).status).toBe(413);
    const small = await post('small');
    expect(small.status).toBe(200);
    expect(small.json?.headers['x-team']).toBe('shop'); // proxy-set-headers replaces the client's field
    expect(small.headers['x-frame-options']).toBe('DENY');
    expect(await hsts()).toBe('max-age=600; includeSubDomains');
    expect(h.log.lines.find((l) => l.code === 'PORTICO_ERR_CONFIGMAP_UNSUPPORTED')?.msg).toContain('worker-processes');

    const port = h.running.http.port;
    await h.write('configmap.yaml', [
      configMap(CM, { 'proxy-body-size': '4k', hsts: 'false', 'proxy-set-headers': 'ingress-nginx/upstream' }),
      configMap('ingress-nginx/upstream', { 'X-Team': 'ops' }),
    ]);
    await eventually(async () => (await post(big)).status === 200, 10_000, 'the new proxy-body-size applied');
    const changed = await post('small');
    expect(changed.json?.headers['x-team']).toBe('ops');
    expect(changed.headers['x-frame-options']).toBeUndefined();
    expect(await hsts()).toBeUndefined();

    // Deleted: back to the defaults (1m, the flags' HSTS, no added fields), and a warning.
    await h.remove('configmap.yaml');
    await eventually(async () => (await hsts()) === DEFAULT_HSTS, 10_000, 'the defaults back');
    const back = await post(big);
    expect(back.status).toBe(200);
    expect(back.json?.headers['x-team']).toBe('client');
    expect(h.log.lines.some((l) => l.code === 'PORTICO_ERR_CONFIGMAP_MISSING')).toBe(true);
    expect(h.running.http.port).toBe(port);
  });

  it('an annotation beats the ConfigMap', async () => {
    pods = await startEchoPods('web', 1);
    const annotated = ingress('shop/big', { className: 'portico', annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '8k' }, rules: [rule('big.example.com', [prefix('/', 'web', 80)])] });
    harness = await startHarness({ 'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), web, annotated, configMap(CM, { 'proxy-body-size': '1k' })] }, { compile: { configMap: CM }, dataPlane });
    const h = harness;
    expect((await h.get('web.example.com', '/', { method: 'POST', body: big })).status).toBe(413);
    expect((await h.get('big.example.com', '/', { method: 'POST', body: big })).status).toBe(200);
  });
});

describe.each(DATA_PLANES)('--configmap: log-format-upstream (data plane: %s)', (dataPlane) => {
  it('picks the access-log fields at runtime, and all of them again without it', async () => {
    const pods = await startEchoPods('web', 1);
    const web = ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] });
    const harness = await startHarness({ 'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), web], 'configmap.yaml': [configMap(CM, { 'log-format-upstream': '$remote_addr "$request" $status $request_uri' })] }, { compile: { configMap: CM }, dataPlane });
    try {
      const lineFor = (path: string) => harness.log.lines.findLast((l) => l['log'] === 'access' && l['path'] === path);
      await eventually(async () => {
        await harness.get('web.example.com', '/few');
        return lineFor('/few') !== undefined;
      }, 5000, 'an access line');
      const few = lineFor('/few')!;
      expect(Object.keys(few).filter((k) => !['level', 'time', 'log'].includes(k))).toEqual(['client', 'status', 'path']);
      await harness.write('configmap.yaml', [configMap(CM, {})]);
      await eventually(async () => {
        await harness.get('web.example.com', '/all');
        return lineFor('/all')?.['method'] === 'GET';
      }, 5000, 'every field again');
    } finally {
      await harness.close();
      await closePods(pods);
    }
  });
});

describe('--default-backend-service and the ConfigMap custom-http-errors (engine)', () => {
  it('sends unmatched requests to the default backend, and a listed upstream status to it with X-Code', async () => {
    const web = await startEchoPods('web', 1);
    const errors = await startEchoPods('errors', 1);
    const harness = await startHarness(
      {
        'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', web), ...serviceFor('shop/errors', errors), ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] })],
        'configmap.yaml': [configMap(CM, { 'custom-http-errors': '503' })],
      },
      { compile: { configMap: CM, defaultBackendService: 'shop/errors' }, dataPlane: 'engine' },
    );
    try {
      const unmatched = await eventually(async () => {
        const r = await harness.get('nowhere.example.com', '/missing');
        return r.status === 200 && r;
      }, 5000, 'the default backend serving unmatched requests');
      expect((JSON.parse(unmatched.body) as { pod: string }).pod).toBe('errors-0');
      const intercepted = await harness.get('web.example.com', '/status/503');
      const echo = JSON.parse(intercepted.body) as { pod: string; headers: Record<string, string> };
      expect(echo.pod).toBe('errors-0');
      expect(echo.headers['x-code']).toBe('503');
      expect(echo.headers['x-service-name']).toBe('web');
      // Other statuses are the upstream's.
      expect((await harness.get('web.example.com', '/status/404')).status).toBe(404);
      // The same over HTTP/2 (h2c): the controller's default backend answers the listed status.
      const session = h2connect(`http://127.0.0.1:${harness.port}`);
      try {
        const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ':path': '/status/503', ':authority': 'web.example.com' });
          let status = 0;
          let body = '';
          stream.on('response', (fields) => (status = Number(fields[':status'])));
          stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
          stream.on('end', () => resolve({ status, body }));
          stream.on('error', reject);
        });
        const page = JSON.parse(h2.body) as { pod: string; headers: Record<string, string> };
        expect([h2.status, page.pod, page.headers['x-code'], page.headers['x-service-name']]).toEqual([200, 'errors-0', '503', 'web']);
      } finally {
        session.close();
      }
    } finally {
      await harness.close();
      await closePods([...web, ...errors]);
    }
  });
});

describe('--configmap: use-forwarded-headers / proxy-real-ip-cidr (engine)', () => {
  it('takes the client from X-Forwarded-For of a trusted peer for access lists, X-Real-IP and the access log, passes its X-Forwarded-*, and stops when the ConfigMap does', async () => {
    const pods = await startEchoPods('web', 1);
    const secure = ingress('shop/secure', { className: 'portico', annotations: { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' }, rules: [rule('web.example.com', [prefix('/secure', 'web', 80)])] });
    const guarded = ingress('shop/guarded', { className: 'portico', annotations: { 'nginx.ingress.kubernetes.io/whitelist-source-range': '203.0.113.0/24' }, rules: [rule('web.example.com', [prefix('/guarded', 'web', 80)])] });
    const web = ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] });
    const harness = await startHarness(
      {
        'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), web, guarded, secure],
        // The test client (127.0.0.1) is the trusted proxy in front.
        'configmap.yaml': [configMap(CM, { 'use-forwarded-headers': 'true', 'proxy-real-ip-cidr': '127.0.0.1/32' })],
      },
      { compile: { configMap: CM }, dataPlane: 'engine' },
    );
    try {
      const headers = { 'x-forwarded-for': '198.51.100.1, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' };
      const echo = await eventually(async () => {
        const r = await harness.get('web.example.com', '/who', { headers });
        const e = JSON.parse(r.body) as { headers: Record<string, string> };
        return e.headers['x-real-ip'] === '203.0.113.7' && e;
      }, 5000, 'the real IP in use');
      expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7');
      expect(echo.headers['x-forwarded-proto']).toBe('https');
      expect(echo.headers['x-forwarded-port']).toBe('443');
      // The access list sees the real client: in the allowed range only through the header.
      expect((await harness.get('web.example.com', '/guarded', { headers })).status).toBe(200);
      expect((await harness.get('web.example.com', '/guarded', { headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' } })).status).toBe(403);
      expect((await harness.get('web.example.com', '/guarded')).status).toBe(403);
      // A load balancer in front terminated TLS: force-ssl-redirect believes its X-Forwarded-Proto (no loop).
      expect((await harness.get('web.example.com', '/secure', { headers })).status).toBe(200);
      expect((await harness.get('web.example.com', '/secure', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(308);
      const line = harness.log.lines.find((l) => l['path'] === '/who' && l['client'] === '203.0.113.7');
      expect(line).toBeDefined();
      // HTTP/2 (h2c) takes the same client.
      const session = h2connect(`http://127.0.0.1:${harness.port}`);
      const h2 = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/who-h2', ':authority': 'web.example.com', ...headers });
        let body = '';
        stream.on('data', (c: Buffer) => (body += c));
        stream.on('end', () => resolve(body));
        stream.on('error', reject);
      });
      session.close();
      expect((JSON.parse(h2) as { headers: Record<string, string> }).headers['x-real-ip']).toBe('203.0.113.7');
      // An entry with a port (a load balancer that appends ip:port) is that address, as nginx reads it.
      const ported = JSON.parse((await harness.get('web.example.com', '/who-port', { headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7:4711' } })).body) as { headers: Record<string, string> };
      expect([ported.headers['x-real-ip'], ported.headers['x-forwarded-for']]).toEqual(['203.0.113.7', '203.0.113.7']);
      // Without the ConfigMap keys the header is the client's to forge again: ignored.
      await harness.write('configmap.yaml', [configMap(CM, {})]);
      await eventually(async () => (await harness.get('web.example.com', '/guarded', { headers })).status === 403, 5000, 'trust withdrawn');
      const plain = JSON.parse((await harness.get('web.example.com', '/who', { headers })).body) as { headers: Record<string, string> };
      expect([plain.headers['x-real-ip'], plain.headers['x-forwarded-for'], plain.headers['x-forwarded-proto']]).toEqual(['127.0.0.1', '127.0.0.1', 'http']);
    } finally {
      await harness.close();
      await closePods(pods);
    }
  });
});
