import { describe, expect, it } from 'vitest';
import { chooseAnnouncers, rendezvousScore, type ChooseAnnouncersInput } from '../../src/lb-announce/elect.js';
import type { EndpointSlice, Node, Service } from '../../src/model/k8s-objects.js';
import { endpointSlice, node, service } from '../helpers/objects.js';

function lbService(key: string, ips: string[], options: { etp?: 'Local' | 'Cluster'; class?: string; type?: string } = {}): Service {
  const svc = service(key, [80]);
  return {
    ...svc,
    spec: {
      ...svc.spec,
      type: options.type ?? 'LoadBalancer',
      ...(options.etp ? { externalTrafficPolicy: options.etp } : {}),
      ...(options.class ? { loadBalancerClass: options.class } : {}),
    },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
}

const NODES: Node[] = [
  node('node-a', { internalIP: '10.30.0.11' }),
  node('node-b', { internalIP: '10.30.0.12' }),
  node('node-c', { internalIP: '10.30.0.13' }),
];
const ALL = new Set(['node-a', 'node-b', 'node-c']);

function input(overrides: Partial<ChooseAnnouncersInput>): ChooseAnnouncersInput {
  return { services: [], endpointSlices: [], nodes: NODES, liveNodes: ALL, subnets: ['10.30.0.11/24'], ...overrides };
}

/** The candidate with the highest score: the expected winner, computed independently. */
function expectedOwner(ip: string, names: string[]): string {
  return [...names].sort((a, b) => (rendezvousScore(ip, b) > rendezvousScore(ip, a) ? 1 : -1))[0]!;
}

function owners(result: ReturnType<typeof chooseAnnouncers>): Record<string, string | undefined> {
  return Object.fromEntries(result.map((e) => [e.ip, e.owner]));
}

const IPS = Array.from({ length: 40 }, (_, i) => `10.30.0.${100 + i}`);

describe('chooseAnnouncers', () => {
  it('picks the highest rendezvous score among live nodes, the same for any input order', () => {
    const services = IPS.map((ip, i) => lbService(`default/svc-${i}`, [ip]));
    const result = chooseAnnouncers(input({ services }));
    expect(result.map((e) => e.ip)).toEqual(IPS);
    for (const e of result) {
      expect(e.owner).toBe(expectedOwner(e.ip, ['node-a', 'node-b', 'node-c']));
      expect(e.reason).toBe('elected');
      expect(e.candidates).toEqual(['node-a', 'node-b', 'node-c']);
    }
    const reversed = chooseAnnouncers(input({ services: [...services].reverse(), nodes: [...NODES].reverse() }));
    expect(reversed).toEqual(result);
    // The hash spreads addresses: with 40 addresses every node owns some.
    expect(new Set(result.map((e) => e.owner)).size).toBe(3);
  });

  it.each([
    { name: 'outside every subnet', ip: '192.0.2.10', subnets: ['10.30.0.11/24'], announced: false },
    { name: 'inside the subnet', ip: '10.30.0.200', subnets: ['10.30.0.11/24'], announced: true },
    { name: 'IPv6 inside the v6 subnet', ip: '2001:db8::a', subnets: ['10.30.0.11/24', '2001:db8::11/64'], announced: true },
    { name: 'IPv6 without a v6 subnet', ip: '2001:db8::a', subnets: ['10.30.0.11/24'], announced: false },
    { name: 'not an IP', ip: 'lb.example.com', subnets: ['10.30.0.11/24'], announced: false },
  ])('subnet filter: $name', ({ ip, subnets, announced }) => {
    const nodes = [node('node-a', { internalIP: '10.30.0.11' }), { ...node('node-b', { internalIP: '10.30.0.12' }), status: { addresses: [{ type: 'InternalIP', address: '10.30.0.12' }, { type: 'InternalIP', address: '2001:db8::12' }] } }];
    const result = chooseAnnouncers(input({ services: [lbService('default/web', [ip])], subnets, nodes }));
    expect(result.length).toBe(announced ? 1 : 0);
    if (ip.includes(':') && announced) expect(result[0]!.owner).toBe('node-b'); // the only node with a v6 InternalIP there
  });

  it('only nodes whose InternalIP lies in the subnet of the address are candidates', () => {
    const nodes = [...NODES, node('far', { internalIP: '10.31.0.9' }), node('no-address')];
    const result = chooseAnnouncers(input({ services: [lbService('default/web', ['10.30.0.100'])], nodes, liveNodes: new Set([...ALL, 'far', 'no-address']) }));
    expect(result[0]!.candidates).toEqual(['node-a', 'node-b', 'node-c']);
  });

  it('skips other types, other classes, and excluded nodes', () => {
    const services = [
      lbService('default/cluster-ip', ['10.30.0.100'], { type: 'ClusterIP' }),
      lbService('default/other-class', ['10.30.0.101'], { class: 'example.com/cloud' }),
      lbService('default/mine', ['10.30.0.102']),
    ];
    expect(chooseAnnouncers(input({ services })).map((e) => e.service)).toEqual(['default/mine']);
    expect(chooseAnnouncers(input({ services, loadBalancerClass: 'example.com/cloud' })).map((e) => e.service)).toEqual(['default/other-class']);
    const excluded = [node('node-a', { internalIP: '10.30.0.11', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } }), NODES[1]!];
    expect(chooseAnnouncers(input({ services, nodes: excluded }))[0]!.candidates).toEqual(['node-b']);
  });

  it('a node that is not live, or has no Node object, never owns; another takes over', () => {
    const services = IPS.map((ip, i) => lbService(`default/svc-${i}`, [ip]));
    const before = owners(chooseAnnouncers(input({ services })));
    const ownedByA = IPS.filter((ip) => before[ip] === 'node-a');
    expect(ownedByA.length).toBeGreaterThan(0);
    for (const variant of [input({ services, liveNodes: new Set(['node-b', 'node-c']) }), input({ services, nodes: NODES.slice(1) })]) {
      const after = owners(chooseAnnouncers(variant));
      for (const ip of IPS) {
        if (before[ip] === 'node-a') expect(after[ip]).toBe(expectedOwner(ip, ['node-b', 'node-c']));
        else expect(after[ip]).toBe(before[ip]); // addresses node-a did not hold stay where they are
      }
    }
  });

  it('is stable when unrelated nodes come and go', () => {
    const services = IPS.map((ip, i) => lbService(`default/svc-${i}`, [ip]));
    const before = owners(chooseAnnouncers(input({ services })));
    const nodes = [...NODES, node('node-d', { internalIP: '10.30.0.14' })];
    const after = owners(chooseAnnouncers(input({ services, nodes, liveNodes: new Set([...ALL, 'node-d']) })));
    for (const ip of IPS) expect(after[ip] === before[ip] || after[ip] === 'node-d').toBe(true);
    const farNode = owners(chooseAnnouncers(input({ services, nodes: [...NODES, node('far', { internalIP: '10.99.0.1' })], liveNodes: new Set([...ALL, 'far']) })));
    expect(farNode).toEqual(before);
  });

  it('nobody announces when no candidate is live', () => {
    const [e] = chooseAnnouncers(input({ services: [lbService('default/web', ['10.30.0.100'])], liveNodes: new Set() }));
    expect(e).toMatchObject({ owner: undefined, reason: 'no-live-candidate', candidates: [] });
  });

  describe('externalTrafficPolicy Local', () => {
    const ip = '10.30.0.100';
    const slice = (endpoints: Array<{ node: string; ready?: boolean }>, addressType: 'IPv4' | 'IPv6' = 'IPv4'): EndpointSlice =>
      endpointSlice('default/web-1', {
        service: 'web',
        addressType,
        ports: [{ port: 8080 }],
        endpoints: endpoints.map((e, i) => ({ addresses: [addressType === 'IPv4' ? `10.244.0.${i + 1}` : `fd00::${i + 1}`], nodeName: e.node, ...(e.ready === undefined ? {} : { ready: e.ready }) })),
      });
    // The node that would lose the plain election, so the preference is visible.
    const loser = ['node-a', 'node-b', 'node-c'].find((n) => n !== expectedOwner(ip, ['node-a', 'node-b', 'node-c']))!;

    it.each([
      { name: 'a ready endpoint on the losing node moves the address there', slices: () => [slice([{ node: loser }])], owner: () => loser, reason: 'local-endpoint' },
      { name: 'a not-ready local endpoint does not count', slices: () => [slice([{ node: loser, ready: false }])], owner: () => expectedOwner(ip, ['node-a', 'node-b', 'node-c']), reason: 'no-local-endpoint' },
      { name: 'an endpoint on a dead node does not count', slices: () => [slice([{ node: 'node-dead' }])], owner: () => expectedOwner(ip, ['node-a', 'node-b', 'node-c']), reason: 'no-local-endpoint' },
      { name: 'an IPv6 endpoint does not count for an IPv4 address', slices: () => [slice([{ node: loser }], 'IPv6')], owner: () => expectedOwner(ip, ['node-a', 'node-b', 'node-c']), reason: 'no-local-endpoint' },
      {
        name: 'several nodes with endpoints: the hash decides among them',
        slices: () => [slice([{ node: 'node-a' }, { node: 'node-b' }])],
        owner: () => expectedOwner(ip, ['node-a', 'node-b']),
        reason: 'local-endpoint',
      },
    ])('$name', ({ slices, owner, reason }) => {
      const [e] = chooseAnnouncers(input({ services: [lbService('default/web', [ip], { etp: 'Local' })], endpointSlices: slices() }));
      expect(e).toMatchObject({ owner: owner(), reason });
    });

    it('the endpoint node going away hands the address to another node with an endpoint, else to any', () => {
      const services = [lbService('default/web', [ip], { etp: 'Local' })];
      const endpointSlices = [slice([{ node: 'node-a' }, { node: 'node-b' }])];
      expect(chooseAnnouncers(input({ services, endpointSlices, liveNodes: new Set(['node-b', 'node-c']) }))[0]).toMatchObject({ owner: 'node-b', reason: 'local-endpoint' });
      expect(chooseAnnouncers(input({ services, endpointSlices, liveNodes: new Set(['node-c']) }))[0]).toMatchObject({ owner: 'node-c', reason: 'no-local-endpoint' });
    });
  });

  it('two Services with one address: the first by namespace/name decides', () => {
    const result = chooseAnnouncers(input({ services: [lbService('default/zz', ['10.30.0.100']), lbService('default/aa', ['10.30.0.100'])] }));
    expect(result.map((e) => e.service)).toEqual(['default/aa']);
  });
});
