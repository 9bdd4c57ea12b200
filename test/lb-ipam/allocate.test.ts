import { describe, expect, it } from 'vitest';
import { allocateLoadBalancerIps, LOADBALANCER_IPS_ANNOTATION, type AllocateOptions } from '../../src/lb-ipam/allocate.js';
import { parsePools } from '../../src/lb-ipam/pool.js';
import type { Service } from '../../src/model/k8s-objects.js';
import { service } from '../helpers/objects.js';

interface LbOptions {
  created?: string;
  type?: string;
  ip?: string;
  ips?: string;
  status?: string[];
  families?: string[];
  className?: string;
}

/** A LoadBalancer Service; `created` is the creationTimestamp (older wins conflicts). */
function lb(key: string, options: LbOptions = {}): Service {
  const base = service(key, [80], {
    ...(options.created !== undefined && { creationTimestamp: options.created }),
    ...(options.ips !== undefined && { annotations: { [LOADBALANCER_IPS_ANNOTATION]: options.ips } }),
  });
  return {
    ...base,
    spec: {
      ...base.spec,
      type: options.type ?? 'LoadBalancer',
      ...(options.ip !== undefined && { loadBalancerIP: options.ip }),
      ...(options.families !== undefined && { ipFamilies: options.families }),
      ...(options.className !== undefined && { loadBalancerClass: options.className }),
    },
    ...(options.status !== undefined && { status: { loadBalancer: { ingress: options.status.map((ip) => ({ ip })) } } }),
  };
}

interface Case {
  name: string;
  pool: string;
  services: Service[];
  previous?: Record<string, string[]>;
  loadBalancerClass?: string;
  /** key → ips, for every handled Service. */
  want: Record<string, string[]>;
  /** `code key: message fragment` */
  diagnostics?: string[];
}

