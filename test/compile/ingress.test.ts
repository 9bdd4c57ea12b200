// Whole-model table tests for the Ingress processor and the merge across Ingresses.
import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import type { Ingress, KubeObject } from '../../src/model/k8s-objects.js';
import type { RouteModel } from '../../src/model/route-model.js';
import {
  backend,
  exact,
  ingress,
  ingressClass,
  prefix,
  rule,
  snapshot,
} from '../helpers/objects.js';
import { backendRef, exactRoute, prefixRoute } from '../helpers/routes.js';

const CLASS = ingressClass('portico');
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-02-01T00:00:00Z';
const T3 = '2024-03-01T00:00:00Z';
const owned = (key: string, options: Parameters<typeof ingress>[1] = {}): Ingress =>
  ingress(key, { className: 'portico', ...options });

const web80 = backendRef('default/web', 80);
const api80 = backendRef('default/api', 80);

const EMPTY: RouteModel = { virtualHosts: [], hostless: [], backends: [], tls: [], ownedIngresses: [], diagnostics: [] };

interface Case {
  name: string;
  objects: KubeObject[];
  want: RouteModel;
}

const cases: Case[] = [
  {
    name: 'no Ingresses',
    objects: [CLASS],
    want: EMPTY,
  },
  {
    name: 'one host, one prefix',
    objects: [CLASS, owned('default/web', { rules: [rule('web.example.com', [prefix('/', 'web', 80)])] })],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'web.example.com', routes: [prefixRoute('/', web80, 'default/web')] }],
      backends: [web80],
      ownedIngresses: ['default/web'],
    },
  },
  {
    name: 'hosts are lower-cased, sorted, and wildcards kept',
    objects: [
      CLASS,
      owned('default/web', {
        rules: [
          rule('WWW.Example.com', [prefix('/', 'web', 80)]),
          rule('*.example.com', [prefix('/', 'web', 80)]),
          rule('api.example.com', [exact('/v1', 'api', 80)]),
        ],
      }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [
        { host: '*.example.com', routes: [prefixRoute('/', web80, 'default/web')] },
        { host: 'api.example.com', routes: [exactRoute('/v1', api80, 'default/web')] },
        { host: 'www.example.com', routes: [prefixRoute('/', web80, 'default/web')] },
      ],
      backends: [api80, web80],
      ownedIngresses: ['default/web'],
    },
  },
  {
    name: 'rules for one host merge across Ingresses and across rules',
    objects: [
      CLASS,
      owned('default/a', { rules: [rule('x.com', [prefix('/a', 'web', 80)]), rule('x.com', [prefix('/c', 'web', 80)])] }),
      owned('other/b', { rules: [rule('x.com', [prefix('/b', 'api', 'http')])] }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [
        {
          host: 'x.com',
          routes: [
            prefixRoute('/a', web80, 'default/a'),
            prefixRoute('/b', backendRef('other/api', 'http'), 'other/b'),
            prefixRoute('/c', web80, 'default/a'),
          ],
        },
      ],
      backends: [web80, backendRef('other/api', 'http')],
      ownedIngresses: ['default/a', 'other/b'],
    },
  },
  {
    name: 'hostless rules and a defaultBackend',
    objects: [
      CLASS,
      owned('default/web', { defaultBackend: backend('fallback', 8080), rules: [rule(undefined, [prefix('/api', 'api', 80)])] }),
    ],
    want: {
      ...EMPTY,
      hostless: [prefixRoute('/api', api80, 'default/web')],
      defaultBackend: { backend: backendRef('default/fallback', 8080), ingress: 'default/web' },
      backends: [api80, backendRef('default/fallback', 8080)],
      ownedIngresses: ['default/web'],
    },
  },
  {
    name: 'an empty host is a hostless rule',
    objects: [CLASS, owned('default/web', { rules: [rule('', [prefix('/', 'web', 80)])] })],
    want: {
      ...EMPTY,
      hostless: [prefixRoute('/', web80, 'default/web')],
      backends: [web80],
      ownedIngresses: ['default/web'],
    },
  },
  {
    name: 'an Ingress with only a defaultBackend',
    objects: [CLASS, owned('default/catch', { defaultBackend: backend('web', 80) })],
    want: {
      ...EMPTY,
      defaultBackend: { backend: web80, ingress: 'default/catch' },
      backends: [web80],
      ownedIngresses: ['default/catch'],
    },
  },
  {
    name: 'a rule with a host but no http serves nothing',
    objects: [CLASS, owned('default/web', { rules: [{ host: 'x.com' }] })],
    want: { ...EMPTY, ownedIngresses: ['default/web'] },
  },
  {
    name: 'an Ingress without a namespace is in default',
    objects: [
      CLASS,
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'bare' },
        spec: { ingressClassName: 'portico', rules: [rule('x.com', [prefix('/', 'web', 80)])] },
      },
    ],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'x.com', routes: [prefixRoute('/', web80, 'default/bare')] }],
      backends: [web80],
      ownedIngresses: ['default/bare'],
    },
  },
  {
    name: 'invalid host skips the rule, other rules serve',
    objects: [
      CLASS,
      owned('default/web', {
        rules: [rule('bad_host.com', [prefix('/', 'web', 80)]), rule('ok.com', [prefix('/', 'web', 80)])],
      }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'ok.com', routes: [prefixRoute('/', web80, 'default/web')] }],
      backends: [web80],
      ownedIngresses: ['default/web'],
      diagnostics: [
        {
          severity: 'error',
          code: 'PORTICO_ERR_INGRESS_HOST_INVALID',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.rules[0].host',
          message:
            'host "bad_host.com" is not a valid DNS name (labels of a-z, 0-9 and -, starting and ending alphanumeric); rule skipped',
        },
      ],
    },
  },
  {
    name: 'resource backends and port-less services are rejected',
    objects: [
      CLASS,
      owned('default/web', {
        defaultBackend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } },
        rules: [
          rule('x.com', [
            { path: '/r', pathType: 'Prefix', backend: { resource: { kind: 'StorageBucket', name: 'b' } } },
            { path: '/n', pathType: 'Prefix', backend: { service: { name: 'web' } } },
            { path: '/z', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 0 } } } },
            prefix('/ok', 'web', 80),
          ]),
        ],
      }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'x.com', routes: [prefixRoute('/ok', web80, 'default/web')] }],
      backends: [web80],
      ownedIngresses: ['default/web'],
      diagnostics: [
        {
          severity: 'error',
          code: 'PORTICO_ERR_INGRESS_BACKEND_INVALID',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.defaultBackend',
          message: 'defaultBackend skipped: resource backends (StorageBucket) are not supported',
        },
        {
          severity: 'error',
          code: 'PORTICO_ERR_INGRESS_BACKEND_INVALID',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.rules[0].http.paths[0].backend',
          message: 'resource backends (StorageBucket) are not supported; path skipped',
        },
        {
          severity: 'error',
          code: 'PORTICO_ERR_INGRESS_BACKEND_INVALID',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.rules[0].http.paths[1].backend',
          message: 'Service web backend has no port number or name; path skipped',
        },
        {
          severity: 'error',
          code: 'PORTICO_ERR_INGRESS_BACKEND_INVALID',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.rules[0].http.paths[2].backend',
          message: 'Service port 0 is not an integer in 1-65535; path skipped',
        },
      ],
    },
  },
  {
    name: 'conflict: the oldest Ingress wins, the newer gets a warning',
    objects: [
      CLASS,
      owned('default/new', { creationTimestamp: T2, rules: [rule('x.com', [prefix('/app', 'api', 80)])] }),
      owned('default/old', { creationTimestamp: T1, rules: [rule('x.com', [prefix('/app/', 'web', 80)])] }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'x.com', routes: [prefixRoute('/app/', web80, 'default/old')] }],
      backends: [web80],
      ownedIngresses: ['default/new', 'default/old'],
      diagnostics: [
        {
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_CONFLICT',
          object: { kind: 'Ingress', namespace: 'default', name: 'new' },
          field: 'spec.rules[0].http.paths[0].path',
          message: 'Prefix path /app on host x.com ignored: already defined by Ingress default/old (older)',
        },
      ],
    },
  },
  {
    name: 'conflict: equal timestamps tie by namespace/name; a missing timestamp sorts last',
    objects: [
      CLASS,
      owned('default/c', { rules: [rule(undefined, [exact('/x', 'web', 82)])] }),
      owned('default/b', { creationTimestamp: T3, rules: [rule(undefined, [exact('/x', 'web', 81)])] }),
      owned('default/a', { creationTimestamp: T3, rules: [rule(undefined, [exact('/x', 'web', 80)])] }),
    ],
    want: {
      ...EMPTY,
      hostless: [exactRoute('/x', web80, 'default/a')],
      backends: [web80],
      ownedIngresses: ['default/a', 'default/b', 'default/c'],
      diagnostics: [
        {
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_CONFLICT',
          object: { kind: 'Ingress', namespace: 'default', name: 'b' },
          field: 'spec.rules[0].http.paths[0].path',
          message: 'Exact path /x on hostless rules ignored: already defined by Ingress default/a (older)',
        },
        {
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_CONFLICT',
          object: { kind: 'Ingress', namespace: 'default', name: 'c' },
          field: 'spec.rules[0].http.paths[0].path',
          message: 'Exact path /x on hostless rules ignored: already defined by Ingress default/a (older)',
        },
      ],
    },
  },
  {
    name: 'no conflict across pathTypes, hosts, or Exact paths differing by a trailing slash',
    objects: [
      CLASS,
      owned('default/a', { creationTimestamp: T1, rules: [rule('x.com', [prefix('/p', 'web', 80), exact('/e', 'web', 80)])] }),
      owned('default/b', {
        creationTimestamp: T2,
        rules: [rule('x.com', [exact('/p', 'api', 80), exact('/e/', 'api', 80)]), rule('y.com', [prefix('/p', 'api', 80)])],
      }),
    ],
    want: {
      ...EMPTY,
      virtualHosts: [
        {
          host: 'x.com',
          routes: [
            exactRoute('/e', web80, 'default/a'),
            exactRoute('/e/', api80, 'default/b'),
            exactRoute('/p', api80, 'default/b'),
            prefixRoute('/p', web80, 'default/a'),
          ],
        },
        { host: 'y.com', routes: [prefixRoute('/p', api80, 'default/b')] },
      ],
      backends: [api80, web80],
      ownedIngresses: ['default/a', 'default/b'],
    },
  },
  {
    name: 'conflict within one Ingress: the first path wins',
    objects: [CLASS, owned('default/web', { rules: [rule('X.com', [prefix('/', 'web', 80)]), rule('x.com', [prefix('/', 'api', 80)])] })],
    want: {
      ...EMPTY,
      virtualHosts: [{ host: 'x.com', routes: [prefixRoute('/', web80, 'default/web')] }],
      backends: [web80],
      ownedIngresses: ['default/web'],
      diagnostics: [
        {
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_CONFLICT',
          object: { kind: 'Ingress', namespace: 'default', name: 'web' },
          field: 'spec.rules[1].http.paths[0].path',
          message: 'Prefix path / on host x.com ignored: already defined by spec.rules[0].http.paths[0] of the same Ingress',
        },
      ],
    },
  },
  {
    name: 'defaultBackend conflict: the oldest wins',
    objects: [
      CLASS,
      owned('default/b', { creationTimestamp: T2, defaultBackend: backend('api', 80) }),
      owned('default/a', { creationTimestamp: T1, defaultBackend: backend('web', 80) }),
    ],
    want: {
      ...EMPTY,
      defaultBackend: { backend: web80, ingress: 'default/a' },
      backends: [web80],
      ownedIngresses: ['default/a', 'default/b'],
      diagnostics: [
        {
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_DEFAULT_BACKEND_CONFLICT',
          object: { kind: 'Ingress', namespace: 'default', name: 'b' },
          field: 'spec.defaultBackend',
          message: 'defaultBackend ignored: Ingress default/a is older and sets it too',
        },
      ],
    },
  },
];

