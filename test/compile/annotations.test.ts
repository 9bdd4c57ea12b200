import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { parseIngressAnnotations } from '../../src/compile/annotations/index.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { ingress, ingressClass, prefix, rule, secret, snapshot } from '../helpers/objects.js';
import { createCertificateAuthority, issueCertificate } from '../../src/tls/certificate-factory.js';

const A = 'nginx.ingress.kubernetes.io/';
const parse = (annotations: Record<string, string>) => parseIngressAnnotations(ingress('shop/a', { annotations }));
const compile = (...ingresses: Ingress[]) => compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), ...ingresses]), DEFAULT_COMPILE_OPTIONS);

describe('annotations → route policies', () => {
  it('no per-route annotation: no policies at all (routes carry none)', () => {
    expect(parse({ [`${A}ssl-redirect`]: 'false', 'example.com/other': 'x' }).annotations.policies).toBeUndefined();
    const model = compile(ingress('shop/a', { rules: [rule('a.example', [prefix('/', 'web', 80)])] }));
    expect(model.virtualHosts[0]!.routes[0]!.policies).toBeUndefined();
  });

  it('reads source ranges as ingress-nginx does: bare addresses, spaces, IPv6, host bits masked, sorted and de-duplicated', () => {
    const { annotations, problems } = parse({
      [`${A}whitelist-source-range`]: ' 10.1.2.3/8,192.0.2.7 ,2001:db8::1/32,, 10.0.0.0/8',
      [`${A}denylist-source-range`]: '10.9.9.9',
    });
    expect(problems).toEqual([]);
    expect(annotations.policies?.sourceRange).toEqual({ allow: ['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32'], deny: ['10.9.9.9/32'] });
    expect(Object.isFrozen(annotations.policies)).toBe(true);
  });

  it('allowlist-source-range wins over the older whitelist-source-range', () => {
    expect(parse({ [`${A}whitelist-source-range`]: '10.0.0.0/8', [`${A}allowlist-source-range`]: '192.0.2.0/24' }).annotations.policies?.sourceRange).toEqual({ allow: ['192.0.2.0/24'] });
  });

  it('an unreadable list fails closed: allow nobody, an error naming the key and the bad entries', () => {
    for (const value of ['10.0.0.0/8, nonsense', '10.0.0.0/33', ' , ']) {
      const { annotations, problems } = parse({ [`${A}denylist-source-range`]: value });
      expect(annotations.policies?.sourceRange).toEqual({ allow: [] });
      expect(problems).toEqual([expect.objectContaining({ key: `${A}denylist-source-range`, severity: 'error' })]);
    }
    expect(parse({ [`${A}whitelist-source-range`]: 'a, b' }).problems[0]!.message).toContain('"a", "b" are not an IP address or CIDR');
  });

  it('upstream-vhost must be a host[:port]; x-forwarded-prefix any visible text; bad values are warnings and ignored', () => {
    expect(parse({ [`${A}upstream-vhost`]: 'svc.ns.svc.cluster.local:8080', [`${A}x-forwarded-prefix`]: '/api' }).annotations.policies).toEqual({ upstreamVhost: 'svc.ns.svc.cluster.local:8080', forwardedPrefix: '/api' });
    const bad = parse({ [`${A}upstream-vhost`]: 'a b\r\nX-Evil: 1', [`${A}x-forwarded-prefix`]: 'x\ny' });
    expect(bad.annotations.policies).toBeUndefined();
    expect(bad.problems.map((p) => [p.key, p.severity])).toEqual([[`${A}upstream-vhost`, 'warning'], [`${A}x-forwarded-prefix`, 'warning']]);
  });

  it('every route of the Ingress carries its policies, other Ingresses on the same host none; problems become diagnostics on the Ingress', () => {
    const model = compile(
      ingress('shop/a', { annotations: { [`${A}upstream-vhost`]: 'in.svc', [`${A}whitelist-source-range`]: 'bad' }, rules: [rule('h.example', [prefix('/a', 'web', 80), prefix('/b', 'web', 80)])] }),
      ingress('shop/b', { rules: [rule('h.example', [prefix('/c', 'web', 80)])] }),
    );
    expect(model.virtualHosts[0]!.routes.map((r) => [r.path, r.policies])).toEqual([
      ['/a', { sourceRange: { allow: [] }, upstreamVhost: 'in.svc' }],
      ['/b', { sourceRange: { allow: [] }, upstreamVhost: 'in.svc' }],
      ['/c', undefined],
    ]);
    expect(model.diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', code: 'PORTICO_ERR_INGRESS_ANNOTATION_INVALID', object: { kind: 'Ingress', namespace: 'shop', name: 'a' }, field: `metadata.annotations.${A}whitelist-source-range` }),
    ]);
  });
});

