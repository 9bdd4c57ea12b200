// upstream-hash-by, load-balance, limit-connections (and the later traffic annotations): parsed
// values, and invalid values as problems naming the annotation and value.
import { describe, expect, it } from 'vitest';
import { parseIngressAnnotations } from '../../src/compile/annotations/index.js';
import { buildMigrationReport } from '../../src/compile/migrate-check.js';
import { compileBackends, compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { parseControllerConfigMap } from '../../src/compile/configmap.js';
import { endpointSlice, ingress, ingressClass, prefix, rule, service, snapshot } from '../helpers/objects.js';

const A = 'nginx.ingress.kubernetes.io/';
const parse = (annotations: Record<string, string>) => parseIngressAnnotations(ingress('shop/a', { annotations }));

describe('traffic annotations', () => {
  it('upstream-hash-by: nginx variables and combinations are kept as written', () => {
    for (const value of ['$request_uri', '$remote_addr', '$host$request_uri', '$http_x_user_id', '$cookie_session', '$arg_id', '${host}-${uri}', 'v1-$args']) {
      const { annotations, problems } = parse({ [`${A}upstream-hash-by`]: ` ${value} ` });
      expect(problems, value).toEqual([]);
      expect(annotations.policies?.upstreamHashBy).toBe(value);
    }
  });

  it('upstream-hash-by: no variable, an unknown one, a bare $ or spaces are warnings naming the value; round robin stays', () => {
    for (const [value, says] of [
      ['constant', 'names no nginx variable'],
      ['$request_id', '$request_id'],
      ['$http_', '$http_'],
      ['$host $uri', 'spaces'],
      ['a$', 'a bare $'],
    ] as const) {
      const { annotations, problems } = parse({ [`${A}upstream-hash-by`]: value });
      expect(annotations.policies, value).toBeUndefined();
      expect(problems, value).toEqual([expect.objectContaining({ key: `${A}upstream-hash-by`, severity: 'warning' })]);
      expect(problems[0]!.message).toContain(JSON.stringify(value));
      expect(problems[0]!.message).toContain(says);
    }
    expect(parse({ [`${A}upstream-hash-by`]: '' }).annotations.policies).toBeUndefined();
  });

  it('upstream-hash-by-subset(-size) are reported as not implemented', () => {
    const { annotations } = parse({ [`${A}upstream-hash-by`]: '$uri', [`${A}upstream-hash-by-subset`]: 'true', [`${A}upstream-hash-by-subset-size`]: '3' });
    expect(annotations.unsupported).toEqual([`${A}upstream-hash-by-subset`, `${A}upstream-hash-by-subset-size`]);
  });

  it('load-balance: ewma; round_robin is the default (no policy); anything else is a warning', () => {
    expect(parse({ [`${A}load-balance`]: 'ewma' }).annotations.policies?.loadBalance).toBe('ewma');
    expect(parse({ [`${A}load-balance`]: 'EWMA ' }).annotations.policies?.loadBalance).toBe('ewma');
    const rr = parse({ [`${A}load-balance`]: 'round_robin' });
    expect([rr.annotations.policies, rr.problems]).toEqual([undefined, []]);
    const bad = parse({ [`${A}load-balance`]: 'least_conn' });
    expect(bad.annotations.policies).toBeUndefined();
    expect(bad.problems).toEqual([expect.objectContaining({ key: `${A}load-balance`, severity: 'warning', message: expect.stringContaining('"least_conn"') })]);
  });

  it('limit-connections: a whole number above 0, with the limit allowlist; anything else is a warning', () => {
    expect(parse({ [`${A}limit-connections`]: '10' }).annotations.policies?.connectionLimit).toEqual({ max: 10 });
    expect(parse({ [`${A}limit-connections`]: '2', [`${A}limit-whitelist`]: '10.0.0.1, 192.0.2.0/24' }).annotations.policies?.connectionLimit).toEqual({ max: 2, exempt: ['10.0.0.1/32', '192.0.2.0/24'] });
    for (const value of ['0', '-1', 'ten', '1.5', '']) {
      const { annotations, problems } = parse({ [`${A}limit-connections`]: value });
      expect(annotations.policies, value).toBeUndefined();
      expect(problems, value).toEqual([expect.objectContaining({ key: `${A}limit-connections`, message: expect.stringContaining(JSON.stringify(value)) })]);
    }
    // A bad allowlist is reported once, by whichever limit reads it.
    expect(parse({ [`${A}limit-connections`]: '2', [`${A}limit-allowlist`]: 'nope' }).problems).toHaveLength(1);
    expect(parse({ [`${A}limit-connections`]: '2', [`${A}limit-rps`]: '5', [`${A}limit-allowlist`]: 'nope' }).problems).toHaveLength(1);
  });

  it('default-backend: a Service of the Ingress’s namespace, its first port; custom-http-errors: statuses, sorted, with a default-backend', () => {
    const { annotations, problems } = parse({ [`${A}default-backend`]: 'error-pages', [`${A}custom-http-errors`]: '503, 404,404,500' });
    expect(problems).toEqual([]);
    expect(annotations.policies).toEqual({ defaultBackend: { key: 'shop/error-pages/*', namespace: 'shop', service: 'error-pages', port: '*' }, customHttpErrors: [404, 500, 503] });
    expect(parse({ [`${A}default-backend`]: 'error-pages' }).annotations.policies).toEqual({ defaultBackend: { key: 'shop/error-pages/*', namespace: 'shop', service: 'error-pages', port: '*' } });
  });

  it('default-backend / custom-http-errors: bad values, or the errors without a default backend, are warnings naming annotation and value', () => {
    const name = parse({ [`${A}default-backend`]: 'other/ns' });
    expect(name.annotations.policies).toBeUndefined();
    expect(name.problems).toEqual([expect.objectContaining({ key: `${A}default-backend`, message: expect.stringContaining('"other/ns"') })]);
    for (const list of ['404,abc', '99', '600', ' , ']) {
      const { annotations, problems } = parse({ [`${A}default-backend`]: 'pages', [`${A}custom-http-errors`]: list });
      expect(annotations.policies, list).toEqual({ defaultBackend: expect.objectContaining({ service: 'pages' }) });
      expect(problems, list).toEqual([expect.objectContaining({ key: `${A}custom-http-errors`, message: expect.stringContaining(JSON.stringify(list)) })]);
    }
    const alone = parse({ [`${A}custom-http-errors`]: '404' });
    expect(alone.annotations.policies).toBeUndefined();
    expect(alone.problems[0]!.message).toContain('needs nginx.ingress.kubernetes.io/default-backend');
  });

  it('the compiler lists the default backend among the backends; its endpoints are the first TCP port’s', () => {
    const objects = [
      ingressClass('portico', { isDefault: true }),
      ingress('shop/a', { annotations: { [`${A}default-backend`]: 'pages' }, rules: [rule('a.example', [prefix('/', 'web', 80)])] }),
      service('shop/pages', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'http', port: 8080, protocol: 'TCP' }, { name: 'other', port: 9090, protocol: 'TCP' }]),
      endpointSlice('shop/pages-x', { service: 'pages', ports: [{ name: 'http', port: 8080 }, { name: 'other', port: 9090 }], endpoints: ['10.0.0.9'] }),
    ];
    const model = compileRoutes(snapshot(objects), DEFAULT_COMPILE_OPTIONS);
    expect(model.backends.map((b) => b.key)).toEqual(['shop/pages/*', 'shop/web/80']);
    const resolved = compileBackends(snapshot(objects), model.backends);
    expect(resolved.get('shop/pages/*')!.endpoints.map((e) => e.key)).toEqual(['10.0.0.9:8080']);
    expect(resolved.get('shop/web/80')!.problem?.code).toBe('PORTICO_ERR_BACKEND_SERVICE_MISSING');
  });

  it('service-upstream: "true" gives the paths a separate backend whose one endpoint is the ClusterIP and Service port; a headless Service keeps its pods', () => {
    const objects = (clusterIP: string) => [
      ingressClass('portico', { isDefault: true }),
      ingress('shop/a', { annotations: { [`${A}service-upstream`]: 'true' }, rules: [rule('a.example', [prefix('/', 'web', 'http')])] }),
      ingress('shop/b', { rules: [rule('b.example', [prefix('/', 'web', 'http')])] }),
      { ...service('shop/web', [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }]), spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } },
      endpointSlice('shop/web-x', { service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: ['10.0.0.9', '10.0.0.10'] }),
    ];
    const model = compileRoutes(snapshot(objects('10.96.0.7')), DEFAULT_COMPILE_OPTIONS);
    expect(model.backends).toEqual([
      { key: 'shop/web/http', namespace: 'shop', service: 'web', port: 'http' },
      { key: 'shop/web/http#service-upstream', namespace: 'shop', service: 'web', port: 'http', serviceUpstream: true },
    ]);
    expect(model.virtualHosts.map((v) => v.routes[0]!.backend.key)).toEqual(['shop/web/http#service-upstream', 'shop/web/http']);
    const keys = (clusterIP: string) => [...compileBackends(snapshot(objects(clusterIP)), model.backends).values()].map((b) => b.endpoints.map((e) => e.key));
    expect(keys('10.96.0.7')).toEqual([['10.0.0.10:8080', '10.0.0.9:8080'], ['10.96.0.7:80']]);
    expect(keys('fd00::7')).toEqual([['10.0.0.10:8080', '10.0.0.9:8080'], ['[fd00::7]:80']]);
    expect(keys('None')).toEqual([['10.0.0.10:8080', '10.0.0.9:8080'], ['10.0.0.10:8080', '10.0.0.9:8080']]);
    const bad = parse({ [`${A}service-upstream`]: 'yes' });
    expect([bad.annotations.serviceUpstream, bad.problems[0]?.key]).toEqual([false, `${A}service-upstream`]);
  });

  it('mirror-target: an absolute http(s) URL with the redirect variables; mirror-request-body on/off; mirror-host', () => {
    expect(parse({ [`${A}mirror-target`]: 'https://test.env.com/$request_uri' }).annotations.policies?.mirror).toEqual({ url: 'https://test.env.com/$request_uri', body: true });
    const full = parse({ [`${A}mirror-target`]: 'http://m.shop.svc:8080/x', [`${A}mirror-request-body`]: 'off', [`${A}mirror-host`]: 'shadow.internal' });
    expect([full.annotations.policies?.mirror, full.problems]).toEqual([{ url: 'http://m.shop.svc:8080/x', body: false, host: 'shadow.internal' }, []]);
    for (const [value, says] of [['/relative', 'not an absolute'], ['ftp://x/', 'not an absolute'], ['http://m/$request_id', '$request_id']] as const) {
      const { annotations, problems } = parse({ [`${A}mirror-target`]: value });
      expect(annotations.policies, value).toBeUndefined();
      expect(problems[0]).toMatchObject({ key: `${A}mirror-target`, message: expect.stringContaining(JSON.stringify(value)) });
      expect(problems[0]!.message).toContain(says);
    }
    const body = parse({ [`${A}mirror-target`]: 'http://m/', [`${A}mirror-request-body`]: 'maybe', [`${A}mirror-host`]: 'bad host' });
    expect(body.annotations.policies?.mirror).toEqual({ url: 'http://m/', body: true });
    expect(body.problems.map((p) => p.key)).toEqual([`${A}mirror-request-body`, `${A}mirror-host`]);
  });

  it('ConfigMap: load-balance is the default of the annotation, limit-conn-status-code the refusal’s status; bad values are problems', () => {
    const { config, problems, unsupported } = parseControllerConfigMap({ 'load-balance': 'ewma', 'limit-conn-status-code': '429' });
    expect([config, problems, unsupported]).toEqual([{ loadBalance: 'ewma', connectionLimitStatus: 429 }, [], []]);
    expect(parseControllerConfigMap({ 'load-balance': 'round_robin' }).config).toEqual({});
    const bad = parseControllerConfigMap({ 'load-balance': 'least_conn', 'limit-conn-status-code': '200' });
    expect([bad.config, bad.problems.map((p) => p.key)]).toEqual([{}, ['limit-conn-status-code', 'load-balance']]);
    const on = (annotations: Record<string, string>) => parseIngressAnnotations(ingress('shop/a', { annotations }), config).annotations.policies;
    expect(on({})).toEqual({ loadBalance: 'ewma' });
    expect(on({ [`${A}load-balance`]: 'round_robin' })).toBeUndefined();
    expect(on({ [`${A}limit-connections`]: '3' })).toEqual({ loadBalance: 'ewma', connectionLimit: { max: 3, status: 429 } });
  });

  it('migrate-check says how each differs from ingress-nginx', () => {
    const report = buildMigrationReport({ ingresses: [ingress('shop/a', { annotations: { [`${A}upstream-hash-by`]: '$uri', [`${A}load-balance`]: 'ewma', [`${A}limit-connections`]: '5' } })], configMaps: [] });
    const verdicts = Object.fromEntries(report.ingresses[0]!.annotations.map((v) => [v.annotation.slice(A.length), v.verdict]));
    expect(verdicts).toEqual({ 'upstream-hash-by': 'different', 'load-balance': 'different', 'limit-connections': 'different' });
  });
});
