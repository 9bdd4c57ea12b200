import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PorticoMetrics } from '../../src/metrics/metrics.js';
import type { RouteMatch } from '../../src/model/route-model.js';

const match = (ingress: string, service: string, namespace = 'default'): RouteMatch => ({
  ingress: `${namespace}/${ingress}`,
  backend: { key: `${namespace}/${service}/80`, namespace, service, port: 80 },
});

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('PorticoMetrics', () => {
  it('counts requests by ingress, namespace, service and status class, with duration histograms', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false });
    const web = match('web', 'web-svc', 'shop');
    metrics.observeRequest(web, 200, 0.004, 0.003);
    metrics.observeRequest(web, 204, 0.02, 0.01);
    metrics.observeRequest(web, 502, 0.5, undefined);
    metrics.observeRequest(web, 499, 1, 0.9);
    metrics.observeRequest(undefined, 404, 0.0001);
    const text = await metrics.render();
    const labels = 'ingress="web",namespace="shop",service="web-svc"';
    expect(sample(text, 'portico_requests_total', `${labels},status_class="2xx"`)).toBe(2);
    expect(sample(text, 'portico_requests_total', `${labels},status_class="5xx"`)).toBe(1);
    expect(sample(text, 'portico_requests_total', `${labels},status_class="4xx"`)).toBe(1);
    expect(sample(text, 'portico_requests_total', 'ingress="",namespace="",service="",status_class="4xx"')).toBe(1);
    expect(sample(text, 'portico_request_duration_seconds_count', labels)).toBe(4);
    expect(sample(text, 'portico_request_duration_seconds_bucket', `le="0.005",${labels}`)).toBe(1);
    expect(sample(text, 'portico_upstream_duration_seconds_count', labels)).toBe(3);
    expect(metrics.contentType).toContain('text/plain');
  });

  it('records rebuilds, last sync, informer restarts, leadership and status writes', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false });
    metrics.declareInformers(['Ingress', 'Service']);
    metrics.observeRebuild('routes', 0.003);
    metrics.observeRebuild('endpoints', 0.0002);
    metrics.observeRebuild('endpoints', 0.0002);
    metrics.setLastSync(1_700_000_000_500);
    metrics.informerRestarted('Ingress');
    metrics.setLeader(true);
    metrics.statusWrite(true);
    const text = await metrics.render();
    expect(sample(text, 'portico_rebuilds_total', 'kind="routes"')).toBe(1);
    expect(sample(text, 'portico_rebuilds_total', 'kind="endpoints"')).toBe(2);
    expect(sample(text, 'portico_rebuild_duration_seconds_count', 'kind="routes"')).toBe(1);
    expect(text).toContain('portico_last_sync_timestamp_seconds 1700000000.5');
    expect(sample(text, 'portico_informer_restarts_total', 'kind="Ingress"')).toBe(1);
    expect(sample(text, 'portico_informer_restarts_total', 'kind="Service"')).toBe(0);
    expect(text).toContain('portico_leader 1');
    expect(sample(text, 'portico_status_writes_total', 'result="ok"')).toBe(1);
  });

  it('includes the standard process metrics', async () => {
    const text = await new PorticoMetrics().render();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('drops the series of Ingresses that are gone', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false });
    metrics.observeRequest(match('a', 'svc'), 200, 0.01);
    metrics.observeRequest(match('b', 'svc'), 200, 0.01);
    metrics.observeRequest(undefined, 404, 0.01);
    metrics.retainIngresses(['default/a']);
    const text = await metrics.render();
    expect(text).toContain('ingress="a"');
    expect(text).not.toContain('ingress="b"');
    expect(text).toContain('ingress="",namespace=""');
    metrics.observeRequest(match('b', 'svc'), 200, 0.01); // comes back cleanly
    expect(sample(await metrics.render(), 'portico_requests_total', 'ingress="b",namespace="default",service="svc",status_class="2xx"')).toBe(1);
  });

  it('renders exactly what prom-client renders for the same calls, also after remove and reset', async () => {
    // The request series add to prom-client's own entries (metrics.ts): the same text must come out.
    const metrics = new PorticoMetrics({ defaultMetrics: false });
    const registry = new Registry();
    const routeLabels = ['ingress', 'namespace', 'service'] as const;
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    const requests = new Counter({ name: 'portico_requests_total', help: 'x', labelNames: [...routeLabels, 'status_class'], registers: [registry] });
    const duration = new Histogram({ name: 'portico_request_duration_seconds', help: 'x', labelNames: routeLabels, buckets, registers: [registry] });
    const upstream = new Histogram({ name: 'portico_upstream_duration_seconds', help: 'x', labelNames: routeLabels, buckets, registers: [registry] });
    const both = (m: RouteMatch | undefined, status: number, seconds: number, upstreamSeconds?: number): void => {
      metrics.observeRequest(m, status, seconds, upstreamSeconds);
      const [ingress, namespace, service] = m === undefined ? ['', '', ''] : [m.ingress!.split('/')[1]!, m.backend.namespace, m.backend.service];
      requests.inc({ ingress, namespace, service, status_class: `${Math.floor(status / 100)}xx` });
      duration.observe({ ingress, namespace, service }, seconds);
      if (upstreamSeconds !== undefined) upstream.observe({ ingress, namespace, service }, upstreamSeconds);
    };
    const series = (text: string): string =>
      text.split('\n').filter((l) => /^portico_(requests_total|request_duration_seconds|upstream_duration_seconds)[_{ ]/.test(l)).join('\n');
    const a = match('a', 'svc-a');
    const b = match('b', 'svc-b', 'shop');
    const calls = (): void => {
      for (let i = 0; i < 200; i++) both(i % 3 === 0 ? b : a, [200, 301, 404, 502, 204][i % 5]!, [0.0001, 0.001, 0.004, 0.3, 10, 12][i % 6]! * (1 + i / 1000), i % 4 === 0 ? undefined : 0.0025);
      both(undefined, 404, 0.002);
    };
    calls();
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    // Ingress b gone (its series removed from prom-client's maps), then back.
    metrics.retainIngresses(['default/a']);
    for (const statusClass of ['1xx', '2xx', '3xx', '4xx', '5xx']) requests.remove({ ingress: 'b', namespace: 'shop', service: 'svc-b', status_class: statusClass });
    duration.remove({ ingress: 'b', namespace: 'shop', service: 'svc-b' });
    upstream.remove({ ingress: 'b', namespace: 'shop', service: 'svc-b' });
    calls();
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    // A registry reset (new maps inside prom-client): the cached entries must not be written to.
    metrics.registry.resetMetrics();
    registry.resetMetrics();
    calls();
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    expect(sample(await metrics.render(), 'portico_request_duration_seconds_count', 'ingress="a",namespace="default",service="svc-a"')).toBe(133);
  });

  it('counts every hot-path call into its cached (ingress, service, class) child', async () => {
    // Per-call cost is bench/metrics/observe-request.bench.js's business, not a timed unit test.
    const metrics = new PorticoMetrics({ defaultMetrics: false });
    const matches = Array.from({ length: 50 }, (_, i) => match(`ing-${i}`, `svc-${i % 7}`));
    for (let i = 0; i < 20_000; i++) metrics.observeRequest(matches[i % 50], 200 + (i % 4) * 100, 0.01, 0.005);
    const text = await metrics.render();
    // ing-3 gets i = 3, 53, 103, …: 400 calls, i % 4 alternating 3 and 1 (status 500, then 300).
    const labels = 'ingress="ing-3",namespace="default",service="svc-3"';
    const classes = ['2xx', '3xx', '4xx', '5xx'].map((c) => sample(text, 'portico_requests_total', `${labels},status_class="${c}"`));
    expect(classes).toEqual([undefined, 200, undefined, 200]);
    expect(sample(text, 'portico_request_duration_seconds_count', labels)).toBe(400);
    expect(text.split('\n').filter((l) => l.startsWith('portico_request_duration_seconds_count{')).length).toBe(50);
  });
});

