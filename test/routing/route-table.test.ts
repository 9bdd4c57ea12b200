import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import type { RouteModel } from '../../src/model/route-model.js';
import { normalizePathForMatch } from '../../src/lib/normalize-path.js';
import { normalizeHost, RouteTable } from '../../src/routing/route-table.js';
import { HOST_EXAMPLES, hostExampleMatchIndex, hostExampleRules, hostExampleService } from '../helpers/host-examples.js';
import { ingress, ingressClass, snapshot } from '../helpers/objects.js';
import { backendRef, exactRoute, prefixRoute } from '../helpers/routes.js';

const b = (svc: string) => backendRef(`default/${svc}`, 80);

function model(parts: Partial<RouteModel>): RouteModel {
  return { virtualHosts: [], hostless: [], backends: [], tls: [], ownedIngresses: [], diagnostics: [], ...parts };
}

describe('normalizeHost', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['EXAMPLE.com.:443', 'example.com'],
    ['example.com..', 'example.com.'],
    ['[::1]:8080', '[::1]'],
    ['[FD00::1]', '[fd00::1]'],
    ['::1', '::1'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['', ''],
    [':80', ''],
  ])('%j → %j', (input, want) => {
    expect(normalizeHost(input)).toBe(want);
  });

  it('returns the same string when there is nothing to change', () => {
    const host = 'already.normal.example.com';
    expect(normalizeHost(host)).toBe(host);
  });
});

describe('RouteTable host examples', () => {
  it.each(HOST_EXAMPLES)('$name', (example) => {
    const m = compileRoutes(
      snapshot([ingressClass('portico'), ingress('default/hosts', { className: 'portico', rules: hostExampleRules(example) })]),
      DEFAULT_COMPILE_OPTIONS,
    );
    expect(m.diagnostics).toEqual([]);
    const match = RouteTable.build(m).lookup(example.request, '/');
    const index = hostExampleMatchIndex(example);
    if (index < 0) expect(match).toBeUndefined();
    else expect(match?.backend.service).toBe(hostExampleService(index));
  });
});

describe('RouteTable.lookup', () => {
  const table = RouteTable.build(
    model({
      virtualHosts: [
        { host: '*.example.com', routes: [prefixRoute('/wild', b('wild'), 'default/i')] },
        {
          host: 'app.example.com',
          routes: [exactRoute('/login', b('login'), 'default/i'), prefixRoute('/app', b('app'), 'default/i')],
        },
      ],
      hostless: [prefixRoute('/shared', b('shared'), 'default/i')],
      defaultBackend: { backend: b('default'), ingress: 'default/d' },
    }),
  );
  const svc = (host: string | undefined, path: string) => table.lookup(host, path)?.backend.service;

  it('matches percent-encoded unreserved characters as themselves (nginx decodes before matching), reserved ones never', () => {
    expect(svc('app.example.com', '/%61pp/x')).toBe('app');
    expect(svc('app.example.com', '/%6c%6F%67%69%6e')).toBe('login');
    expect(svc('app.example.com', '/ap%70?q=%61')).toBe('app');
    // %2F is a reserved character: /app%2Fx is one segment, not /app/x.
    expect(svc('app.example.com', '/app%2Fx')).toBe('default');
    expect(normalizePathForMatch('/a%2fb%7e%20')).toBe('/a%2Fb~%20');
    expect(normalizePathForMatch('/plain')).toBe('/plain');
  });

  it('exact host first', () => {
    expect(svc('app.example.com', '/app/x')).toBe('app');
    expect(svc('app.example.com', '/login')).toBe('login');
  });

  // Fall-through: a matching host without a matching path tries the next level.
  it('falls through exact host → wildcard → hostless → defaultBackend', () => {
    expect(svc('app.example.com', '/wild/x')).toBe('wild');
    expect(svc('app.example.com', '/shared')).toBe('shared');
    expect(svc('app.example.com', '/login/')).toBe('default');
    expect(svc('other.example.com', '/app')).toBe('default');
    expect(svc('other.example.com', '/wild')).toBe('wild');
    expect(svc('other.example.com', '/shared/x')).toBe('shared');
  });

  it('unknown or absent host uses hostless rules then the defaultBackend', () => {
    expect(svc('unknown.test', '/shared')).toBe('shared');
    expect(svc(undefined, '/shared')).toBe('shared');
    expect(svc('', '/shared')).toBe('shared');
    expect(svc(undefined, '/app')).toBe('default');
  });

  it('returns the route (and the rule host it matched under) for route matches and none for the defaultBackend', () => {
    const hit = table.lookup('App.Example.com:8080', '/app');
    expect(hit).toEqual({ backend: b('app'), ingress: 'default/i', route: prefixRoute('/app', b('app'), 'default/i'), host: 'app.example.com' });
    expect(table.lookup('x.test', '/')).toEqual({ backend: b('default'), ingress: 'default/d' });
  });

  it('returns the same RouteMatch object each time (no per-request allocation)', () => {
    expect(table.lookup('app.example.com', '/app/1')).toBe(table.lookup('APP.example.com:80', '/app/2?x'));
  });

  it('strips the query string', () => {
    expect(svc('app.example.com', '/login?next=/app')).toBe('login');
    expect(svc('app.example.com', '/?x=/app')).toBe('default');
  });

  it('undefined without a defaultBackend (the proxy answers 404)', () => {
    const t = RouteTable.build(model({ virtualHosts: [{ host: 'a.com', routes: [exactRoute('/', b('a'), 'default/i')] }] }));
    expect(t.lookup('a.com', '/x')).toBeUndefined();
    expect(t.lookup('b.com', '/')).toBeUndefined();
    expect(t.lookup(undefined, '/')).toBeUndefined();
    expect(RouteTable.build(model({})).lookup('a.com', '/')).toBeUndefined();
  });

  it('a defaultBackend alone catches everything', () => {
    const t = RouteTable.build(model({ defaultBackend: { backend: b('catch'), ingress: 'default/c' } }));
    expect(t.lookup('any.host', '/any/path')?.backend.service).toBe('catch');
    expect(t.lookup(undefined, '')?.backend.service).toBe('catch');
  });
});

describe('RouteTable regex mode (use-regex / rewrite-target)', () => {
  const table = RouteTable.build(
    model({
      virtualHosts: [
        { host: 're.example.com', regex: true, routes: [prefixRoute('/api/v[0-9]+/(.*)', b('v'), 'default/i'), prefixRoute('/api', b('api'), 'default/i'), exactRoute('/x', b('x'), 'default/i')] },
      ],
      hostless: [prefixRoute('/', b('hostless'), 'default/i')],
    }),
  );
  const svc = (path: string) => table.lookup('re.example.com', path)?.backend.service;

  it('tries the expressions in model order, anchored at the start, case-insensitively', () => {
    expect(svc('/api/v2/users')).toBe('v');
    expect(svc('/API/V2/users')).toBe('v');
    expect(svc('/api/vx/users')).toBe('api');
    expect(svc('/apiary')).toBe('api'); // a regex prefix, not element-wise
    expect(svc('/x/more')).toBe('x'); // Exact is a prefix expression too in regex mode, as in ingress-nginx
    expect(svc('/v1/api')).toBe('hostless'); // anchored at the start; no match falls through
  });
});
