// Fall-through and defaultBackend, from Ingress objects to lookups (compile + RouteTable).
import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { RouteTable } from '../../src/routing/route-table.js';
import { backend, exact, ingress, ingressClass, prefix, rule, snapshot } from '../helpers/objects.js';

const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-02-01T00:00:00Z';

describe('fall-through and defaultBackend', () => {
  const table = RouteTable.build(
    compileRoutes(
      snapshot([
        ingressClass('portico'),
        ingress('default/site', {
          className: 'portico',
          creationTimestamp: T2,
          rules: [
            rule('shop.example.com', [prefix('/cart', 'cart', 80)]),
            rule('*.example.com', [prefix('/static', 'static', 80)]),
            rule(undefined, [exact('/healthz', 'health', 80)]),
          ],
        }),
        // The Ingress with only a defaultBackend catches all unmatched traffic.
        ingress('default/catch-all', { className: 'portico', creationTimestamp: T1, defaultBackend: backend('fallback', 80) }),
      ]),
      DEFAULT_COMPILE_OPTIONS,
    ),
  );
  const svc = (host: string, path: string) => table.lookup(host, path)?.backend.service;

  it.each([
    ['shop.example.com', '/cart/1', 'cart'],
    ['shop.example.com', '/static/app.js', 'static'],
    ['shop.example.com', '/healthz', 'health'],
    ['shop.example.com', '/other', 'fallback'],
    ['blog.example.com', '/cart', 'fallback'],
    ['blog.example.com', '/static/x', 'static'],
    ['example.com', '/static/x', 'fallback'],
    ['elsewhere.test', '/healthz', 'health'],
    ['elsewhere.test', '/', 'fallback'],
  ])('%s%s → %s', (host, path, want) => {
    expect(svc(host, path)).toBe(want);
  });

  it('the defaultBackend match names its Ingress and no route', () => {
    expect(table.lookup('x.test', '/')).toEqual({
      backend: { key: 'default/fallback/80', namespace: 'default', service: 'fallback', port: 80 },
      ingress: 'default/catch-all',
    });
  });
});