describe('redirect annotations', () => {
  it('permanent-redirect: 301 by default, the code when 300–308, else 301 with a warning', () => {
    expect(parse({ [`${A}permanent-redirect`]: 'https://new.example/' }).annotations.policies).toEqual({ redirect: { url: 'https://new.example/', status: 301 } });
    expect(parse({ [`${A}permanent-redirect`]: 'https://new.example/', [`${A}permanent-redirect-code`]: '308' }).annotations.policies?.redirect?.status).toBe(308);
    for (const code of ['309', '200', 'x', '30']) {
      const { annotations, problems } = parse({ [`${A}permanent-redirect`]: 'https://new.example/', [`${A}permanent-redirect-code`]: code });
      expect(annotations.policies?.redirect?.status, code).toBe(301);
      expect(problems, code).toEqual([expect.objectContaining({ key: `${A}permanent-redirect-code`, severity: 'warning' })]);
    }
  });

  it('temporal-redirect: 302, codes up to 307, and it wins over permanent-redirect', () => {
    const both = parse({ [`${A}permanent-redirect`]: 'https://p.example/', [`${A}temporal-redirect`]: 'http://t.example/x', [`${A}temporal-redirect-code`]: '307' });
    expect(both.annotations.policies?.redirect).toEqual({ url: 'http://t.example/x', status: 307 });
    expect(parse({ [`${A}temporal-redirect`]: 'http://t.example/', [`${A}temporal-redirect-code`]: '308' }).annotations.policies?.redirect?.status).toBe(302);
  });

  it('the URL must be absolute http(s), with only the variables Portico expands; otherwise ignored with a warning', () => {
    expect(parse({ [`${A}permanent-redirect`]: 'https://new.example$request_uri' }).annotations.policies?.redirect?.url).toBe('https://new.example$request_uri');
    for (const url of ['/relative', 'ftp://x.example/', 'https://a b/', 'http://a\u010d\u010aSet-Cookie:session=evil', 'https://例え.jp/', 'https://x.example/\r\nSet-Cookie: a=b', 'https://x.example/$remote_addr', 'https://x.example/${request_uri}']) {
      const { annotations, problems } = parse({ [`${A}permanent-redirect`]: url });
      expect(annotations.policies, url).toBeUndefined();
      expect(problems, url).toEqual([expect.objectContaining({ key: `${A}permanent-redirect`, severity: 'warning' })]);
    }
  });

  it('app-root must be a path starting with /', () => {
    expect(parse({ [`${A}app-root`]: '/app' }).annotations.policies).toEqual({ appRoot: '/app' });
    for (const root of ['app', 'https://x/app', '/a b', '/a#b']) {
      const { annotations, problems } = parse({ [`${A}app-root`]: root });
      expect(annotations.policies, root).toBeUndefined();
      expect(problems, root).toEqual([expect.objectContaining({ key: `${A}app-root`, severity: 'warning' })]);
    }
  });
});

describe('annotations Portico does not implement, and snippets', () => {
  it('one warning per Ingress names every unimplemented nginx annotation (sorted); other prefixes are not ours to judge', () => {
    const model = compile(
      ingress('shop/a', {
        annotations: { [`${A}satisfy`]: 'any', [`${A}proxy-redirect-from`]: 'http://m/', [`${A}upstream-vhost`]: 'in.svc', 'example.com/owner': 'team-a', [`${A}global-rate-limit`]: '5' },
        rules: [rule('h.example', [prefix('/', 'web', 80)])],
      }),
    );
    expect(model.virtualHosts[0]!.routes[0]!.policies).toEqual({ upstreamVhost: 'in.svc' });
    expect(model.diagnostics).toEqual([
      {
        severity: 'warning',
        code: 'PORTICO_ERR_INGRESS_ANNOTATION_UNSUPPORTED',
        object: { kind: 'Ingress', namespace: 'shop', name: 'a' },
        field: 'metadata.annotations',
        message: `not implemented by Portico, served without: ${A}global-rate-limit, ${A}proxy-redirect-from, ${A}satisfy`,
      },
    ]);
  });

  it('a snippet refuses the whole Ingress by default (an error naming it; no routes, no TLS), other Ingresses unaffected', () => {
    const snippet = ingress('shop/a', {
      annotations: { [`${A}configuration-snippet`]: 'more_set_headers "X: y";', [`${A}server-snippet`]: 'location /x {}' },
      rules: [rule('h.example', [prefix('/', 'web', 80)])],
      tls: [{ hosts: ['h.example'], secretName: 'tls' }],
    });
    const model = compile(snippet, ingress('shop/b', { rules: [rule('other.example', [prefix('/', 'web', 80)])] }));
    expect(model.virtualHosts.map((v) => v.host)).toEqual(['other.example']);
    expect(model.tls).toEqual([]);
    expect(model.diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', code: 'PORTICO_ERR_INGRESS_SNIPPET_REFUSED', field: `metadata.annotations.${A}configuration-snippet`, message: expect.stringContaining(`${A}configuration-snippet, ${A}server-snippet`) }),
    ]);
  });

  it('--snippet-annotations=ignore serves it without the snippet, with a warning', () => {
    const snippet = ingress('shop/a', { annotations: { [`${A}auth-snippet`]: 'x' }, rules: [rule('h.example', [prefix('/', 'web', 80)])] });
    const model = compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), snippet]), { ...DEFAULT_COMPILE_OPTIONS, snippetAnnotations: 'ignore' });
    expect(model.virtualHosts.map((v) => v.host)).toEqual(['h.example']);
    expect(model.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', code: 'PORTICO_ERR_INGRESS_SNIPPET_REFUSED' })]);
  });
});

