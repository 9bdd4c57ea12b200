import { describe, expect, it } from 'vitest';
import { compileBackendDiagnostics } from '../../src/compile/backend-diagnostics.js';
import { compileBackends, compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { backend, endpointSlice, ingress, ingressClass, prefix, rule, service, snapshot } from '../helpers/objects.js';

describe('compileBackendDiagnostics', () => {
  it('puts each endpoint problem on every Ingress that routes to the backend, and nothing on healthy ones', () => {
    const snap = snapshot([
      ingressClass('portico', { isDefault: true }),
      service('shop/ok', [80]),
      endpointSlice('shop/ok-1', { service: 'ok', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }),
      service('shop/empty', [80]),
      ingress('shop/a', { rules: [rule('a.example.com', [prefix('/', 'ghost', 80), prefix('/ok', 'ok', 80)])] }),
      ingress('shop/b', { rules: [rule(undefined, [prefix('/b', 'ghost', 80)])], defaultBackend: backend('empty', 80) }),
      ingress('shop/c', { rules: [rule('c.example.com', [prefix('/', 'ok', 81)])] }),
    ]);
    const model = compileRoutes(snap, DEFAULT_COMPILE_OPTIONS);
    const diagnostics = compileBackendDiagnostics(model, compileBackends(snap, model.backends));
    expect(diagnostics.map((d) => [d.code, `${d.object.namespace}/${d.object.name}`])).toEqual([
      ['PORTICO_ERR_BACKEND_NO_ENDPOINTS', 'shop/b'],
      ['PORTICO_ERR_BACKEND_SERVICE_MISSING', 'shop/a'],
      ['PORTICO_ERR_BACKEND_SERVICE_MISSING', 'shop/b'],
      ['PORTICO_ERR_BACKEND_PORT_UNKNOWN', 'shop/c'],
    ]);
    expect(diagnostics[1]?.message).toMatch(/^backend ghost:80: .*; requests to it get 503$/);
  });
});
