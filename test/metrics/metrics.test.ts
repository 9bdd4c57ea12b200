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