describe('use-regex and rewrite-target', () => {
  const regexIngress = (name: string, annotations: Record<string, string>, paths: Array<[string, 'Prefix' | 'Exact' | 'ImplementationSpecific']>, host = 'h.example') =>
    ingress(`shop/${name}`, { annotations, rules: [{ host, http: { paths: paths.map(([path, pathType]) => ({ path, pathType, backend: { service: { name: 'web', port: { number: 80 } } } })) } }] });

  it('rewrite-target puts the Ingress in regex mode and is a route policy; use-regex alone only the mode', () => {
    expect(parse({ [`${A}rewrite-target`]: '/$2' }).annotations).toMatchObject({ regex: true, policies: { rewriteTarget: '/$2' } });
    expect(parse({ [`${A}use-regex`]: 'true' }).annotations).toMatchObject({ regex: true, policies: undefined });
    expect(parse({}).annotations.regex).toBe(false);
  });

  it('a rewrite target with other variables or not a path is an error and no rewrite (nor regex mode)', () => {
    for (const target of ['$host/x', 'relative', '/a b', '/x$uri']) {
      const { annotations, problems } = parse({ [`${A}rewrite-target`]: target });
      expect(annotations.policies, target).toBeUndefined();
      expect(annotations.regex, target).toBe(false);
      expect(problems, target).toEqual([expect.objectContaining({ key: `${A}rewrite-target`, severity: 'error' })]);
    }
  });

  it('one regex Ingress puts the whole host in regex mode, longest path first; other hosts keep element-wise paths', () => {
    const model = compile(
      regexIngress('rw', { [`${A}rewrite-target`]: '/$2' }, [['/something(/|$)(.*)', 'ImplementationSpecific']]),
      regexIngress('plain', {}, [['/a', 'Prefix'], ['/zz', 'Exact']]),
      regexIngress('other', {}, [['/b', 'Prefix']], 'other.example'),
    );
    const h = model.virtualHosts.find((v) => v.host === 'h.example')!;
    expect(h.regex).toBe(true);
    expect(h.routes.map((r) => [r.path, r.ingress, r.policies])).toEqual([
      ['/something(/|$)(.*)', 'shop/rw', { rewriteTarget: '/$2' }],
      ['/zz', 'shop/plain', undefined],
      ['/a', 'shop/plain', undefined],
    ]);
    expect(model.virtualHosts.find((v) => v.host === 'other.example')!.regex).toBeUndefined();
    expect(model.diagnostics).toEqual([]);
  });

  it('refuses expressions it cannot run or that need backtracking, naming the path; the rest of the Ingress serves; nested quantifiers run in linear time', () => {
    const model = compile(regexIngress('rw', { [`${A}use-regex`]: 'true' }, [['/ok/.*', 'Prefix'], ['/bad(', 'Prefix'], ['/(?=x)y', 'Prefix'], ['/(a)\\1', 'Prefix'], ['/(?i)x', 'Prefix'], ['/(a|aa)*$', 'Prefix']]));
    expect(model.virtualHosts[0]!.routes.map((r) => r.path)).toEqual(['/(a|aa)*$', '/ok/.*']);
    expect(model.diagnostics.map((d) => [d.code, d.field])).toEqual([
      ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[1].path'],
      ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[2].path'],
      ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[3].path'],
      ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[4].path'],
    ]);
    expect(model.diagnostics[1]!.message).toContain('needs backtracking');
  });

  it('a literal path of another Ingress that is not a usable expression in regex mode is reported and dropped', () => {
    const model = compile(regexIngress('rw', { [`${A}use-regex`]: 'true' }, [['/r.*', 'Prefix']]), regexIngress('plain', {}, [['/a(b', 'Prefix']]));
    expect(model.virtualHosts[0]!.routes.map((r) => r.path)).toEqual(['/r.*']);
    expect(model.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_INGRESS_PATH_INVALID', object: { kind: 'Ingress', namespace: 'shop', name: 'plain' }, message: expect.stringContaining('regex mode') })]);
  });
});

describe('rate limits', () => {
  it('limit-rps / limit-rpm with the burst multiplier (default 5) and the allowlist (limit-allowlist wins over limit-whitelist)', () => {
    expect(parse({ [`${A}limit-rps`]: '10' }).annotations.policies).toEqual({ rateLimit: { rps: 10, burstMultiplier: 5 } });
    expect(parse({ [`${A}limit-rpm`]: '300', [`${A}limit-burst-multiplier`]: '2', [`${A}limit-whitelist`]: '10.0.0.0/8', [`${A}limit-allowlist`]: '192.0.2.0/24' }).annotations.policies).toEqual({
      rateLimit: { rpm: 300, burstMultiplier: 2, exempt: ['192.0.2.0/24'] },
    });
    expect(parse({ [`${A}limit-burst-multiplier`]: '3' }).annotations.policies).toBeUndefined();
  });

  it('bad numbers are warnings and ignored; an unreadable allowlist exempts nobody', () => {
    const bad = parse({ [`${A}limit-rps`]: '0', [`${A}limit-rpm`]: 'ten' });
    expect(bad.annotations.policies).toBeUndefined();
    expect(bad.problems.map((p) => [p.key, p.severity])).toEqual([[`${A}limit-rps`, 'warning'], [`${A}limit-rpm`, 'warning']]);
    const list = parse({ [`${A}limit-rps`]: '5', [`${A}limit-whitelist`]: 'nope' });
    expect(list.annotations.policies).toEqual({ rateLimit: { rps: 5, burstMultiplier: 5 } });
    expect(list.problems).toEqual([expect.objectContaining({ key: `${A}limit-whitelist` })]);
  });
});

describe('CORS', () => {
  it('enable-cors alone: ingress-nginx defaults; off unless "true"', () => {
    expect(parse({ [`${A}enable-cors`]: 'true' }).annotations.policies?.cors).toEqual({
      origins: ['*'],
      methods: 'GET, PUT, POST, DELETE, PATCH, OPTIONS',
      headers: 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization',
      credentials: true,
      maxAge: 1728000,
    });
    expect(parse({ [`${A}cors-allow-origin`]: 'https://a.example' }).annotations.policies).toBeUndefined();
  });

  it('origins are normalised and sorted; values ingress-nginx would refuse fall back to its defaults with a warning', () => {
    const { annotations, problems } = parse({
      [`${A}enable-cors`]: 'true',
      [`${A}cors-allow-origin`]: 'https://B.example, not an origin, https://*.a.example:8443',
      [`${A}cors-allow-methods`]: 'GET;DROP TABLE',
      [`${A}cors-allow-headers`]: 'X-A, X-B',
      [`${A}cors-max-age`]: '-1',
    });
    expect(annotations.policies?.cors).toMatchObject({ origins: ['https://*.a.example:8443', 'https://b.example'], methods: 'GET, PUT, POST, DELETE, PATCH, OPTIONS', headers: 'X-A, X-B', maxAge: 1728000 });
    expect(problems.map((p) => p.key)).toEqual([`${A}cors-allow-origin`, `${A}cors-allow-methods`, `${A}cors-max-age`]);
    expect(parse({ [`${A}enable-cors`]: 'true', [`${A}cors-allow-origin`]: 'https://a.example, *' }).annotations.policies?.cors?.origins).toEqual(['*']);
  });
});

describe('server-alias and from-to-www-redirect', () => {
  it('an alias serves every route of its host (all Ingresses); an alias that is a host of its own is ignored with a warning', () => {
    const model = compile(
      ingress('shop/a', { annotations: { [`${A}server-alias`]: 'Alias.example, b.example, bad_host' }, rules: [rule('h.example', [prefix('/a', 'web', 80)])] }),
      ingress('shop/c', { rules: [rule('h.example', [prefix('/c', 'web', 80)]), rule('b.example', [prefix('/', 'web', 80)])] }),
    );
    expect(model.virtualHosts.map((v) => [v.host, v.routes.map((r) => r.path)])).toEqual([
      ['alias.example', ['/a', '/c']],
      ['b.example', ['/']],
      ['h.example', ['/a', '/c']],
    ]);
    expect(model.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['PORTICO_ERR_INGRESS_ANNOTATION_INVALID', expect.stringContaining('"bad_host"')],
      ['PORTICO_ERR_INGRESS_CONFLICT', 'server-alias b.example ignored: it is a host of its own'],
    ]);
  });

  it('from-to-www-redirect: the counterpart answers 308 to the host, unless it is a host of its own', () => {
    const model = compile(
      ingress('shop/a', { annotations: { [`${A}from-to-www-redirect`]: 'true' }, rules: [rule('shop.example', [prefix('/', 'web', 80)]), rule('www.blog.example', [prefix('/', 'web', 80)]), rule('taken.example', [prefix('/', 'web', 80)])] }),
      ingress('shop/b', { rules: [rule('www.taken.example', [prefix('/', 'web', 80)])] }),
    );
    const redirectOf = (host: string) => model.virtualHosts.find((v) => v.host === host)?.routes[0]?.policies?.redirect;
    expect(redirectOf('www.shop.example')).toEqual({ url: '$scheme://shop.example$request_uri', status: 308 });
    expect(redirectOf('blog.example')).toEqual({ url: '$scheme://www.blog.example$request_uri', status: 308 });
    expect(redirectOf('www.taken.example')).toBeUndefined();
  });
});

