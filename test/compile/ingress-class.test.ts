import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import type { CompileOptions } from '../../src/compile/index.js';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { ingress, ingressClass, prefix, rule, snapshot } from '../helpers/objects.js';

const web = (key: string, extra: Parameters<typeof ingress>[1] = {}): KubeObject =>
  ingress(key, { rules: [rule('web.example.com', [prefix('/', 'web', 80)])], ...extra });

const cases: Array<{ name: string; objects: KubeObject[]; options?: Partial<CompileOptions>; want: string[] }> = [
  {
    name: 'ingressClassName naming our IngressClass',
    objects: [ingressClass('portico'), web('default/a', { className: 'portico' })],
    want: ['default/a'],
  },
  {
    name: 'ingressClassName naming another controller’s class',
    objects: [ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' }), web('default/a', { className: 'nginx' })],
    want: [],
  },
  {
    name: 'ingressClassName naming a missing class',
    objects: [web('default/a', { className: 'portico' })],
    want: [],
  },
  {
    name: 'ingressClassName wins over a matching legacy annotation',
    objects: [
      ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' }),
      web('default/a', { className: 'nginx', legacyClass: 'portico' }),
    ],
    want: [],
  },
  {
    name: 'any of several IngressClasses with our controller',
    objects: [
      ingressClass('portico'),
      ingressClass('portico-internal'),
      web('default/a', { className: 'portico-internal' }),
    ],
    want: ['default/a'],
  },
  {
    name: 'legacy annotation with our class',
    objects: [web('default/a', { legacyClass: 'portico' })],
    want: ['default/a'],
  },
  {
    name: 'legacy annotation with another class',
    objects: [web('default/a', { legacyClass: 'nginx' })],
    want: [],
  },
  {
    name: 'legacy annotation with another class even when ours is the default class',
    objects: [ingressClass('portico', { isDefault: true }), web('default/a', { legacyClass: 'nginx' })],
    want: [],
  },
  {
    name: 'no class and no default class',
    objects: [ingressClass('portico'), web('default/a')],
    want: [],
  },
  {
    name: 'no class, our IngressClass is the default',
    objects: [ingressClass('portico', { isDefault: true }), web('default/a')],
    want: ['default/a'],
  },
  {
    name: 'no class, the default class belongs to another controller',
    objects: [ingressClass('nginx', { controller: 'k8s.io/ingress-nginx', isDefault: true }), web('default/a')],
    want: [],
  },
  {
    name: 'is-default-class must be exactly "true"',
    objects: [
      ingressClass('portico', { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'yes' } }),
      web('default/a'),
    ],
    want: [],
  },
  {
    name: 'no class with watchIngressWithoutClass',
    objects: [web('default/a')],
    options: { watchIngressWithoutClass: true },
    want: ['default/a'],
  },
  {
    name: 'custom controllerClass and ingressClass options',
    objects: [
      ingressClass('edge', { controller: 'example.com/edge' }),
      ingressClass('portico'),
      web('default/a', { className: 'edge' }),
      web('default/b', { className: 'portico' }),
      web('default/c', { legacyClass: 'edge' }),
      web('default/d', { legacyClass: 'portico' }),
    ],
    options: { controllerClass: 'example.com/edge', ingressClass: 'edge' },
    want: ['default/a', 'default/c'],
  },
  {
    name: 'ownedIngresses is sorted',
    objects: [
      ingressClass('portico'),
      web('zeta/a', { className: 'portico' }),
      web('alpha/b', { className: 'portico' }),
      web('alpha/a', { className: 'portico' }),
    ],
    want: ['alpha/a', 'alpha/b', 'zeta/a'],
  },
];

describe('class selection', () => {
  it.each(cases)('$name', ({ objects, options, want }) => {
    const model = compileRoutes(snapshot(objects), { ...DEFAULT_COMPILE_OPTIONS, ...options });
    expect(model.ownedIngresses).toEqual(want);
    // Unowned Ingresses contribute nothing at all.
    if (want.length === 0) {
      expect(model.virtualHosts).toEqual([]);
      expect(model.diagnostics).toEqual([]);
    }
  });

  it('does not diagnose Ingresses that belong to someone else', () => {
    const bad = ingress('default/other', {
      className: 'nginx',
      rules: [rule('bad host!', [prefix('relative', 'web', 80)])],
    });
    const model = compileRoutes(snapshot([bad]), DEFAULT_COMPILE_OPTIONS);
    expect(model.diagnostics).toEqual([]);
  });
});