const cases: Case[] = [
  {
    name: 'assigns the lowest free address, by namespace/name',
    pool: '192.0.2.0/29',
    services: [lb('default/b'), lb('default/a'), lb('alpha/z')],
    want: { 'alpha/z': ['192.0.2.1'], 'default/a': ['192.0.2.2'], 'default/b': ['192.0.2.3'] },
  },
  {
    name: 'leaves alone Services that are not LoadBalancer and those of another class',
    pool: '192.0.2.0/29',
    services: [lb('default/c', { type: 'ClusterIP' }), lb('default/d', { className: 'other.example/lb' }), lb('default/e')],
    want: { 'default/e': ['192.0.2.1'] },
  },
  {
    name: 'with --load-balancer-class, only Services of that class',
    pool: '192.0.2.0/29',
    loadBalancerClass: 'portico.dev/lb',
    services: [lb('default/plain'), lb('default/ours', { className: 'portico.dev/lb' })],
    want: { 'default/ours': ['192.0.2.1'] },
  },
  {
    name: 'keeps addresses from status across a restart, and fills the gaps lowest first',
    pool: '192.0.2.0/29',
    services: [lb('default/a'), lb('default/b', { status: ['192.0.2.5'] }), lb('default/c', { status: ['192.0.2.1'] })],
    want: { 'default/a': ['192.0.2.2'], 'default/b': ['192.0.2.5'], 'default/c': ['192.0.2.1'] },
  },
  {
    name: 'a status address outside the pool is replaced',
    pool: '192.0.2.0/29',
    services: [lb('default/a', { status: ['198.51.100.1'] })],
    want: { 'default/a': ['192.0.2.1'] },
  },
  {
    name: 'the previous assignment wins over a status not yet written back',
    pool: '192.0.2.0/29',
    services: [lb('default/a'), lb('default/b')],
    previous: { 'default/b': ['192.0.2.1'] },
    want: { 'default/a': ['192.0.2.2'], 'default/b': ['192.0.2.1'] },
  },
  {
    name: 'two Services with the same status address: the older keeps it',
    pool: '192.0.2.0/29',
    services: [
      lb('default/new', { created: '2024-02-01T00:00:00Z', status: ['192.0.2.3'] }),
      lb('default/old', { created: '2024-01-01T00:00:00Z', status: ['192.0.2.3'] }),
    ],
    want: { 'default/new': ['192.0.2.1'], 'default/old': ['192.0.2.3'] },
    diagnostics: ['PORTICO_ERR_LB_IP_CONFLICT default/new: 192.0.2.3 is also held by the older Service default/old'],
  },
  {
    name: 'same age: the first by namespace/name keeps it',
    pool: '192.0.2.0/29',
    services: [lb('default/b', { status: ['192.0.2.3'] }), lb('default/a', { status: ['192.0.2.3'] })],
    want: { 'default/a': ['192.0.2.3'], 'default/b': ['192.0.2.1'] },
    diagnostics: ['PORTICO_ERR_LB_IP_CONFLICT default/b: also held by the older Service default/a'],
  },
  {
    name: 'honours spec.loadBalancerIP when free and in the pool',
    pool: '192.0.2.0/29',
    services: [lb('default/a'), lb('default/z', { ip: '192.0.2.1' })],
    want: { 'default/a': ['192.0.2.2'], 'default/z': ['192.0.2.1'] },
  },
  {
    name: 'the annotation wins over spec.loadBalancerIP, and can name both families',
    pool: '192.0.2.0/29,2001:db8::/120',
    services: [lb('default/a', { ip: '192.0.2.1', ips: '2001:db8::7, 192.0.2.6', families: ['IPv4', 'IPv6'] })],
    want: { 'default/a': ['2001:db8::7', '192.0.2.6'] },
  },
  {
    name: 'a requested address held by another Service is never taken from it',
    pool: '192.0.2.0/29',
    services: [lb('default/holder', { created: '2024-02-01T00:00:00Z', status: ['192.0.2.4'] }), lb('default/thief', { created: '2024-01-01T00:00:00Z', ip: '192.0.2.4' })],
    want: { 'default/holder': ['192.0.2.4'], 'default/thief': [] },
    diagnostics: ['PORTICO_ERR_LB_IP_UNAVAILABLE default/thief: Service default/thief requests 192.0.2.4 is held by Service default/holder; it gets no address'],
  },
  {
    name: 'two Services request the same free address: the older gets it',
    pool: '192.0.2.0/29',
    services: [lb('default/a', { created: '2024-02-01T00:00:00Z', ip: '192.0.2.2' }), lb('default/b', { created: '2024-01-01T00:00:00Z', ip: '192.0.2.2' })],
    want: { 'default/a': [], 'default/b': ['192.0.2.2'] },
    diagnostics: ['PORTICO_ERR_LB_IP_UNAVAILABLE default/a: 192.0.2.2 is held by Service default/b'],
  },
  {
    name: 'a requested address outside the pool, or not an IP: no address, a diagnostic naming it',
    pool: '192.0.2.0/29',
    services: [lb('default/out', { ip: '198.51.100.9' }), lb('default/junk', { ips: 'banana' })],
    want: { 'default/junk': [], 'default/out': [] },
    diagnostics: [
      'PORTICO_ERR_LB_IP_UNAVAILABLE default/junk: requests "banana", which is not an IP address',
      'PORTICO_ERR_LB_IP_UNAVAILABLE default/out: requests 198.51.100.9 is outside the pool (192.0.2.0/29)',
    ],
  },
  {
    name: 'a request for two addresses is all or nothing',
    pool: '192.0.2.0/29',
    services: [lb('default/a', { ips: '192.0.2.1,2001:db8::1', families: ['IPv4', 'IPv6'] }), lb('default/b')],
    want: { 'default/a': [], 'default/b': ['192.0.2.1'] },
    diagnostics: ['PORTICO_ERR_LB_IP_UNAVAILABLE default/a: 2001:db8::1 is outside the pool'],
  },
  {
    name: 'network and broadcast of a CIDR are never handed out; an exhausted pool is reported per Service',
    pool: '192.0.2.0/30',
    services: [lb('default/a'), lb('default/b'), lb('default/c')],
    want: { 'default/a': ['192.0.2.1'], 'default/b': ['192.0.2.2'], 'default/c': [] },
    diagnostics: ['PORTICO_ERR_LB_EXHAUSTED default/c: no free IPv4 address left in the pool (192.0.2.0/30) for Service default/c'],
  },
  {
    name: 'dual-stack: one address per family of spec.ipFamilies, in its order',
    pool: '192.0.2.0/29,2001:db8::10-2001:db8::20',
    services: [lb('default/dual', { families: ['IPv6', 'IPv4'] }), lb('default/v6', { families: ['IPv6'] }), lb('default/v4')],
    want: { 'default/dual': ['2001:db8::10', '192.0.2.1'], 'default/v4': ['192.0.2.2'], 'default/v6': ['2001:db8::11'] },
  },
  {
    name: 'dual-stack Service on an IPv4-only pool gets the IPv4 address; an IPv6-only Service is reported',
    pool: '192.0.2.0/29',
    services: [lb('default/dual', { families: ['IPv4', 'IPv6'] }), lb('default/v6', { families: ['IPv6'] })],
    want: { 'default/dual': ['192.0.2.1'], 'default/v6': [] },
    diagnostics: ['PORTICO_ERR_LB_EXHAUSTED default/v6: has no IPv6 address for Service default/v6'],
  },
  {
    name: 'a dual-stack Service keeps its status address of each family',
    pool: '192.0.2.0/29,2001:db8::/120',
    services: [lb('default/a'), lb('default/dual', { families: ['IPv4', 'IPv6'], status: ['2001:db8::9', '192.0.2.4'] })],
    want: { 'default/a': ['192.0.2.1'], 'default/dual': ['192.0.2.4', '2001:db8::9'] },
  },
];

