import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { parseIngressAnnotations } from '../../src/compile/annotations/index.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { ingress, ingressClass, prefix, rule, snapshot } from '../helpers/objects.js';

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