describe('canary', () => {
  const canary = (name: string, annotations: Record<string, string>, host = 'h.example', path = '/') =>
    ingress(`shop/${name}`, { annotations: { [`${A}canary`]: 'true', ...annotations }, rules: [rule(host, [prefix(path, 'web-canary', 80)])] });

  it('a canary shares host and path with its main Ingress without a conflict, its backend in the model; its other annotations do not apply', () => {
    const model = compile(
      ingress('shop/main', { annotations: { [`${A}upstream-vhost`]: 'main.svc' }, rules: [rule('h.example', [prefix('/', 'web', 80)])] }),
      canary('c', { [`${A}canary-by-header`]: 'X-Canary', [`${A}canary-weight`]: '20', [`${A}upstream-vhost`]: 'ignored.svc' }),
    );
    expect(model.virtualHosts[0]!.routes).toEqual([
      expect.objectContaining({ ingress: 'shop/main', policies: { upstreamVhost: 'main.svc', canary: { backend: expect.objectContaining({ service: 'web-canary' }), ingress: 'shop/c', header: 'x-canary', weight: 20, weightTotal: 100 } } }),
    ]);
    expect(model.backends.map((b) => b.service)).toEqual(['web-canary', 'web']); // sorted by key: shop/web-canary/80 < shop/web/80
    expect(model.diagnostics).toEqual([]);
  });

  it('a canary without a main path, or a second canary, is reported and not served', () => {
    const model = compile(
      ingress('shop/main', { rules: [rule('h.example', [prefix('/', 'web', 80)])] }),
      canary('a', { [`${A}canary-weight`]: '10' }),
      canary('b', { [`${A}canary-weight`]: '10' }),
      canary('lost', {}, 'h.example', '/other'),
    );
    expect(model.virtualHosts[0]!.routes.map((r) => [r.path, r.policies?.canary?.ingress])).toEqual([['/', 'shop/a']]);
    expect(model.diagnostics.map((d) => [d.code, d.object.name])).toEqual([
      ['PORTICO_ERR_INGRESS_CANARY_UNMATCHED', 'b'],
      ['PORTICO_ERR_INGRESS_CANARY_UNMATCHED', 'lost'],
    ]);
  });

  it('reads the rules as ingress-nginx: a pattern only without a value, weights within the total, bad values warned', () => {
    expect(parse({ [`${A}canary`]: 'true', [`${A}canary-by-header`]: 'x', [`${A}canary-by-header-value`]: 'v', [`${A}canary-by-header-pattern`]: 'p' }).annotations.canary).toEqual({ header: 'x', headerValue: 'v', weight: 0, weightTotal: 100 });
    const { annotations, problems } = parse({ [`${A}canary`]: 'true', [`${A}canary-weight`]: '150', [`${A}canary-weight-total`]: '1000', [`${A}canary-by-cookie`]: 'bad cookie' });
    expect(annotations.canary).toEqual({ weight: 150, weightTotal: 1000 });
    expect(problems.map((p) => p.key)).toEqual([`${A}canary-by-cookie`]);
    expect(parse({ [`${A}canary`]: 'true', [`${A}canary-weight`]: '1500', [`${A}canary-weight-total`]: '1000' }).problems.map((p) => p.key)).toEqual([`${A}canary-weight`]);
    expect(parse({ [`${A}canary-weight`]: '10' }).annotations.canary).toBeUndefined();
  });
});

