import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { ingress, ingressClass, prefix, rule, snapshot } from '../helpers/objects.js';

const compile = (...ingresses: Ingress[]) => compileRoutes(snapshot([ingressClass('portico', { isDefault: true }), ...ingresses]), DEFAULT_COMPILE_OPTIONS);
const redirects = (model: ReturnType<typeof compile>) =>
  Object.fromEntries([...model.virtualHosts.map((v) => [v.host, v.routes.map((r) => r.sslRedirect === true)]), ['', model.hostless.map((r) => r.sslRedirect === true)]]);

describe('Ingress TLS and redirects', () => {
  it('collects TLS hosts; entries without hosts cover the rule hosts', () => {
    const model = compile(
      ingress('shop/a', { tls: [{ hosts: ['A.example.com'], secretName: 'a-tls' }, { secretName: 'all-tls' }], rules: [rule('a.example.com', [prefix('/', 'web', 80)]), rule('b.example.com', [prefix('/', 'web', 80)])] }),
    );
    expect(model.tls).toEqual([
      { host: 'a.example.com', secret: 'shop/a-tls', ingress: 'shop/a' },
      { host: 'b.example.com', secret: 'shop/all-tls', ingress: 'shop/a' },
    ]);
  });

  it('gives a TLS host to the oldest Ingress and reports the other', () => {
    const model = compile(
      ingress('shop/new', { creationTimestamp: '2026-02-01T00:00:00Z', tls: [{ hosts: ['a.example.com'], secretName: 'new' }] }),
      ingress('shop/old', { creationTimestamp: '2026-01-01T00:00:00Z', tls: [{ hosts: ['a.example.com'], secretName: 'old' }] }),
    );
    expect(model.tls).toEqual([{ host: 'a.example.com', secret: 'shop/old', ingress: 'shop/old' }]);
    expect(model.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_INGRESS_TLS_CONFLICT', object: { kind: 'Ingress', namespace: 'shop', name: 'new' } })]);
  });

  it('reports an invalid TLS host and skips it', () => {
    const model = compile(ingress('shop/a', { tls: [{ hosts: ['10.0.0.1', 'ok.example.com'], secretName: 's' }] }));
    expect(model.tls.map((t) => t.host)).toEqual(['ok.example.com']);
    expect(model.diagnostics[0]).toMatchObject({ code: 'PORTICO_ERR_INGRESS_HOST_INVALID', field: 'spec.tls[0].hosts[0]' });
  });

  it('redirects routes of TLS hosts unless ssl-redirect is "false"; force-ssl-redirect redirects anywhere', () => {
    const model = compile(
      ingress('shop/tls', { tls: [{ hosts: ['secure.example.com', '*.apps.example.com'], secretName: 's' }], rules: [rule('secure.example.com', [prefix('/', 'web', 80)])] }),
      ingress('shop/other-ingress-same-host', { rules: [rule('secure.example.com', [prefix('/other', 'web', 80)])] }),
      ingress('shop/apps', { rules: [rule('x.apps.example.com', [prefix('/', 'web', 80)])] }),
      ingress('shop/off', { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }, tls: [{ hosts: ['off.example.com'], secretName: 's' }], rules: [rule('off.example.com', [prefix('/', 'web', 80)])] }),
      ingress('shop/force', { annotations: { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' }, rules: [rule('force.example.com', [prefix('/', 'web', 80)]), rule(undefined, [prefix('/hostless', 'web', 80)])] }),
      ingress('shop/plain', { rules: [rule('plain.example.com', [prefix('/', 'web', 80)]), rule(undefined, [prefix('/', 'web', 80)])] }),
    );
    expect(redirects(model)).toEqual({
      'secure.example.com': [true, true],
      'x.apps.example.com': [true],
      'off.example.com': [false],
      'force.example.com': [true],
      'plain.example.com': [false],
      '': [false, true],
    });
  });

  it('reports a malformed boolean annotation and keeps the default', () => {
    const model = compile(ingress('shop/a', { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'nope' }, tls: [{ hosts: ['a.example.com'] }], rules: [rule('a.example.com', [prefix('/', 'web', 80)])] }));
    expect(model.virtualHosts[0]?.routes[0]?.sslRedirect).toBe(true);
    expect(model.diagnostics[0]).toMatchObject({ code: 'PORTICO_ERR_INGRESS_ANNOTATION_INVALID', field: 'metadata.annotations.nginx.ingress.kubernetes.io/ssl-redirect' });
  });
});
