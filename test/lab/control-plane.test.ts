import { describe, expect, it } from 'vitest';
import { emptyState, renderEndpointSlices, renderNodes, renderServices, scheduleNode, type DeploymentSpec, type LabPod, type LabState } from '../../src/lab/control-plane.js';
import { buildLayout } from '../../src/lab/layout.js';
import { parseLabObjects } from '../../src/lab/parse-lab-objects.js';
import type { Service } from '../../src/model/k8s-objects.js';

const layout = buildLayout({ name: 'test', nodes: 3, subnet: '10.250.0.0/24' });

function service(name: string, spec: Service['spec']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec };
}

function pod(name: string, node: string, ip: string, extra: Partial<LabPod> = {}): LabPod {
  return { namespace: 'default', name, deployment: 'web', node, ip, netns: `pl-test-default-${name}`, labels: { app: 'web' }, ports: [{ port: 8080, name: 'http' }], ready: true, terminating: false, pids: [], ...extra };
}

function state(): LabState {
  return emptyState({ name: 'test', mode: 'vxlan', subnet: '10.250.0.0/24', nodes: 3, now: new Date(0) });
}

describe('lab layout', () => {
  it('puts the host on .1, nodes from .11, pod CIDRs 10.244.N.0/24 and the pool on .200-.250, names carrying the lab', () => {
    expect(layout.hostAddress).toBe('10.250.0.1');
    expect(layout.nodes.map((n) => [n.name, n.address, n.podCIDR, n.netns, n.hostLink])).toEqual([
      ['node-1', '10.250.0.11', '10.244.1.0/24', 'pl-test-node-1', 'pl-test-n1'],
      ['node-2', '10.250.0.12', '10.244.2.0/24', 'pl-test-node-2', 'pl-test-n2'],
      ['node-3', '10.250.0.13', '10.244.3.0/24', 'pl-test-node-3', 'pl-test-n3'],
    ]);
    expect(layout.lbPool).toBe('10.250.0.200-10.250.0.250');
    expect(layout.stateDir).toBe('/run/portico-lab/test');
  });

  it('refuses names that would not fit interface names, and subnets that are not a /24', () => {
    expect(() => buildLayout({ name: 'toolongname', nodes: 3, subnet: '10.250.0.0/24' })).toThrow(/1-8 lower-case/);
    expect(() => buildLayout({ name: 'Lab', nodes: 3, subnet: '10.250.0.0/24' })).toThrow(/1-8 lower-case/);
    expect(() => buildLayout({ name: 'ok', nodes: 3, subnet: '10.250.0.0/16' })).toThrow(/IPv4 \/24/);
    expect(() => buildLayout({ name: 'ok', nodes: 0, subnet: '10.250.0.0/24' })).toThrow(/--nodes/);
  });

  it('renders Nodes with pod CIDR and InternalIP', () => {
    expect(renderNodes(layout)[1]).toMatchObject({ metadata: { name: 'node-2' }, spec: { podCIDR: '10.244.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.250.0.12' }, { type: 'Hostname', address: 'node-2' }] } });
  });
});

describe('renderServices', () => {
  it('allocates ClusterIPs from 10.96.0.10, NodePorts (requested ones kept), LoadBalancer IPs from the pool; stable across renders', () => {
    const s = state();
    s.services['portico/portico'] = { ...service('portico', { type: 'LoadBalancer', selector: { app: 'portico' }, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }), metadata: { namespace: 'portico', name: 'portico' } };
    s.services['default/web'] = service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] });
    s.services['default/np'] = service('np', { type: 'NodePort', ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] });
    const first = renderServices(s, layout);
    expect(first.map((x) => [x.metadata.name, x.spec?.clusterIP, x.spec?.ports?.map((p) => p.nodePort ?? null), x.status?.loadBalancer?.ingress?.[0]?.ip ?? null])).toEqual([
      ['np', '10.96.0.10', [30000, 30001], null],
      ['web', '10.96.0.11', [null], null],
      ['portico', '10.96.0.12', [30080], '10.250.0.200'],
    ]);
    s.services['default/another'] = service('another', { type: 'LoadBalancer', ports: [{ port: 80 }] });
    const second = renderServices(s, layout);
    expect(second.find((x) => x.metadata.name === 'portico')?.spec?.clusterIP).toBe('10.96.0.12');
    expect(second.find((x) => x.metadata.name === 'another')?.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.250.0.201');
    delete s.services['default/np'];
    renderServices(s, layout);
    expect(Object.keys(s.allocations.nodePorts).sort()).toEqual(['default/another/TCP/80', 'portico/portico/TCP/80']);
  });
});