describe('proxy timeouts', () => {
  it('seconds (a trailing s accepted) → ms; bad values warned and the default kept', () => {
    expect(parse({ [`${A}proxy-read-timeout`]: '120', [`${A}proxy-send-timeout`]: '30s', [`${A}proxy-connect-timeout`]: '5' }).annotations.policies?.timeouts).toEqual({ readMs: 120_000, sendMs: 30_000, connectMs: 5000 });
    const bad = parse({ [`${A}proxy-read-timeout`]: '0', [`${A}proxy-connect-timeout`]: '1m', [`${A}proxy-send-timeout`]: '2200000' });
    expect(bad.annotations.policies).toBeUndefined();
    expect(bad.problems.map((p) => p.key)).toEqual([`${A}proxy-connect-timeout`, `${A}proxy-read-timeout`, `${A}proxy-send-timeout`]);
  });
});

describe('affinity', () => {
  it('affinity: cookie with ingress-nginx defaults (INGRESSCOOKIE, balanced); only "cookie"; bad attributes warned', () => {
    expect(parse({ [`${A}affinity`]: 'cookie' }).annotations.policies?.affinity).toEqual({ cookie: 'INGRESSCOOKIE', mode: 'balanced', secure: false });
    const full = parse({ [`${A}affinity`]: 'cookie', [`${A}session-cookie-name`]: 'route', [`${A}session-cookie-samesite`]: 'none', [`${A}session-cookie-expires`]: '172800', [`${A}session-cookie-path`]: '/app', [`${A}affinity-mode`]: 'persistent', [`${A}session-cookie-secure`]: 'true' });
    expect(full.annotations.policies?.affinity).toEqual({ cookie: 'route', mode: 'persistent', path: '/app', sameSite: 'None', secure: true, expires: 172800 });
    expect(parse({ [`${A}affinity`]: 'ip' }).annotations.policies).toBeUndefined();
    const bad = parse({ [`${A}affinity`]: 'cookie', [`${A}session-cookie-name`]: 'a b', [`${A}session-cookie-max-age`]: '-1' });
    expect(bad.annotations.policies?.affinity).toEqual({ cookie: 'INGRESSCOOKIE', mode: 'balanced', secure: false });
    expect(bad.problems.map((p) => p.key).sort()).toEqual([`${A}session-cookie-max-age`, `${A}session-cookie-name`]);
  });
});