function run(c: Pick<Case, 'pool' | 'services' | 'previous' | 'loadBalancerClass'>) {
  const options: AllocateOptions = {
    pools: parsePools(c.pool).ranges,
    services: c.services,
    ...(c.previous && { previous: new Map(Object.entries(c.previous)) }),
    ...(c.loadBalancerClass !== undefined && { loadBalancerClass: c.loadBalancerClass }),
  };
  return allocateLoadBalancerIps(options);
}

describe('allocateLoadBalancerIps', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = run(c);
      expect(Object.fromEntries(result.assignments.map((a) => [a.service, a.ips]))).toEqual(c.want);
      const want = c.diagnostics ?? [];
      expect(result.diagnostics).toHaveLength(want.length);
      want.forEach((line, i) => {
        const [code, key] = line.split(' ', 2);
        const diagnostic = result.diagnostics[i]!;
        expect(`${diagnostic.code} ${diagnostic.object.namespace}/${diagnostic.object.name}`).toBe(`${code} ${key!.replace(/:$/, '')}`);
        expect(diagnostic.message).toContain(line.slice(line.indexOf(': ') + 2));
      });
    });
  }

  it('gives the same result whatever the order of the Services (restarts are stable)', () => {
    for (const c of cases) {
      const want = run(c);
      for (let seed = 1; seed <= 5; seed++) {
        const shuffled = [...c.services].sort((a, b) => hash(a.metadata.name, seed) - hash(b.metadata.name, seed));
        expect(run({ ...c, services: shuffled }), `${c.name} (shuffle ${seed})`).toEqual(want);
      }
    }
  });

  it('keeps every assignment when run again on its own output written to status', () => {
    const services = [lb('default/a'), lb('default/b', { families: ['IPv4', 'IPv6'] }), lb('default/c', { ip: '192.0.2.6' })];
    const first = run({ pool: '192.0.2.0/29,2001:db8::/120', services });
    const byKey = new Map(first.assignments.map((a) => [a.service, a.ips]));
    // Restart: no previous state, only the statuses; a new Service sorting first arrives too.
    const restarted = [lb('default/0-new'), ...services.map((s) => ({ ...s, status: { loadBalancer: { ingress: byKey.get(`default/${s.metadata.name}`)!.map((ip) => ({ ip })) } } }))];
    const second = run({ pool: '192.0.2.0/29,2001:db8::/120', services: restarted });
    for (const [key, ips] of byKey) expect(second.assignments.find((a) => a.service === key)!.ips).toEqual(ips);
    expect(second.assignments.find((a) => a.service === 'default/0-new')!.ips).toEqual(['192.0.2.3']);
  });

  it('frees the address of a deleted Service for the next one', () => {
    const pool = '192.0.2.1-192.0.2.1';
    expect(run({ pool, services: [lb('default/a'), lb('default/b')] }).assignments.map((a) => a.ips)).toEqual([['192.0.2.1'], []]);
    expect(run({ pool, services: [lb('default/b')], previous: { 'default/a': ['192.0.2.1'] } }).assignments).toEqual([{ service: 'default/b', ips: ['192.0.2.1'] }]);
  });
});

function hash(text: string, seed: number): number {
  let h = seed * 2654435761;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}
