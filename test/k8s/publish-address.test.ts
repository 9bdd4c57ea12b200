import { describe, expect, it } from 'vitest';
import { computePublishAddresses, normalizeAddresses, sameAddresses } from '../../src/k8s/publish-address.js';
import type { Node, Service } from '../../src/model/k8s-objects.js';
import { node, service } from '../helpers/objects.js';

function withType(type: string, extra: Record<string, unknown> = {}): Service {
  const svc = service('portico/portico', [80]);
  return { ...svc, spec: { ...svc.spec, type, ...extra } } as Service;
}

function nodeWith(name: string, addresses: Array<[string, string]>): Node {
  return { ...node(name), status: { addresses: addresses.map(([type, address]) => ({ type, address })) } };
}

describe('computePublishAddresses', () => {
  it('uses --publish-status-address first, IPs as ip and names as hostname, sorted and unique', () => {
    expect(computePublishAddresses({ statusAddresses: ['lb.example.com', ' 203.0.113.9', '203.0.113.9', '2001:db8::1', ''] })).toEqual([
      { ip: '2001:db8::1' },
      { ip: '203.0.113.9' },
      { hostname: 'lb.example.com' },
    ]);
  });

  it('publishes a LoadBalancer Service status (ip or hostname) plus externalIPs', () => {
    const svc = { ...withType('LoadBalancer', { externalIPs: ['198.51.100.7'] }), status: { loadBalancer: { ingress: [{ ip: '203.0.113.10', ports: [] }, { hostname: 'x.elb.example' }, {}] } } } as Service;
    expect(computePublishAddresses({ service: svc })).toEqual([{ ip: '198.51.100.7' }, { ip: '203.0.113.10' }, { hostname: 'x.elb.example' }]);
    expect(computePublishAddresses({ service: withType('LoadBalancer') })).toEqual([]); // pending
  });

  it('publishes node addresses for a NodePort Service: ExternalIP, else InternalIP', () => {
    const nodes = [
      nodeWith('b', [['InternalIP', '10.0.0.2']]),
      nodeWith('a', [['InternalIP', '10.0.0.1'], ['ExternalIP', '203.0.113.1']]),
      nodeWith('c', [['Hostname', 'c']]),
    ];
    expect(computePublishAddresses({ service: withType('NodePort'), nodes })).toEqual([{ ip: '10.0.0.2' }, { ip: '203.0.113.1' }]);
  });

  it('publishes the ClusterIP or the ExternalName otherwise, and nothing without a Service', () => {
    expect(computePublishAddresses({ service: withType('ClusterIP', { clusterIP: '10.96.0.10' }) })).toEqual([{ ip: '10.96.0.10' }]);
    expect(computePublishAddresses({ service: withType('ClusterIP', { clusterIP: 'None' }) })).toEqual([]);
    expect(computePublishAddresses({ service: withType('ExternalName', { externalName: 'ext.example.com' }) })).toEqual([{ hostname: 'ext.example.com' }]);
    expect(computePublishAddresses({})).toEqual([]);
  });

  it('compares address lists independent of order and extra fields', () => {
    const a = normalizeAddresses([{ hostname: 'h' }, { ip: '1.1.1.1' }]);
    const b = normalizeAddresses([{ ip: '1.1.1.1' }, { hostname: 'h' }]);
    expect(sameAddresses(a, b)).toBe(true);
    expect(sameAddresses(a, [{ ip: '1.1.1.1' }])).toBe(false);
  });
});