describe('renderEndpointSlices', () => {
  it("lists the selected pods with ready/serving/terminating and resolves named targetPorts to containerPorts", () => {
    const s = state();
    s.services['default/web'] = service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] });
    s.pods = [pod('web-2', 'node-2', '10.244.2.2'), pod('web-1', 'node-1', '10.244.1.2', { terminating: true }), pod('other', 'node-1', '10.244.1.3', { labels: { app: 'other' } }), pod('unwired', 'node-3', '', { ready: false })];
    const [slice] = renderEndpointSlices(s, renderServices(s, layout));
    expect(slice!.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 'web' });
    expect(slice!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice!.endpoints.map((e) => [e.addresses[0], e.nodeName, e.conditions])).toEqual([
      ['10.244.1.2', 'node-1', { ready: false, serving: true, terminating: true }],
      ['10.244.2.2', 'node-2', { ready: true, serving: true, terminating: false }],
    ]);
  });
});

describe('scheduleNode', () => {
  it("spreads a deployment's pods over nodes, never onto a cordoned node", () => {
    const s = state();
    s.pods = [pod('a', 'node-1', '10.244.1.2'), pod('b', 'node-2', '10.244.2.2')];
    expect(scheduleNode(s, layout, 'web')).toBe('node-3');
    s.cordoned = ['node-3'];
    expect(scheduleNode(s, layout, 'web')).toBe('node-1');
    s.cordoned = ['node-1', 'node-2', 'node-3'];
    expect(scheduleNode(s, layout, 'web')).toBeUndefined();
  });
});

describe('parseLabObjects', () => {
  const deployment = (extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: x, ports: [{containerPort: 8080, name: http}${extra}]}]
`;

  it('reads a Deployment (replicas, selector, labels, containerPorts) and the shared kinds', () => {
    const { objects, problems } = parseLabObjects(`${deployment()}---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n`, 'web.yaml');
    expect(problems).toEqual([]);
    expect(objects[0]).toEqual({ kind: 'Deployment', deployment: { namespace: 'default', name: 'web', replicas: 2, selector: { app: 'web' }, labels: { app: 'web' }, ports: [{ port: 8080, name: 'http' }] } satisfies DeploymentSpec });
    expect(objects[1]).toMatchObject({ kind: 'Object', object: { kind: 'Service' } });
  });

  it('reports each bad object by kind/name and keeps the others', () => {
    const text = [
      deployment(', {containerPort: 8080}'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n',
      'apiVersion: v1\nkind: Service\nmetadata: {name: good}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30090}]}\n',
    ].join('---\n');
    const { objects, problems } = parseLabObjects(text, 'mixed.yaml');
    expect(objects.map((o) => (o.kind === 'Deployment' ? o.deployment.name : o.object.metadata.name))).toEqual(['good']);
    expect(problems).toEqual([
      expect.stringMatching(/^Deployment\/web: .*containerPort 8080 is listed twice/),
      expect.stringMatching(/^Service\/bad: spec\.ports\[0\]\.port must be 1-65535/),
      expect.stringMatching(/^ConfigMap\/cm: the lab applies/),
    ]);
  });
});