describe('backend-protocol', () => {
  it('HTTPS → TLS upstream, SNI only with proxy-ssl-server-name on; HTTP is the default; GRPC / GRPCS → gRPC (over TLS); FCGI is an error served over HTTP/1.1', () => {
    expect(parse({ [`${A}backend-protocol`]: 'HTTPS' }).annotations.policies).toEqual({ upstreamTls: {} });
    expect(parse({ [`${A}backend-protocol`]: 'https', [`${A}proxy-ssl-server-name`]: 'on', [`${A}proxy-ssl-name`]: 'svc.ns' }).annotations.policies).toEqual({ upstreamTls: { serverName: 'svc.ns' } });
    expect(parse({ [`${A}backend-protocol`]: 'HTTP' }).annotations.policies).toBeUndefined();
    expect(parse({ [`${A}backend-protocol`]: 'GRPC' }).annotations.policies).toEqual({ grpc: true });
    expect(parse({ [`${A}backend-protocol`]: 'grpcs', [`${A}proxy-ssl-server-name`]: 'on', [`${A}proxy-ssl-name`]: 'grpc.ns' }).annotations.policies).toEqual({ grpc: true, upstreamTls: { serverName: 'grpc.ns' } });
    const { annotations, problems } = parse({ [`${A}backend-protocol`]: 'FCGI' });
    expect(annotations.policies).toBeUndefined();
    expect(problems).toEqual([expect.objectContaining({ key: `${A}backend-protocol`, severity: 'error' })]);
  });
});

