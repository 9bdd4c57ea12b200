import { describe, expect, it } from 'vitest';
import type { BackendEndpoints, RouteLookup, RouteModel } from '../../src/model/route-model.js';
import type { SniPlan } from '../../src/tls/sni-store.js';
import { isWorkerMetric, SnapshotApplier } from '../../src/workers/worker.js';

const web = { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 };
const model: RouteModel = {
  virtualHosts: [{ host: 'a.test', routes: [{ pathType: 'Prefix', path: '/', backend: web, ingress: 'shop/web' }] }],
  hostless: [],
  backends: [web],
  tls: [],
  ownedIngresses: ['shop/web'],
  diagnostics: [],
};
const endpoints: BackendEndpoints[] = [{ backend: web, endpoints: [] }];
const plan: SniPlan = { hosts: [], certificates: new Map() };

function recorder(fallbackChanged = false) {
  const calls: string[] = [];
  let table: RouteLookup | undefined;
  let synced: ReadonlyMap<string, BackendEndpoints> | undefined;
  const applier = new SnapshotApplier({
    sni: { apply: () => (calls.push('certificates'), { built: 0, fallbackChanged }) },
    backends: { sync: (next) => (calls.push('backends'), (synced = next)) },
    routes: { setRoutes: (lookup) => (calls.push('routes'), (table = lookup)) },
    onDefaultCertificateChange: () => calls.push('default certificate'),
    onRoutes: () => calls.push('metrics'),
  });
  return { applier, calls, table: () => table, synced: () => synced };
}

describe('SnapshotApplier (worker side)', () => {
  it('applies in the controller order: certificates, then backends, then routes', () => {
    const r = recorder(true);
    r.applier.apply({ generation: 3, full: true, tls: plan, endpoints, routes: model });
    expect(r.calls).toEqual(['certificates', 'default certificate', 'backends', 'routes', 'metrics']);
    expect(r.table()?.lookup('a.test', '/x')?.backend.key).toBe('shop/web/80');
    expect([...r.synced()!.keys()]).toEqual(['shop/web/80']);
    expect(r.applier).toMatchObject({ generation: 3, configured: true });
  });

  it('touches only the parts a snapshot carries', () => {
    const r = recorder();
    r.applier.apply({ generation: 4, full: false, endpoints });
    expect(r.calls).toEqual(['backends']);
    expect(r.applier.configured).toBe(false);
  });

  it('a snapshot whose route table cannot be built changes nothing', () => {
    const r = recorder();
    const broken = { ...model, virtualHosts: [{ host: 'a.test', routes: null }] } as unknown as RouteModel;
    expect(() => r.applier.apply({ generation: 5, full: true, tls: plan, endpoints, routes: broken })).toThrow();
    expect(r.calls).toEqual([]);
    expect(r.applier.generation).toBe(0);
  });

  it('resolves certificates named by id to the pairs it got before, and keeps only the last plan\'s', () => {
    const applied: SniPlan[] = [];
    const applier = new SnapshotApplier({ sni: { apply: (p) => (applied.push(p), { built: 0, fallbackChanged: false }) }, backends: { sync: () => undefined }, routes: { setRoutes: () => undefined } });
    const pair = (id: string) => ({ id, certPem: `cert ${id}`, keyPem: `key ${id}`, notAfter: new Date('2030-01-01T00:00:00Z') });
    const tls = (entries: Array<[string, { id: string }]>, defaultCertificate?: { id: string }) => ({ hosts: [], certificates: new Map(entries), ...(defaultCertificate && { defaultCertificate }) });
    applier.apply({ generation: 1, full: false, tls: tls([['shop/a', pair('a')], ['shop/b', pair('b')]], pair('d')) });
    applier.apply({ generation: 2, full: false, tls: tls([['shop/a', { id: 'a' }], ['shop/b2', { id: 'b' }]], { id: 'd' }) });
    expect([...applied[1]!.certificates].map(([secret, c]) => [secret, c.certPem])).toEqual([['shop/a', 'cert a'], ['shop/b2', 'cert b']]);
    expect(applied[1]!.defaultCertificate?.keyPem).toBe('key d');
    applier.apply({ generation: 3, full: false, tls: tls([['shop/a', { id: 'a' }]]) });
    // b and d were not in plan 3: naming them now is an error, and nothing is applied.
    expect(() => applier.apply({ generation: 4, full: false, tls: tls([['shop/b', { id: 'b' }]]), endpoints })).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_WORKER_MESSAGE' }));
    expect(applied).toHaveLength(3);
    expect(applier.generation).toBe(3);
  });

  it('reports only per-request series and process metrics to the primary', () => {
    expect(['portico_requests_total', 'portico_request_duration_seconds', 'portico_upstream_duration_seconds', 'portico_tls_handshake_failures_total', 'process_cpu_seconds_total'].every(isWorkerMetric)).toBe(true);
    expect(['portico_leader', 'portico_rebuilds_total', 'portico_last_sync_timestamp_seconds', 'portico_ssl_certificate_expiry_timestamp_seconds'].some(isWorkerMetric)).toBe(false);
    // ingress-nginx's: the request series are summed, the build and configuration ones are the primary's.
    const nginx = ['requests', 'request_duration_seconds', 'response_duration_seconds', 'request_size', 'response_size', 'bytes_sent'].map((n) => `nginx_ingress_controller_${n}`);
    expect([...nginx, 'portico_request_size_bytes', 'portico_response_size_bytes'].every(isWorkerMetric)).toBe(true);
    const primaryOnly = ['build_info', 'config_hash', 'config_last_reload_successful', 'config_last_reload_successful_timestamp_seconds', 'success', 'errors'].map((n) => `nginx_ingress_controller_${n}`);
    expect([...primaryOnly, 'portico_build_info', 'portico_config_hash'].some(isWorkerMetric)).toBe(false);
  });
});
