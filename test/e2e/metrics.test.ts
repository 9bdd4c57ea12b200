// /metrics on the admin port after real requests through the proxy: Portico's series and
// ingress-nginx's (nginx_ingress_controller_*, as its dashboards query them), on both data planes.
import { connect as h2connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually, httpRequest } from '../helpers/http.js';

const A = 'nginx.ingress.kubernetes.io/';

/** Every sample of `name` whose labels include all of `labels` (as `key="value"`), summed; undefined when none. */
function total(text: string, name: string, labels: Record<string, string>): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (!Object.entries(labels).every(([k, v]) => inner.includes(`${k}="${v}"`) && (inner.startsWith(`${k}="${v}"`) || inner.includes(`,${k}="${v}"`)))) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe.each(DATA_PLANES)('request metrics through the proxy (data plane: %s)', (dataPlane) => {
  let harness: Harness;
  let pods: EchoPod[];
  let canaryPods: EchoPod[];
  const objects = (extraPath?: string) => [
    PORTICO_CLASS,
    ...serviceFor('shop/web', pods),
    ...serviceFor('shop/web-canary', canaryPods),
    ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80), prefix('/api', 'web', 80), ...(extraPath ? [prefix(extraPath, 'web', 80)] : [])])] }),
    ingress('shop/web-canary', {
      className: 'portico',
      annotations: { [`${A}canary`]: 'true', [`${A}canary-by-header`]: 'X-Canary' },
      rules: [rule('shop.example.com', [prefix('/api', 'web-canary', 80)])],
    }),
  ];
  beforeAll(async () => {
    pods = await startEchoPods('web', 1);
    canaryPods = await startEchoPods('web-canary', 1);
    harness = await startHarness({ 'web.yaml': objects() }, { dataPlane, metricsCompat: 'nginx' });
  });
  afterAll(async () => {
    await harness.close();
    await closePods([...pods, ...canaryPods]);
  });
  const scrape = async (): Promise<string> => {
    const res = await httpRequest({ port: harness.running.admin.port, path: '/metrics' });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('labels each request with the Ingress rule (host, path), method, status, backend and canary, with sizes; unmatched requests get empty labels', async () => {
    const body = 'x'.repeat(300);
    for (let i = 0; i < 3; i++) expect((await harness.get('shop.example.com', `/api/items/${i}?q=${i}`)).status).toBe(200);
    const posted = await harness.get('shop.example.com', '/api/orders', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    expect(posted.json?.body).toBe(body);
    const canary = await harness.get('shop.example.com', '/api/items', { headers: { 'x-canary': 'always' } });
    expect(canary.json?.service).toBe('web-canary');
    expect((await harness.get('shop.example.com', '/other/page')).status).toBe(200);
    expect((await harness.get('nowhere.test', '/secret-raw-url-123')).status).toBe(404);
    const route = { namespace: 'shop', ingress: 'web', service: 'web', host: 'shop.example.com' };
    // Counted when the response has ended, which may be just after the client has it all.
    const text = await eventually(async () => {
      const t = await scrape();
      return total(t, 'nginx_ingress_controller_requests', { status: '404' }) === 1 && total(t, 'nginx_ingress_controller_requests', {}) === 7 ? t : undefined;
    }, 3000, 'all 7 requests counted');
    expect(total(text, 'nginx_ingress_controller_requests', { ...route, status: '200', method: 'GET', path: '/api', canary: '' })).toBe(3);
    expect(total(text, 'nginx_ingress_controller_requests', { ...route, status: '200', method: 'POST', path: '/api', canary: '' })).toBe(1);
    expect(total(text, 'nginx_ingress_controller_requests', { ...route, status: '200', method: 'GET', path: '/api', canary: 'web-canary' })).toBe(1);
    expect(total(text, 'nginx_ingress_controller_requests', { ...route, status: '200', method: 'GET', path: '/' })).toBe(1);
    expect(total(text, 'nginx_ingress_controller_requests', { status: '404', method: 'GET', path: '', namespace: '', ingress: '', service: '', canary: '', host: '' })).toBe(1);
    expect(text).not.toContain('nowhere.test');
    expect(text).not.toContain('secret-raw-url');
    expect(text).not.toContain('/api/items');
    expect(text).toMatch(/nginx_ingress_controller_requests\{[^}]*controller_class="portico.dev\/ingress-controller",controller_namespace="[^"]+",controller_pod="[^"]+"\} 3/);
    // The POST's request size counts its 300-byte body; every response counts at least its body.
    const post = { ...route, status: '200', method: 'POST', path: '/api' };
    expect(total(text, 'nginx_ingress_controller_request_size_sum', post)).toBeGreaterThan(300);
    expect(total(text, 'nginx_ingress_controller_response_size_sum', post)).toBeGreaterThan(Buffer.byteLength(posted.body));
    expect(total(text, 'nginx_ingress_controller_bytes_sent_count', post)).toBe(1);
    expect(total(text, 'nginx_ingress_controller_request_duration_seconds_count', { ...route, method: 'GET', path: '/api', canary: '' })).toBe(3);
    expect(total(text, 'nginx_ingress_controller_response_duration_seconds_count', { ...route, method: 'GET', path: '/api', canary: '' })).toBe(3);
    expect(total(text, 'nginx_ingress_controller_response_duration_seconds_count', { status: '404' })).toBeUndefined();
    // Portico's own: the backend that served, and sizes.
    expect(total(text, 'portico_requests_total', { ingress: 'web', namespace: 'shop', service: 'web-canary' })).toBe(1);
    expect(total(text, 'portico_request_size_bytes_sum', { ingress: 'web', namespace: 'shop', service: 'web' })).toBeGreaterThan(300);
    expect(total(text, 'portico_response_size_bytes_count', { ingress: 'web', namespace: 'shop', service: 'web' })).toBe(5);
  });

  it.runIf(dataPlane === 'engine')('counts HTTP/2 requests (h2c) the same way, sizes in body bytes', async () => {
    const labels = { namespace: 'shop', ingress: 'web', service: 'web', host: 'shop.example.com', status: '200', method: 'PUT', path: '/api', canary: '' };
    expect(total(await scrape(), 'nginx_ingress_controller_requests', labels)).toBeUndefined();
    const session = h2connect(`http://127.0.0.1:${harness.port}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'PUT', ':path': '/api/h2', ':authority': 'shop.example.com' });
        let code = 0;
        stream.on('response', (headers) => (code = Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.on('end', () => resolve(code));
        stream.end(Buffer.alloc(1_000, 7));
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
    const text = await eventually(async () => {
      const t = await scrape();
      return total(t, 'nginx_ingress_controller_requests', labels) === 1 ? t : undefined;
    }, 3000, 'the HTTP/2 request counted');
    expect(total(text, 'nginx_ingress_controller_request_size_sum', labels)).toBe(1_000);
    expect(total(text, 'nginx_ingress_controller_response_size_sum', labels)).toBeGreaterThan(1_000); // the echo's JSON carries the body
  });

  it('exports build info and the configuration hash; a route change is a reload with a new hash, an endpoint change is none', async () => {
    let text = await scrape();
    expect(text).toMatch(/^portico_build_info\{version="\d+\.\d+\.\d+[^"]*",commit="[0-9a-f]*",node="v\d+[^"]*"\} 1$/m);
    expect(text).toMatch(/^nginx_ingress_controller_build_info\{[^}]*release="\d+\.\d+\.\d+[^"]*"[^}]*\} 1$/m);
    expect(text).toMatch(/^nginx_ingress_controller_config_last_reload_successful\{[^}]*\} 1$/m);
    const hashOf = (t: string) => Number(/^nginx_ingress_controller_config_hash\{[^}]*\} (\d+)$/m.exec(t)?.[1]);
    const reloadsOf = (t: string) => Number(/^nginx_ingress_controller_success\{[^}]*\} (\d+)$/m.exec(t)?.[1]);
    const hash = hashOf(text);
    const reloads = reloadsOf(text);
    expect(hash).toBeGreaterThan(0);
    expect(text).toContain(`portico_config_hash ${hash}`);
    expect(reloads).toBeGreaterThanOrEqual(1);
    const at = Number(/^nginx_ingress_controller_config_last_reload_successful_timestamp_seconds\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
    expect(Math.abs(at - Date.now() / 1000)).toBeLessThan(120);

    await harness.write('web.yaml', objects('/new'));
    text = await eventually(async () => {
      const t = await scrape();
      return hashOf(t) !== hash ? t : undefined;
    }, 5000, 'a new config hash');
    expect(reloadsOf(text)).toBe(reloads + 1);
    const newHash = hashOf(text);

    // An endpoint-only change (a second web pod): served without a reload, the hash stays.
    const more = await startEchoPods('web', 2);
    try {
      const rebuildsBefore = total(text, 'portico_rebuilds_total', { kind: 'endpoints' }) ?? 0;
      await harness.write('web.yaml', [...objects('/new').filter((o) => !(o.kind === 'EndpointSlice' && o.metadata.namespace === 'shop' && o.metadata.name?.startsWith('web') && !o.metadata.name.includes('canary'))), ...serviceFor('shop/web', more).filter((o) => o.kind === 'EndpointSlice')]);
      text = await eventually(async () => {
        const t = await scrape();
        return (total(t, 'portico_rebuilds_total', { kind: 'endpoints' }) ?? 0) > rebuildsBefore ? t : undefined;
      }, 5000, 'an endpoints rebuild');
      expect(hashOf(text)).toBe(newHash);
      expect(reloadsOf(text)).toBe(reloads + 1);
    } finally {
      await closePods(more);
    }
  });
});