describe('PorticoMetrics: ingress-nginx compatible series (--metrics-compat nginx)', () => {
  const controller = { controller_class: 'portico.dev/ingress-controller', controller_namespace: 'ingress', controller_pod: 'portico-0' };
  const build = { version: '9.9.9', commit: 'abc123', node: 'v24.0.0', repository: '' };
  const backend = (service: string, namespace = 'shop'): RouteMatch['backend'] => ({ key: `${namespace}/${service}/80`, namespace, service, port: 80 });
  const routeMatch = (host: string | undefined, path: string, ingress: string, service: string, namespace = 'shop'): RouteMatch => {
    const route = { pathType: 'Prefix' as const, path, backend: backend(service, namespace), ingress: `${namespace}/${ingress}` };
    return host === undefined ? { backend: route.backend, ingress: route.ingress, route } : { backend: route.backend, ingress: route.ingress, route, host };
  };
  const constant = 'controller_class="portico.dev/ingress-controller",controller_namespace="ingress",controller_pod="portico-0"';
  const labels = (l: Record<string, string>): string =>
    `status="${l.status}",method="${l.method}",path="${l.path ?? ''}",namespace="${l.namespace ?? ''}",ingress="${l.ingress ?? ''}",service="${l.service ?? ''}",canary="${l.canary ?? ''}",host="${l.host ?? ''}",${constant}`;

  it('labels requests with the rule host and path, method, status, ingress, namespace, service; sizes and durations with ingress-nginx buckets', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    const web = routeMatch('shop.example.com', '/api', 'web', 'web-svc');
    metrics.observeRequest(web, 200, 0.004, 0.003, 'GET', 55, 1234);
    metrics.observeRequest(web, 200, 0.02, 0.01, 'GET', 95, 50_000);
    metrics.observeRequest(web, 503, 0.5, undefined, 'POST', 2_000, 300);
    const text = await metrics.render();
    const get200 = labels({ status: '200', method: 'GET', path: '/api', namespace: 'shop', ingress: 'web', service: 'web-svc', host: 'shop.example.com' });
    const post503 = labels({ status: '503', method: 'POST', path: '/api', namespace: 'shop', ingress: 'web', service: 'web-svc', host: 'shop.example.com' });
    expect(sample(text, 'nginx_ingress_controller_requests', get200)).toBe(2);
    expect(sample(text, 'nginx_ingress_controller_requests', post503)).toBe(1);
    expect(sample(text, 'nginx_ingress_controller_request_duration_seconds_count', get200)).toBe(2);
    // ingress-nginx's --time-buckets: 0.005 is the first bound.
    expect(sample(text, 'nginx_ingress_controller_request_duration_seconds_bucket', `le="0.005",${get200}`)).toBe(1);
    expect(sample(text, 'nginx_ingress_controller_response_duration_seconds_sum', get200)).toBeCloseTo(0.013);
    expect(sample(text, 'nginx_ingress_controller_response_duration_seconds_count', post503)).toBeUndefined(); // no upstream answer
    // --length-buckets (10…100) for request/response size, --size-buckets (10…1e7) for bytes_sent.
    expect(sample(text, 'nginx_ingress_controller_request_size_bucket', `le="60",${get200}`)).toBe(1);
    expect(sample(text, 'nginx_ingress_controller_request_size_bucket', `le="100",${get200}`)).toBe(2);
    expect(sample(text, 'nginx_ingress_controller_request_size_sum', get200)).toBe(150);
    expect(sample(text, 'nginx_ingress_controller_response_size_sum', get200)).toBe(51_234);
    expect(sample(text, 'nginx_ingress_controller_bytes_sent_bucket', `le="10000",${get200}`)).toBe(1);
    expect(sample(text, 'nginx_ingress_controller_bytes_sent_bucket', `le="100000",${get200}`)).toBe(2);
    expect(sample(text, 'nginx_ingress_controller_bytes_sent_bucket', `le="1000",${post503}`)).toBe(1);
    // Portico's own series: sizes too.
    const own = 'ingress="web",namespace="shop",service="web-svc"';
    expect(sample(text, 'portico_request_size_bytes_sum', own)).toBe(2_150);
    expect(sample(text, 'portico_response_size_bytes_bucket', `le="1000",${own}`)).toBe(1);
    expect(sample(text, 'portico_response_size_bytes_bucket', `le="10000",${own}`)).toBe(2);
    expect(sample(text, 'portico_response_size_bytes_count', own)).toBe(3);
    expect(text).toContain('# TYPE nginx_ingress_controller_requests counter');
    expect(text).toContain('# TYPE nginx_ingress_controller_request_duration_seconds histogram');
  });

  it('names the canary Service that served in canary, with the main route in ingress and service', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    const main = routeMatch('shop.example.com', '/', 'web', 'web-svc');
    // What the data planes do when the canary step picked the canary's backend.
    const canary: RouteMatch = { ...main, backend: backend('web-canary') };
    metrics.observeRequest(main, 200, 0.01, 0.01, 'GET', 40, 100);
    metrics.observeRequest(canary, 200, 0.01, 0.01, 'GET', 40, 100);
    metrics.observeRequest({ ...main, backend: backend('web-canary') }, 200, 0.01, 0.01, 'GET', 40, 100);
    const text = await metrics.render();
    const base = { status: '200', method: 'GET', path: '/', namespace: 'shop', ingress: 'web', service: 'web-svc', host: 'shop.example.com' };
    expect(sample(text, 'nginx_ingress_controller_requests', labels(base))).toBe(1);
    expect(sample(text, 'nginx_ingress_controller_requests', labels({ ...base, canary: 'web-canary' }))).toBe(2);
    // Portico's own series name the backend that served, as before.
    expect(sample(text, 'portico_requests_total', 'ingress="web",namespace="shop",service="web-canary",status_class="2xx"')).toBe(2);
  });

  it('gives requests that matched nothing empty labels (no series per raw host or URL) and bounds methods', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    for (let i = 0; i < 100; i++) metrics.observeRequest(undefined, 404, 0.001, undefined, i % 2 === 0 ? 'GET' : `M${i}`, 80, 150);
    const text = await metrics.render();
    expect(sample(text, 'nginx_ingress_controller_requests', labels({ status: '404', method: 'GET' }))).toBe(50);
    expect(sample(text, 'nginx_ingress_controller_requests', labels({ status: '404', method: 'OTHER' }))).toBe(50);
    expect(text.split('\n').filter((l) => l.startsWith('nginx_ingress_controller_requests{')).length).toBe(2);
    // A defaultBackend (no route): its Ingress and Service, no host or path.
    metrics.observeRequest({ backend: backend('fallback', 'default'), ingress: 'default/catch-all' }, 200, 0.001, 0.001, 'GET', 80, 150);
    expect(sample(await metrics.render(), 'nginx_ingress_controller_requests', labels({ status: '200', method: 'GET', namespace: 'default', ingress: 'catch-all', service: 'fallback' }))).toBe(1);
  });

  it('exports build info, and maps a configuration swap to a reload: config hash, last reload, success and error counters', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    let text = await metrics.render();
    expect(text).toContain('portico_build_info{version="9.9.9",commit="abc123",node="v24.0.0"} 1');
    expect(text).toContain(`nginx_ingress_controller_build_info{${constant},release="9.9.9",build="abc123",repository=""} 1`);
    expect(text).toContain(`nginx_ingress_controller_config_last_reload_successful{${constant}} 0`);
    metrics.configurationApplied(123_456_789, 1_700_000_000_000);
    metrics.configurationApplied(123_456_789, 1_700_000_050_000); // the same configuration: no reload
    text = await metrics.render();
    expect(text).toContain(`nginx_ingress_controller_config_hash{${constant}} 123456789`);
    expect(text).toContain('portico_config_hash 123456789');
    expect(text).toContain(`nginx_ingress_controller_config_last_reload_successful{${constant}} 1`);
    expect(text).toContain(`nginx_ingress_controller_config_last_reload_successful_timestamp_seconds{${constant}} 1700000000`);
    expect(text).toContain(`nginx_ingress_controller_success{${constant}} 1`);
    metrics.configurationFailed();
    text = await metrics.render();
    expect(text).toContain(`nginx_ingress_controller_config_last_reload_successful{${constant}} 0`);
    expect(text).toContain(`nginx_ingress_controller_errors{${constant}} 1`);
    expect(text).toContain(`nginx_ingress_controller_config_hash{${constant}} 123456789`); // the old one keeps serving
  });

  it('drops the nginx series of gone Ingresses, and exports none with compat none', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    metrics.observeRequest(routeMatch('a.example.com', '/', 'a', 'svc'), 200, 0.01, 0.01, 'GET', 10, 10);
    metrics.observeRequest(routeMatch('b.example.com', '/', 'b', 'svc'), 200, 0.01, 0.01, 'GET', 10, 10);
    metrics.observeRequest(undefined, 404, 0.01, undefined, 'GET', 10, 10);
    metrics.retainIngresses(['shop/a']);
    const text = await metrics.render();
    expect(text).toContain('ingress="a",service="svc",canary="",host="a.example.com"');
    expect(text).not.toContain('host="b.example.com"');
    expect(sample(text, 'nginx_ingress_controller_requests', labels({ status: '404', method: 'GET' }))).toBe(1);
    metrics.observeRequest(routeMatch('b.example.com', '/', 'b', 'svc'), 200, 0.01, 0.01, 'GET', 10, 10); // comes back cleanly
    expect(sample(await metrics.render(), 'nginx_ingress_controller_request_size_count', labels({ status: '200', method: 'GET', path: '/', namespace: 'shop', ingress: 'b', service: 'svc', host: 'b.example.com' }))).toBe(1);

    const none = new PorticoMetrics({ defaultMetrics: false, compat: 'none', controller, build });
    none.observeRequest(routeMatch('a.example.com', '/', 'a', 'svc'), 200, 0.01, 0.01, 'GET', 10, 10);
    none.configurationApplied(1);
    expect(await none.render()).not.toContain('nginx_ingress_controller');
  });

  it('drops the series a request in flight across the deletion made again, at the next rebuild even with the same Ingresses', async () => {
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    const b = routeMatch('b.example.com', '/', 'b', 'svc');
    metrics.observeRequest(routeMatch('a.example.com', '/', 'a', 'svc'), 200, 0.01, 0.01, 'GET', 10, 10);
    metrics.observeRequest(b, 200, 0.01, 0.01, 'GET', 10, 10);
    metrics.retainIngresses(['shop/a']); // b deleted
    metrics.observeRequest(b, 200, 0.01, 0.01, 'GET', 10, 10); // b's last request finishes after the rebuild
    expect(await metrics.render()).toContain('host="b.example.com"');
    metrics.retainIngresses(['shop/a']); // the next rebuild: the same Ingresses
    const text = await metrics.render();
    expect(text).not.toContain('host="b.example.com"');
    expect(text).not.toContain('ingress="b"');
    expect(text).toContain('host="a.example.com"');
  });

  it('keeps one set of children per label set across builds, so bucket counts waiting for the scrape are never dropped', async () => {
    // Each build makes new route objects; the children (and their pending bucket counts) must be
    // the same ones, or a collected old child would take its counts with it.
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    for (let build = 0; build < 5; build++) {
      const m = routeMatch('a.example.com', '/', 'a', 'svc'); // a new Route object per build
      for (let i = 0; i < 10; i++) metrics.observeRequest(m, 200, 0.02, 0.01, 'GET', 35, 5_000);
      metrics.retainIngresses(['shop/a']);
    }
    const text = await metrics.render();
    const l = labels({ status: '200', method: 'GET', path: '/', namespace: 'shop', ingress: 'a', service: 'svc', host: 'a.example.com' });
    expect(sample(text, 'nginx_ingress_controller_request_duration_seconds_count', l)).toBe(50);
    expect(sample(text, 'nginx_ingress_controller_request_duration_seconds_bucket', `le="0.025",${l}`)).toBe(50);
    expect(sample(text, 'nginx_ingress_controller_request_size_bucket', `le="40",${l}`)).toBe(50);
    expect(sample(text, 'nginx_ingress_controller_bytes_sent_bucket', `le="10000",${l}`)).toBe(50);
  });

  it('renders the nginx series exactly as prom-client does for the same observations, also after reset', async () => {
    // The children count buckets between scrapes (PendingBuckets): the rendered text must not tell.
    const metrics = new PorticoMetrics({ defaultMetrics: false, controller, build });
    const registry = new Registry();
    const names = ['status', 'method', 'path', 'namespace', 'ingress', 'service', 'canary', 'host', 'controller_class', 'controller_namespace', 'controller_pod'];
    const requests = new Counter({ name: 'nginx_ingress_controller_requests', help: 'x', labelNames: names, registers: [registry] });
    const h = (name: string, buckets: number[]) => new Histogram({ name: `nginx_ingress_controller_${name}`, help: 'x', labelNames: names, buckets, registers: [registry] });
    const time = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    const length = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    const duration = h('request_duration_seconds', time);
    const response = h('response_duration_seconds', time);
    const requestSize = h('request_size', length);
    const responseSize = h('response_size', length);
    const bytesSent = h('bytes_sent', [10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]);
    const matches = [routeMatch('a.example.com', '/a', 'a', 'svc-a'), routeMatch(undefined, '/b', 'b', 'svc-b', 'default'), undefined];
    const calls = (): void => {
      for (let i = 0; i < 300; i++) {
        const m = matches[i % 3];
        const status = [200, 404, 502][i % 4 % 3]!;
        const method = ['GET', 'POST'][i % 2]!;
        const seconds = [0.001, 0.03, 0.7, 12][i % 4]! * (1 + i / 1000);
        const upstream = i % 5 === 0 ? undefined : seconds / 2;
        const req = [5, 64, 900, 20_000][i % 4]!;
        const res = [0, 99, 5_000, 20_000_000][(i >> 1) % 4]!;
        metrics.observeRequest(m, status, seconds, upstream, method, req, res);
        const l = {
          status: String(status), method, path: m?.route?.path ?? '', namespace: m?.backend.namespace ?? '', ingress: m?.ingress.split('/')[1] ?? '',
          service: m?.backend.service ?? '', canary: '', host: m?.host ?? '', ...controller,
        };
        requests.inc(l);
        duration.observe(l, seconds);
        if (upstream !== undefined) response.observe(l, upstream);
        requestSize.observe(l, req);
        responseSize.observe(l, res);
        bytesSent.observe(l, res);
      }
    };
    const series = (text: string): string =>
      text.split('\n').filter((l) => /^nginx_ingress_controller_(requests|request_duration_seconds|response_duration_seconds|request_size|response_size|bytes_sent)[_{ ]/.test(l)).join('\n');
    calls();
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    calls(); // pending counts since the last scrape are added once, not twice
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    metrics.registry.resetMetrics();
    registry.resetMetrics();
    calls();
    expect(series(await metrics.render())).toBe(series(await registry.metrics()));
    expect(series(await registry.metrics()).length).toBeGreaterThan(1000);
  });
});