describe('proxy-ssl-*', () => {
  const https = (extra: Record<string, string>) => parse({ [`${A}backend-protocol`]: 'HTTPS', ...extra });
  const ca = createCertificateAuthority({ commonName: 'Test CA', keyBits: 1024 });
  const client = issueCertificate({ commonName: 'portico', issuer: ca, keyBits: 1024 });
  const other = issueCertificate({ commonName: 'other', keyBits: 1024 });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const tlsIngress = (annotations: Record<string, string>) => ingress('shop/a', { annotations: { [`${A}backend-protocol`]: 'HTTPS', ...annotations }, rules: [rule('h.example', [prefix('/', 'web', 443)])] });
  const compileWith = (ing: Ingress, ...secrets: ReturnType<typeof secret>[]) => compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), ing, ...secrets]), DEFAULT_COMPILE_OPTIONS);
  const upstreamTls = (model: ReturnType<typeof compileWith>) => model.virtualHosts[0]!.routes[0]!.policies?.upstreamTls;

  it('reads verify, depth, protocols and ciphers; the defaults leave the fields absent', () => {
    expect(https({ [`${A}proxy-ssl-verify`]: 'off', [`${A}proxy-ssl-protocols`]: 'TLSv1.2 TLSv1.3', [`${A}proxy-ssl-ciphers`]: 'DEFAULT' }).annotations.policies).toEqual({ upstreamTls: {} });
    const full = https({ [`${A}proxy-ssl-verify`]: 'on', [`${A}proxy-ssl-secret`]: 'ca', [`${A}proxy-ssl-verify-depth`]: '3', [`${A}proxy-ssl-name`]: 'api.internal', [`${A}proxy-ssl-protocols`]: 'TLSv1.3', [`${A}proxy-ssl-ciphers`]: 'ECDHE-RSA-AES128-GCM-SHA256:!aNULL' });
    expect(full.problems).toEqual([]);
    expect(full.annotations.policies?.upstreamTls).toEqual({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:!aNULL' });
    expect(full.annotations.proxySsl).toEqual({ secret: 'shop/ca', verify: { name: 'api.internal', depth: 3 } });
    expect(Object.isFrozen(full.annotations.policies?.upstreamTls)).toBe(true);
    expect(https({ [`${A}proxy-ssl-protocols`]: 'TLSv1.1  TLSv1.2' }).annotations.policies?.upstreamTls).toEqual({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.2' });
    expect(https({ [`${A}proxy-ssl-secret`]: 'other/client' }).annotations.proxySsl).toEqual({ secret: 'other/client', verify: undefined });
  });

  // [annotations, the key reported, severity, refused (every request 502)]
  const invalid: Array<[Record<string, string>, string, 'error' | 'warning', boolean]> = [
    [{ [`${A}proxy-ssl-verify`]: 'yes' }, 'proxy-ssl-verify', 'error', true],
    [{ [`${A}proxy-ssl-verify`]: 'true', [`${A}proxy-ssl-secret`]: 'ca' }, 'proxy-ssl-verify', 'error', true],
    [{ [`${A}proxy-ssl-verify`]: 'on' }, 'proxy-ssl-verify', 'error', true],
    [{ [`${A}proxy-ssl-secret`]: 'a/b/c' }, 'proxy-ssl-secret', 'error', true],
    [{ [`${A}proxy-ssl-secret`]: 'Shop/CA' }, 'proxy-ssl-secret', 'error', true],
    [{ [`${A}proxy-ssl-secret`]: '' }, 'proxy-ssl-secret', 'error', true],
    [{ [`${A}proxy-ssl-protocols`]: 'SSLv3 TLSv1.2' }, 'proxy-ssl-protocols', 'warning', false],
    [{ [`${A}proxy-ssl-protocols`]: 'TLSv1 TLSv1.3' }, 'proxy-ssl-protocols', 'warning', false],
    [{ [`${A}proxy-ssl-protocols`]: 'tls1.3' }, 'proxy-ssl-protocols', 'warning', false],
    [{ [`${A}proxy-ssl-ciphers`]: 'AES128 ; rm' }, 'proxy-ssl-ciphers', 'warning', false],
    [{ [`${A}proxy-ssl-verify-depth`]: '-1' }, 'proxy-ssl-verify-depth', 'warning', false],
  ];
  it.each(invalid)('%o: a %s diagnostic', (annotations, key, severity, refused) => {
    const { annotations: parsed, problems } = https(annotations);
    expect(problems).toEqual([expect.objectContaining({ key: `${A}${key}`, severity })]);
    const tls = parsed.policies?.upstreamTls;
    if (refused) expect(tls?.refused).toContain(`${A}${key}`);
    else expect(tls).toEqual({});
    if (refused) expect(parsed.proxySsl).toBeUndefined();
  });

  it('without backend-protocol HTTPS / GRPCS the proxy-ssl-* keys do nothing (a warning, as nginx ignores them for http://)', () => {
    const { annotations, problems } = parse({ [`${A}proxy-ssl-verify`]: 'on', [`${A}proxy-ssl-secret`]: 'ca' });
    expect(annotations.policies).toBeUndefined();
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringContaining('no effect without backend-protocol HTTPS') })]);
  });

  it('the Secret gives ca.crt (verify) and tls.crt + tls.key (client certificate); the Secret is watched', () => {
    const model = compileWith(
      tlsIngress({ [`${A}proxy-ssl-secret`]: 'shop/upstream', [`${A}proxy-ssl-verify`]: 'on' }),
      secret('shop/upstream', { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(client.certPem), 'tls.key': b64(client.keyPem) }),
    );
    expect(model.diagnostics).toEqual([]);
    const tls = upstreamTls(model)!;
    expect(tls.verify).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE'), depth: 1 });
    expect(tls.clientCertificate?.key).toBe(client.keyPem);
    expect(tls.refused).toBeUndefined();
    expect(model.authSecrets).toEqual(['shop/upstream']);
    // ca.crt with verify off: no verification, as nginx (proxy_ssl_verify off).
    const off = compileWith(tlsIngress({ [`${A}proxy-ssl-secret`]: 'shop/upstream' }), secret('shop/upstream', { 'ca.crt': b64(ca.certPem) }));
    expect(upstreamTls(off)).toEqual({});
  });

  // [Secret data (undefined: no Secret), verify, the message]
  const unusable: Array<[Record<string, string> | undefined, boolean, string]> = [
    [undefined, false, 'Secret shop/upstream (proxy-ssl-secret) does not exist'],
    [undefined, true, 'Secret shop/upstream (proxy-ssl-secret) does not exist'],
    [{ other: 'eA==' }, false, 'has neither ca.crt nor tls.crt and tls.key'],
    [{ 'tls.crt': b64(client.certPem) }, false, 'tls.crt without tls.key'],
    [{ 'tls.crt': b64(client.certPem), 'tls.key': b64(other.keyPem) }, false, 'tls.key of Secret shop/upstream does not match its tls.crt'],
    [{ 'ca.crt': b64('not a pem') }, true, 'ca.crt of Secret shop/upstream holds no PEM certificate'],
    [{ 'tls.crt': b64(client.certPem), 'tls.key': b64(client.keyPem) }, true, 'has no ca.crt to verify against'],
  ];
  it.each(unusable)('Secret %o (verify %s): an error naming annotation and Secret, the route refused', (data, verify, message) => {
    const model = compileWith(tlsIngress({ [`${A}proxy-ssl-secret`]: 'shop/upstream', ...(verify && { [`${A}proxy-ssl-verify`]: 'on' }) }), ...(data === undefined ? [] : [secret('shop/upstream', data)]));
    expect(model.diagnostics).toEqual([expect.objectContaining({ severity: 'error', code: 'PORTICO_ERR_INGRESS_PROXY_SSL_SECRET', field: `metadata.annotations.${A}proxy-ssl-secret`, message: expect.stringContaining(message) })]);
    expect(upstreamTls(model)?.refused).toContain(message);
    expect(upstreamTls(model)?.verify).toBeUndefined();
    expect(model.authSecrets).toEqual(['shop/upstream']);
  });
});

