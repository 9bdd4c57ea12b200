import { describe, expect, it } from 'vitest';
import { configHash } from '../../src/controller/config-hash.js';
import type { RouteModel } from '../../src/model/route-model.js';
import type { TlsPlan } from '../../src/tls/compile-tls.js';

const backend = { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 };
const model = (path = '/'): RouteModel => ({
  virtualHosts: [{ host: 'shop.example.com', routes: [{ pathType: 'Prefix', path, backend, ingress: 'shop/web' }] }],
  hostless: [],
  backends: [backend],
  tls: [{ host: 'shop.example.com', secret: 'shop/tls', ingress: 'shop/web' }],
  ownedIngresses: ['shop/web'],
  diagnostics: [],
});
const plan = (id: string): TlsPlan =>
  ({ hosts: [{ host: 'shop.example.com', secret: 'shop/tls' }], certificates: new Map([['shop/tls', { id, certPem: 'x', keyPem: 'y' }]]), diagnostics: [] }) as unknown as TlsPlan;

describe('configHash', () => {
  it('is stable for the same configuration, whatever the diagnostics, and changes with routes or certificates', () => {
    const hash = configHash(model(), plan('c1'));
    expect(Number.isSafeInteger(hash) && hash > 0 && hash < 2 ** 48).toBe(true);
    expect(configHash(model(), plan('c1'))).toBe(hash);
    const diagnosed = { ...model(), diagnostics: [{ severity: 'warning', code: 'PORTICO_ERR_INGRESS_CONFLICT', object: { kind: 'Ingress', name: 'x' }, message: 'm' }] } as RouteModel;
    expect(configHash(diagnosed, plan('c1'))).toBe(hash);
    expect(configHash(model('/api'), plan('c1'))).not.toBe(hash);
    expect(configHash(model(), plan('c2'))).not.toBe(hash);
    expect(configHash(model(), undefined)).not.toBe(hash);
  });
});
