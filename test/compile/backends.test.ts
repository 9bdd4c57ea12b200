import { describe, expect, it } from 'vitest';
import { compileBackends } from '../../src/compile/index.js';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import type { BackendEndpoints, BackendRef, Endpoint } from '../../src/model/route-model.js';
import { endpointSlice, service, snapshot } from '../helpers/objects.js';
import { backendRef } from '../helpers/routes.js';

const ep = (address: string, port: number, extra: Partial<Endpoint> = {}): Endpoint => ({
  key: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`,
  address,
  port,
  ready: true,
  serving: true,
  terminating: false,
  ...extra,
});

const named = [
  { name: 'http', port: 80, targetPort: 8080 },
  { name: 'metrics', port: 9090, targetPort: 'metrics' },
];

interface Case {
  name: string;
  objects: KubeObject[];
  backend: BackendRef;
  want: Omit<BackendEndpoints, 'backend'>;
}

const cases: Case[] = [
  {
    name: 'port by number, unnamed slice port',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-a', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.2', '10.0.0.1'] }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080), ep('10.0.0.2', 8080)] },
  },
  {
    name: 'port by number picks the named slice port',
    objects: [
      service('default/web', named),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ name: 'metrics', port: 9100 }, { name: 'http', port: 8080 }],
        endpoints: ['10.0.0.1'],
      }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080)] },
  },
  {
    name: 'port by name',
    objects: [
      service('default/web', named),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }],
        endpoints: ['10.0.0.1'],
      }),
    ],
    backend: backendRef('default/web', 'metrics'),
    want: { endpoints: [ep('10.0.0.1', 9100)] },
  },
  {
    name: 'empty and absent port names are the same unnamed port',
    objects: [
      service('default/web', [{ name: '', port: 80 }]),
      endpointSlice('default/web-a', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }),
      endpointSlice('default/web-b', { service: 'web', ports: [{ name: '', port: 8080 }], endpoints: ['10.0.0.2'] }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080), ep('10.0.0.2', 8080)] },
  },
  {
    name: 'multiple slices are merged, deduplicated and sorted; only addresses[0] counts; other services and namespaces ignored',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-b', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.3', '10.0.0.1'] }),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ port: 8080 }],
        endpoints: [{ addresses: ['10.0.0.1', '10.0.0.10'], pod: 'web-1' }],
      }),
      endpointSlice('default/api-a', { service: 'api', ports: [{ port: 8080 }], endpoints: ['10.0.1.1'] }),
      endpointSlice('other/web-a', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.2.1'] }),
    ],
    backend: backendRef('default/web', 80),
    // The addresses of one endpoint are fungible (API docs); kube-proxy dials addresses[0] only.
    want: {
      endpoints: [
        ep('10.0.0.1', 8080, { podName: 'web-1' }),
        ep('10.0.0.3', 8080),
      ],
    },
  },
  {
    name: 'a ready copy of an address beats a not-ready one',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ port: 8080 }],
        endpoints: [{ addresses: ['10.0.0.1'], ready: false }, '10.0.0.2'],
      }),
      endpointSlice('default/web-b', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080), ep('10.0.0.2', 8080)] },
  },
  {
    name: 'ready endpoints only when some are ready',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ port: 8080 }],
        endpoints: [
          { addresses: ['10.0.0.1'], ready: true, serving: true, terminating: false, pod: 'p1' },
          { addresses: ['10.0.0.2'], ready: false, serving: true, terminating: true, pod: 'p2' },
          { addresses: ['10.0.0.3'], ready: false, serving: false, terminating: false, pod: 'p3' },
        ],
      }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080, { podName: 'p1' })] },
  },
  {
    name: 'falls back to serving+terminating endpoints when none is ready',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ port: 8080 }],
        endpoints: [
          { addresses: ['10.0.0.2'], ready: false, serving: true, terminating: true },
          { addresses: ['10.0.0.3'], ready: false, serving: false, terminating: true },
          { addresses: ['10.0.0.4'], ready: false, serving: true, terminating: false },
          { addresses: ['10.0.0.5'], ready: false },
        ],
      }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.2', 8080, { ready: false, serving: true, terminating: true })] },
  },
  {
    name: 'IPv6 endpoints are keyed [ip]:port; FQDN slices are skipped',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-v6', { service: 'web', addressType: 'IPv6', ports: [{ port: 8080 }], endpoints: ['fd00::1'] }),
      endpointSlice('default/web-fqdn', { service: 'web', addressType: 'FQDN', ports: [{ port: 8080 }], endpoints: ['web.example.com'] }),
      endpointSlice('default/web-v4', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }),
    ],
    backend: backendRef('default/web', 80),
    want: { endpoints: [ep('10.0.0.1', 8080), ep('fd00::1', 8080)] },
  },
  {
    name: 'Service missing',
    objects: [endpointSlice('default/web-a', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] })],
    backend: backendRef('default/web', 80),
    want: { endpoints: [], problem: { code: 'PORTICO_ERR_BACKEND_SERVICE_MISSING', message: 'Service default/web not found' } },
  },
  {
    name: 'port number unknown',
    objects: [service('default/web', [80])],
    backend: backendRef('default/web', 81),
    want: { endpoints: [], problem: { code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: 'Service default/web has no TCP port 81' } },
  },
  {
    name: 'port name unknown',
    objects: [service('default/web', named)],
    backend: backendRef('default/web', 'grpc'),
    want: {
      endpoints: [],
      problem: { code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: 'Service default/web has no TCP port named "grpc"' },
    },
  },
  {
    name: 'a UDP port does not carry HTTP',
    objects: [service('default/dns', [{ name: 'dns', port: 53, protocol: 'UDP' }])],
    backend: backendRef('default/dns', 53),
    want: { endpoints: [], problem: { code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: 'Service default/dns has no TCP port 53' } },
  },
  {
    name: 'no slices',
    objects: [service('default/web', [80])],
    backend: backendRef('default/web', 80),
    want: {
      endpoints: [],
      problem: { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', message: 'Service default/web port 80 has no ready or serving endpoints' },
    },
  },
  {
    name: 'slices without the port',
    objects: [
      service('default/web', named),
      endpointSlice('default/web-a', { service: 'web', ports: [{ name: 'metrics', port: 9100 }], endpoints: ['10.0.0.1'] }),
    ],
    backend: backendRef('default/web', 'http'),
    want: {
      endpoints: [],
      problem: { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', message: 'Service default/web port http has no ready or serving endpoints' },
    },
  },
  {
    name: 'only not-ready, not-terminating endpoints',
    objects: [
      service('default/web', [80]),
      endpointSlice('default/web-a', { service: 'web', ports: [{ port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], ready: false }] }),
    ],
    backend: backendRef('default/web', 80),
    want: {
      endpoints: [],
      problem: { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', message: 'Service default/web port 80 has no ready or serving endpoints' },
    },
  },
];

describe('compileBackends', () => {
  it.each(cases)('$name', ({ objects, backend, want }) => {
    const result = compileBackends(snapshot(objects), [backend]);
    expect([...result.keys()]).toEqual([backend.key]);
    expect(result.get(backend.key)).toEqual({ backend, ...want });
  });

  it('returns one entry per distinct input backend, keyed by BackendRef.key', () => {
    const objects = [
      service('default/web', named),
      endpointSlice('default/web-a', {
        service: 'web',
        ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }],
        endpoints: ['10.0.0.1'],
      }),
    ];
    const refs = [
      backendRef('default/web', 'metrics'),
      backendRef('default/web', 80),
      backendRef('default/web', 'metrics'),
      backendRef('default/missing', 80),
    ];
    const result = compileBackends(snapshot(objects), refs);
    expect([...result.keys()]).toEqual(['default/web/metrics', 'default/web/80', 'default/missing/80']);
    expect(result.get('default/web/80')?.endpoints).toEqual([ep('10.0.0.1', 8080)]);
    expect(result.get('default/web/metrics')?.endpoints).toEqual([ep('10.0.0.1', 9100)]);
    expect(result.get('default/missing/80')?.problem?.code).toBe('PORTICO_ERR_BACKEND_SERVICE_MISSING');
  });

  it('empty input gives an empty map', () => {
    expect(compileBackends(snapshot([]), []).size).toBe(0);
  });
});