describe('auth-type basic', () => {
  const authIngress = (annotations: Record<string, string>) => ingress('shop/a', { annotations: { [`${A}auth-type`]: 'basic', ...annotations }, rules: [rule('h.example', [prefix('/', 'web', 80)])] });
  const file = (text: string) => ({ auth: Buffer.from(text).toString('base64') });
  const compileWith = (ing: Ingress, ...secrets: ReturnType<typeof secret>[]) => compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), ing, ...secrets]), DEFAULT_COMPILE_OPTIONS);

  it('reads the Secret (auth-file or auth-map) into the policy, sorted; the model names it so a change rebuilds the routes', () => {
    const model = compileWith(authIngress({ [`${A}auth-secret`]: 'htpasswd', [`${A}auth-realm`]: 'Staff' }), secret('shop/htpasswd', file('zed:{PLAIN}z\n# comment\nann:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n')));
    expect(model.virtualHosts[0]!.routes[0]!.policies?.basicAuth).toEqual({ realm: 'Staff', users: [['ann', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='], ['zed', '{PLAIN}z']] });
    expect(model.authSecrets).toEqual(['shop/htpasswd']);
    expect(model.diagnostics).toEqual([]);
    const map = compileWith(authIngress({ [`${A}auth-secret`]: 'other/users', [`${A}auth-secret-type`]: 'auth-map' }), secret('other/users', { bo: Buffer.from('{PLAIN}b').toString('base64') }));
    expect(map.virtualHosts[0]!.routes[0]!.policies?.basicAuth?.users).toEqual([['bo', '{PLAIN}b']]);
  });

  it('fails closed: a missing Secret, no usable user or a bad annotation leaves no users (everyone 401), with an error naming why', () => {
    const missing = compileWith(authIngress({ [`${A}auth-secret`]: 'nope' }));
    expect(missing.virtualHosts[0]!.routes[0]!.policies?.basicAuth?.users).toEqual([]);
    expect(missing.diagnostics).toEqual([expect.objectContaining({ severity: 'error', code: 'PORTICO_ERR_INGRESS_AUTH_SECRET', message: 'Secret shop/nope does not exist' })]);
    const crypt = compileWith(authIngress({ [`${A}auth-secret`]: 's' }), secret('shop/s', file('old:abJnggxhB/yWI\n')));
    expect(crypt.virtualHosts[0]!.routes[0]!.policies?.basicAuth?.users).toEqual([]);
    expect(crypt.diagnostics.map((d) => d.message)).toHaveLength(2);
    expect(crypt.diagnostics.map((d) => d.message)).toEqual(expect.arrayContaining([expect.stringContaining('user "old" has a hash format Portico does not check'), expect.stringContaining('lists no usable user')]));
    const digest = compileWith(authIngress({ [`${A}auth-type`]: 'digest', [`${A}auth-secret`]: 's' }));
    expect(digest.virtualHosts[0]!.routes[0]!.policies?.basicAuth?.users).toEqual([]);
    expect(digest.diagnostics).toEqual([expect.objectContaining({ severity: 'error', field: `metadata.annotations.${A}auth-type` })]);
  });
});

describe('auth-url', () => {
  it('reads the URL, method, response headers and signin; an unusable auth-url refuses (500) with an error', () => {
    expect(parse({ [`${A}auth-url`]: 'http://oauth2-proxy.auth.svc/oauth2/auth', [`${A}auth-response-headers`]: 'X-Auth-Request-User, X-Auth-Request-Email', [`${A}auth-signin`]: 'https://$host/oauth2/start?rd=$escaped_request_uri' }).annotations.policies?.externalAuth).toEqual({
      url: 'http://oauth2-proxy.auth.svc/oauth2/auth',
      method: 'GET',
      responseHeaders: ['x-auth-request-user', 'x-auth-request-email'],
      signin: 'https://$host/oauth2/start?rd=$escaped_request_uri',
      signinParam: 'rd',
    });
    for (const url of ['/relative', 'http://a b/', 'http://x/$remote_addr']) {
      const { annotations, problems } = parse({ [`${A}auth-url`]: url });
      expect(annotations.policies?.externalAuth, url).toBe('refused');
      expect(problems, url).toEqual([expect.objectContaining({ key: `${A}auth-url`, severity: 'error' })]);
    }
  });
});

describe('proxy-next-upstream', () => {
  it('off (or no error/timeout condition) disables retries; tries and timeout bound them; unknown conditions warned', () => {
    expect(parse({ [`${A}proxy-next-upstream`]: 'off' }).annotations.policies?.nextUpstream).toEqual({ off: true });
    expect(parse({ [`${A}proxy-next-upstream`]: 'http_502' }).annotations.policies?.nextUpstream).toEqual({ off: true });
    expect(parse({ [`${A}proxy-next-upstream`]: 'error timeout http_503', [`${A}proxy-next-upstream-tries`]: '3', [`${A}proxy-next-upstream-timeout`]: '10' }).annotations.policies?.nextUpstream).toEqual({ off: false, tries: 3, timeoutMs: 10_000 });
    expect(parse({ [`${A}proxy-next-upstream-tries`]: '0' }).annotations.policies?.nextUpstream).toEqual({ off: false });
    expect(parse({ [`${A}proxy-next-upstream`]: 'error sometimes' }).problems.map((p) => p.key)).toEqual([`${A}proxy-next-upstream`]);
  });
});