describe('compileRoutes', () => {
  it.each(cases)('$name', ({ objects, want }) => {
    expect(compileRoutes(snapshot(objects), DEFAULT_COMPILE_OPTIONS)).toEqual(want);
  });

  it('ignores Services, EndpointSlices, Secrets and Nodes', async () => {
    const { service, endpointSlice, secret, node } = await import('../helpers/objects.js');
    const base = [CLASS, owned('default/web', { rules: [rule('x.com', [prefix('/', 'web', 80)])] })];
    const more = [
      ...base,
      service('default/web', [80]),
      endpointSlice('default/web-1', { service: 'web', ports: [{ port: 80 }], endpoints: ['10.0.0.1'] }),
      secret('default/tls', { 'tls.crt': '', 'tls.key': '' }, 'kubernetes.io/tls'),
      node('n1'),
    ];
    expect(compileRoutes(snapshot(more), DEFAULT_COMPILE_OPTIONS)).toEqual(
      compileRoutes(snapshot(base), DEFAULT_COMPILE_OPTIONS),
    );
  });

  it('does not mutate its input', () => {
    const objects = [CLASS, owned('default/web', { rules: [rule('X.com', [prefix('/', 'web', 80)])] })];
    const before = structuredClone(objects);
    compileRoutes(snapshot(objects), DEFAULT_COMPILE_OPTIONS);
    expect(objects).toEqual(before);
  });
});
