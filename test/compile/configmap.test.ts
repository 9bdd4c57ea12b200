import { describe, expect, it } from 'vitest';
import { compileControllerConfigMap, hstsFromConfig, parseControllerConfigMap, parseHeaderConfigMap } from '../../src/compile/configmap.js';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../../src/compile/index.js';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import type { Route, RouteModel } from '../../src/model/route-model.js';
import { configMap, ingress, ingressClass, prefix, rule, snapshot } from '../helpers/objects.js';

const CM = 'ingress-nginx/ingress-nginx-controller';
const A = 'nginx.ingress.kubernetes.io/';

describe('parseControllerConfigMap', () => {
  it('reads each supported key into a typed, frozen value', () => {
    const { config, problems, different, unsupported } = parseControllerConfigMap(
      {
        'proxy-body-size': '8m',
        'proxy-connect-timeout': '3',
        'proxy-read-timeout': '120s',
        'proxy-send-timeout': '30',
        'ssl-redirect': 'false',
        'force-ssl-redirect': 'TRUE',
        hsts: 'true',
        'hsts-max-age': '600',
        'hsts-include-subdomains': 'false',
        'hsts-preload': 'true',
        'allow-snippet-annotations': 'false',
        'limit-req-status-code': '429',
        'disable-access-log': 'true',
        'use-http2': 'false',
        'add-headers': 'ingress-nginx/custom-headers',
        'proxy-set-headers': 'upstream-headers',
        'use-forwarded-headers': 'false',
        'forwarded-for-header': 'X-Forwarded-For',
        'compute-full-forwarded-for': 'false',
        'enable-real-ip': 'false',
        'proxy-real-ip-cidr': '10.0.0.0/8, 192.168.0.1',
      },
      'ingress-nginx',
    );
    expect(problems).toEqual([]);
    expect(different).toEqual([]);
    expect(unsupported).toEqual([]);
    expect(config).toEqual({
      maxBodySize: 8 * 1024 * 1024,
      timeouts: { connectMs: 3000, readMs: 120_000, sendMs: 30_000 },
      sslRedirect: false,
      forceSslRedirect: true,
      hsts: { enabled: true, maxAge: 600, includeSubDomains: false, preload: true },
      snippetAnnotations: 'refuse',
      rateLimitStatus: 429,
      accessLog: false,
      http2: false,
      addHeaders: 'ingress-nginx/custom-headers',
      proxySetHeaders: 'ingress-nginx/upstream-headers',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('an empty ConfigMap sets nothing (every default applies)', () => {
    expect(parseControllerConfigMap({})).toEqual({ config: {}, problems: [], different: [], unsupported: [] });
  });

  it('an invalid value is a problem naming the key and value; the key is unset, every other key applies', () => {
    const { config, problems } = parseControllerConfigMap({
      'proxy-body-size': 'huge',
      'proxy-read-timeout': '0',
      'ssl-redirect': 'yes',
      'hsts-max-age': '-1',
      'limit-req-status-code': '200',
      'add-headers': 'not a/name/at all',
      'proxy-real-ip-cidr': '10.0.0.0/33',
      'proxy-send-timeout': '15',
    });
    expect(config).toEqual({ timeouts: { sendMs: 15_000 } });
    expect(problems.map((p) => p.key)).toEqual(['proxy-body-size', 'proxy-read-timeout', 'ssl-redirect', 'hsts-max-age', 'limit-req-status-code', 'proxy-real-ip-cidr', 'add-headers']);
    for (const problem of problems) expect(problem.message).toContain(problem.key);
    expect(problems[0]!.message).toContain('"huge"');
    expect(problems[2]!.message).toContain('"yes"');
  });

  it('allow-snippet-annotations "true" serves snippet Ingresses without their snippets, with a note', () => {
    const parsed = parseControllerConfigMap({ 'allow-snippet-annotations': 'true' });
    expect(parsed.config.snippetAnnotations).toBe('ignore');
    expect(parsed.different).toEqual([expect.objectContaining({ key: 'allow-snippet-annotations', message: expect.stringContaining('never executes') })]);
  });

  it('forwarded-header keys become the real-IP policy: use-forwarded-headers passes X-Forwarded-*, enable-real-ip only the address; trusting every peer is a warning', () => {
    const parsed = parseControllerConfigMap({ 'use-forwarded-headers': 'true', 'compute-full-forwarded-for': 'true', 'forwarded-for-header': 'X-Original-Forwarded-For', 'proxy-real-ip-cidr': '10.0.0.0/8, 192.168.0.1' });
    expect(parsed.problems).toEqual([]);
    expect(parsed.different).toEqual([]);
    expect(parsed.config.realIp).toEqual({ trusted: ['10.0.0.0/8', '192.168.0.1/32'], header: 'x-original-forwarded-for', passForwarded: true, fullForwardedFor: true });
    const open = parseControllerConfigMap({ 'enable-real-ip': 'true' });
    expect(open.config.realIp).toEqual({ trusted: ['0.0.0.0/0'], header: 'x-forwarded-for', passForwarded: false, fullForwardedFor: false });
    expect(open.different).toEqual([expect.objectContaining({ key: 'enable-real-ip', message: expect.stringContaining('every client can choose its own address') })]);
    // compute-full-forwarded-for alone chains the received list; no header decides the client.
    expect(parseControllerConfigMap({ 'compute-full-forwarded-for': 'true' }).config.realIp).toEqual({ trusted: [], header: 'x-forwarded-for', passForwarded: false, fullForwardedFor: true });
    // Defaults: nothing trusted, no policy.
    expect(parseControllerConfigMap({ 'use-forwarded-headers': 'false', 'enable-real-ip': 'false', 'proxy-real-ip-cidr': '10.0.0.0/8' }).config).toEqual({});
    const bad = parseControllerConfigMap({ 'use-forwarded-headers': 'yes', 'proxy-real-ip-cidr': '10.0.0.0/33', 'forwarded-for-header': 'bad header' });
    expect(bad.problems.map((p) => p.key).sort()).toEqual(['forwarded-for-header', 'proxy-real-ip-cidr', 'use-forwarded-headers']);
    expect(bad.config.realIp).toBeUndefined();
  });

  it('log-format-upstream: the access-log fields its variables name, in order; unknown variables noted; none known is a problem', () => {
    const parsed = parseControllerConfigMap({ 'log-format-upstream': '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time $req_id $upstream_addr' });
    expect(parsed.config.accessLogFields).toEqual(['client', 'status', 'bytes', 'durationMs', 'requestId', 'upstream']);
    expect(parsed.different).toEqual([expect.objectContaining({ key: 'log-format-upstream', message: expect.stringContaining('no field for $remote_user, $time_local, $request') })]);
    const none = parseControllerConfigMap({ 'log-format-upstream': '$time_iso8601 $remote_user' });
    expect(none.config.accessLogFields).toBeUndefined();
    expect(none.problems.map((p) => p.key)).toEqual(['log-format-upstream']);
  });

  it('lists the keys Portico does not implement, sorted', () => {
    expect(parseControllerConfigMap({ 'worker-processes': '4', 'server-tokens': 'false', 'ssl-redirect': 'true' }).unsupported).toEqual(['server-tokens', 'worker-processes']);
  });
});

describe('parseHeaderConfigMap', () => {
  it('keeps valid fields sorted by name and reports the others', () => {
    const parsed = parseHeaderConfigMap({ 'X-Frame-Options': 'DENY', 'bad name': 'x', 'X-Evil': 'a\r\nb', 'X-A': ' 1 ', Host: 'other', 'Content-Length': '5' }, 'add-headers');
    expect(parsed.headers).toEqual([['X-A', '1'], ['X-Frame-Options', 'DENY']]);
    expect(parsed.problems).toHaveLength(4);
    expect(parsed.problems.filter((p) => p.includes('set by Portico itself'))).toHaveLength(2);
  });
});

describe('hstsFromConfig', () => {
  const flags = { maxAge: 100, includeSubDomains: true };
  it('merges the ConfigMap keys over the flags', () => {
    expect(hstsFromConfig({}, flags)).toBeUndefined();
    expect(hstsFromConfig({ hsts: { preload: true } }, flags)).toBe('max-age=100; includeSubDomains; preload');
    expect(hstsFromConfig({ hsts: { maxAge: 5, includeSubDomains: false } }, flags)).toBe('max-age=5');
    expect(hstsFromConfig({ hsts: { enabled: false } }, flags)).toBe(false);
    expect(hstsFromConfig({ hsts: { enabled: true } }, false)).toBe('max-age=31536000; includeSubDomains');
  });
});

describe('compiling with --configmap', () => {
  const objects = (data: Record<string, string>, ...more: KubeObject[]): KubeObject[] => [ingressClass('portico', { isDefault: true }), configMap(CM, data), ...more];
  const options: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, configMap: CM };
  const routeOf = (model: RouteModel, host: string): Route => model.virtualHosts.find((v) => v.host === host)!.routes[0]!;
  const plain = ingress('shop/plain', { rules: [rule('plain.example.com', [prefix('/', 'web', 80)])] });
  const annotated = ingress('shop/annotated', {
    annotations: { [`${A}proxy-body-size`]: '2m', [`${A}proxy-read-timeout`]: '5', [`${A}ssl-redirect`]: 'true', [`${A}enable-access-log`]: 'true', [`${A}limit-rps`]: '10' },
    tls: [{ hosts: ['annotated.example.com'], secretName: 'tls' }],
    rules: [rule('annotated.example.com', [prefix('/', 'web', 80)])],
  });
  const tlsPlain = ingress('shop/tls-plain', { tls: [{ hosts: ['tls.example.com'], secretName: 'tls' }], rules: [rule('tls.example.com', [prefix('/', 'web', 80)])] });

  it('precedence: an annotation beats the ConfigMap, the ConfigMap beats the default', () => {
    const data = { 'proxy-body-size': '16m', 'proxy-read-timeout': '300', 'proxy-connect-timeout': '2', 'ssl-redirect': 'false', 'disable-access-log': 'true', 'limit-req-status-code': '429' };
    const model = compileRoutes(snapshot(objects(data, plain, annotated, tlsPlain)), options);
    expect(routeOf(model, 'plain.example.com').policies).toEqual({ maxBodySize: 16 * 1024 * 1024, timeouts: { connectMs: 2000, readMs: 300_000 }, accessLog: false });
    expect(routeOf(model, 'annotated.example.com').policies).toEqual({
      maxBodySize: 2 * 1024 * 1024,
      timeouts: { connectMs: 2000, readMs: 5000 },
      rateLimit: { rps: 10, burstMultiplier: 5, status: 429 },
    });
    // ssl-redirect "false" in the ConfigMap: a TLS host no longer redirects, unless its Ingress says "true".
    expect(routeOf(model, 'tls.example.com').sslRedirect).toBeUndefined();
    expect(routeOf(model, 'annotated.example.com').sslRedirect).toBe(true);
    expect(model.configMaps).toEqual([CM]);
    expect(model.diagnostics).toEqual([]);
  });

  it('without --configmap (or with an empty one) nothing changes', () => {
    const without = compileRoutes(snapshot(objects({ 'proxy-body-size': '16m' }, plain, tlsPlain)), DEFAULT_COMPILE_OPTIONS);
    expect(routeOf(without, 'plain.example.com').policies).toBeUndefined();
    expect(routeOf(without, 'tls.example.com').sslRedirect).toBe(true);
    const empty = compileRoutes(snapshot(objects({}, plain, tlsPlain)), options);
    expect({ ...empty, configMaps: undefined }).toEqual({ ...without, configMaps: undefined });
  });

  it('a missing ConfigMap is a warning and the defaults apply', () => {
    const model = compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), plain]), options);
    expect(routeOf(model, 'plain.example.com').policies).toBeUndefined();
    expect(model.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_CONFIGMAP_MISSING', object: { kind: 'ConfigMap', namespace: 'ingress-nginx', name: 'ingress-nginx-controller' } })]);
    expect(model.configMaps).toEqual([CM]);
  });

  it('an invalid value is a diagnostic naming key and value; unknown keys get one warning naming them all', () => {
    const model = compileRoutes(snapshot(objects({ 'proxy-body-size': 'lots', 'proxy-read-timeout': '90', 'worker-processes': '4', 'server-tokens': 'false' }, plain)), options);
    expect(routeOf(model, 'plain.example.com').policies).toEqual({ timeouts: { readMs: 90_000 } });
    expect(model.diagnostics).toEqual([
      expect.objectContaining({ code: 'PORTICO_ERR_CONFIGMAP_INVALID', field: 'data.proxy-body-size', message: expect.stringContaining('"lots"') }),
      expect.objectContaining({ code: 'PORTICO_ERR_CONFIGMAP_UNSUPPORTED', field: 'data', message: 'not implemented by Portico, ignored: server-tokens, worker-processes' }),
    ]);
  });

  it('add-headers and proxy-set-headers read the ConfigMaps they name (read ones listed for rebuilds)', () => {
    const model = compileRoutes(
      snapshot(objects({ 'add-headers': 'ingress-nginx/resp', 'proxy-set-headers': 'req' }, plain, configMap('ingress-nginx/resp', { 'X-Frame-Options': 'DENY' }), configMap('ingress-nginx/req', { 'X-Team': 'shop', 'bad name': 'x' }))),
      options,
    );
    expect(routeOf(model, 'plain.example.com').policies).toEqual({ responseHeaders: [['X-Frame-Options', 'DENY']], upstreamHeaders: [['X-Team', 'shop']] });
    expect(model.configMaps).toEqual(['ingress-nginx/ingress-nginx-controller', 'ingress-nginx/req', 'ingress-nginx/resp']);
    expect(model.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_CONFIGMAP_INVALID', object: { kind: 'ConfigMap', namespace: 'ingress-nginx', name: 'req' } })]);
    const missing = compileControllerConfigMap(snapshot(objects({ 'add-headers': 'ingress-nginx/gone' })), CM);
    expect(missing.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_CONFIGMAP_MISSING', field: 'data.add-headers' })]);
  });

  it('hsts keys give the model an HSTS value over the --hsts* flags', () => {
    const model = compileRoutes(snapshot(objects({ 'hsts-max-age': '60', 'hsts-preload': 'true' }, plain)), { ...options, hsts: { maxAge: 100, includeSubDomains: false } });
    expect(model.hsts).toBe('max-age=60; preload');
    expect(compileRoutes(snapshot(objects({ hsts: 'false' }, plain)), options).hsts).toBe(false);
    expect(compileRoutes(snapshot(objects({}, plain)), options).hsts).toBeUndefined();
  });

  it('allow-snippet-annotations: the ConfigMap beats --snippet-annotations', () => {
    const snippet = ingress('shop/snippet', { annotations: { [`${A}configuration-snippet`]: 'more_set_headers "X: y";' }, rules: [rule('snippet.example.com', [prefix('/', 'web', 80)])] });
    const served = compileRoutes(snapshot(objects({ 'allow-snippet-annotations': 'true' }, snippet)), { ...options, snippetAnnotations: 'refuse' });
    expect(served.virtualHosts.map((v) => v.host)).toEqual(['snippet.example.com']);
    const refused = compileRoutes(snapshot(objects({ 'allow-snippet-annotations': 'false' }, snippet)), { ...options, snippetAnnotations: 'ignore' });
    expect(refused.virtualHosts).toEqual([]);
  });

  it('force-ssl-redirect redirects hosts without TLS', () => {
    const model = compileRoutes(snapshot(objects({ 'force-ssl-redirect': 'true' }, plain)), options);
    expect(routeOf(model, 'plain.example.com').sslRedirect).toBe(true);
  });
});
