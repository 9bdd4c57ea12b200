// The model must not depend on the snapshot maps' insertion order.
import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { backend, exact, httpPath, ingress, ingressClass, prefix, rule, shuffled, snapshot } from '../helpers/objects.js';

function objects(): KubeObject[] {
  const out: KubeObject[] = [ingressClass('portico'), ingressClass('portico-2'), ingressClass('nginx', { controller: 'x/y' })];
  for (let i = 0; i < 40; i++) {
    const ns = `ns${i % 4}`;
    out.push(
      ingress(`${ns}/ing-${i}`, {
        className: i % 7 === 0 ? 'nginx' : i % 2 === 0 ? 'portico' : 'portico-2',
        // Some share a timestamp (tie by name), some have none (sort last).
        ...(i % 5 === 4 ? {} : { creationTimestamp: `2024-01-${String(1 + (i % 9)).padStart(2, '0')}T00:00:00Z` }),
        ...(i % 6 === 0 ? { defaultBackend: backend(`def-${i}`, 80) } : {}),
        rules: [
          rule(`h${i % 5}.example.com`, [
            prefix(`/p${i % 3}`, `svc-${i}`, 80),
            exact(`/e${i % 4}`, `svc-${i}`, 'http'),
            httpPath(`/bad//${i}`, 'Prefix', 'x', 80),
          ]),
          rule(i % 3 === 0 ? '*.example.com' : undefined, [prefix(i % 2 ? '/' : '/shared/', `svc-${i}`, 8080)]),
          rule('Bad_Host', [prefix('/', 'x', 80)]),
        ],
      }),
    );
  }
  return out;
}

describe('determinism', () => {
  it('shuffled input gives a deep-equal model', () => {
    const all = objects();
    const want = compileRoutes(snapshot(all), DEFAULT_COMPILE_OPTIONS);
    expect(want.virtualHosts.length).toBeGreaterThan(3);
    expect(want.diagnostics.some((d) => d.code === 'PORTICO_ERR_INGRESS_CONFLICT')).toBe(true);
    expect(want.diagnostics.some((d) => d.code === 'PORTICO_ERR_INGRESS_DEFAULT_BACKEND_CONFLICT')).toBe(true);
    for (let seed = 1; seed <= 20; seed++) {
      const got = compileRoutes(snapshot(shuffled(all, seed)), DEFAULT_COMPILE_OPTIONS);
      expect(got).toEqual(want);
      // Same key order too, so JSON output (golden files, diffs) is byte-identical.
      expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    }
  });

  it('output lists are sorted', () => {
    const model = compileRoutes(snapshot(objects()), DEFAULT_COMPILE_OPTIONS);
    const sorted = (xs: readonly string[]): string[] => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(model.virtualHosts.map((v) => v.host)).toEqual(sorted(model.virtualHosts.map((v) => v.host)));
    expect(model.backends.map((b) => b.key)).toEqual(sorted(model.backends.map((b) => b.key)));
    expect(new Set(model.backends.map((b) => b.key)).size).toBe(model.backends.length);
    expect(model.ownedIngresses).toEqual(sorted(model.ownedIngresses));
    for (const vhost of model.virtualHosts) {
      const keys = vhost.routes.map((r) => `${r.path}\u0000${r.pathType}`);
      expect(keys).toEqual(sorted(keys));
    }
    const diagKeys = model.diagnostics.map((d) => `${d.object.namespace}/${d.object.name}\u0000${d.field}\u0000${d.code}`);
    expect(diagKeys).toEqual(sorted(diagKeys));
  });
});
