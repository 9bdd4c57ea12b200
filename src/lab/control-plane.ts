import { addToIp, compareIp, formatIp, parseCidr, parseIp, prefixContains } from '../lib/cidr.js';
import { allocateLoadBalancerIps } from '../lb-ipam/allocate.js';
import { parsePools } from '../lb-ipam/pool.js';
import type { EndpointSlice, KubeObject, Node, Service, ServicePort } from '../model/k8s-objects.js';
import { SERVICE_NETWORK, type LabLayout } from './layout.js';

// The lab's control plane, pure: what the user applied (Deployments, Services, Ingresses, …) and
// the pods the lab runs → the objects every component reads from the manifest directory: Nodes
// with pod CIDRs, Services with a ClusterIP, NodePorts and LoadBalancer status, and one
// EndpointSlice per Service (ready when the pod answers). Also the scheduler. The same state
// always renders the same objects; allocations are kept in the state so they survive restarts.

export interface DeploymentSpec {
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
  readonly selector: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** containerPorts: number and optional name. */
  readonly ports: ReadonlyArray<{ readonly port: number; readonly name?: string }>;
  /** The lab's own Deployments run `portico controller` or `portico dns`, not the echo server. */
  readonly role?: 'controller' | 'dns';
}

export interface LabPod {
  readonly namespace: string;
  readonly name: string;
  readonly deployment: string;
  readonly node: string;
  readonly ip: string;
  readonly netns: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: ReadonlyArray<{ readonly port: number; readonly name?: string }>;
  ready: boolean;
  terminating: boolean;
  pids: number[];
}

export interface LabAllocations {
  clusterIPs: Record<string, string>;
  /** `ns/name/PROTO/port` → nodePort */
  nodePorts: Record<string, number>;
  loadBalancerIPs: Record<string, string[]>;
}

export interface LabState {
  version: 1;
  name: string;
  mode: 'host-gw' | 'vxlan';
  subnet: string;
  nodes: number;
  createdAt: string;
  /** Drained nodes: no new pods. */
  cordoned: string[];
  /** Applied objects by `Kind/namespace/name` (Deployments as DeploymentSpec). */
  services: Record<string, Service>;
  deployments: Record<string, DeploymentSpec>;
  /** Ingress, IngressClass, Secret: passed through as applied. */
  passthrough: Record<string, KubeObject>;
  pods: LabPod[];
  /** Pod name suffix counter. */
  serial: number;
  allocations: LabAllocations;
}

export const NODE_PORT_RANGE = [30000, 32767] as const;

export function emptyState(options: { name: string; mode: 'host-gw' | 'vxlan'; subnet: string; nodes: number; now: Date }): LabState {
  return {
    version: 1,
    name: options.name,
    mode: options.mode,
    subnet: options.subnet,
    nodes: options.nodes,
    createdAt: options.now.toISOString(),
    cordoned: [],
    services: {},
    deployments: {},
    passthrough: {},
    pods: [],
    serial: 0,
    allocations: { clusterIPs: {}, nodePorts: {}, loadBalancerIPs: {} },
  };
}

export const serviceKey = (s: { metadata: { namespace?: string; name: string } }) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;

export function renderNodes(layout: LabLayout): Node[] {
  return layout.nodes.map((node) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name } },
    spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: node.address }, { type: 'Hostname', address: node.name }] },
  }));
}

/** ClusterIPs from 10.96.0.10 up (below: reserved, as kubernetes and kube-dns are). */
function allocateClusterIp(state: LabState, key: string, requested: string | undefined): string {
  const taken = new Set(Object.entries(state.allocations.clusterIPs).filter(([k]) => k !== key).map(([, ip]) => ip));
  const network = parseCidr(SERVICE_NETWORK)!;
  const wanted = requested !== undefined ? parseIp(requested) : undefined;
  if (wanted && prefixContains(network, wanted) && !taken.has(formatIp(wanted))) return formatIp(wanted);
  const held = state.allocations.clusterIPs[key];
  if (held !== undefined && requested === undefined) return held;
  for (let offset = 10n; offset < 65_534n; offset++) {
    const ip = formatIp(addToIp(network.ip, offset));
    if (!taken.has(ip)) return ip;
  }
  throw new Error('the lab service network 10.96.0.0/16 is full');
}

function allocateNodePort(state: LabState, key: string, requested: number | undefined): number {
  const taken = new Set(Object.entries(state.allocations.nodePorts).filter(([k]) => k !== key).map(([, port]) => port));
  if (requested !== undefined && requested >= NODE_PORT_RANGE[0] && requested <= NODE_PORT_RANGE[1] && !taken.has(requested)) return requested;
  const held = state.allocations.nodePorts[key];
  if (held !== undefined && !taken.has(held)) return held;
  for (let port = NODE_PORT_RANGE[0]; port <= NODE_PORT_RANGE[1]; port++) if (!taken.has(port)) return port;
  throw new Error('no free NodePort left');
}

/**
 * Services as the API server would hold them: ClusterIP (kept once given), NodePorts for
 * NodePort and LoadBalancer types, LoadBalancer ingress from the lab pool (the lb-controller's
 * allocator). Mutates state.allocations; returns the Services sorted by key.
 */
export function renderServices(state: LabState, layout: LabLayout): Service[] {
  const out: Service[] = [];
  const keys = Object.keys(state.services).sort();
  for (const key of Object.keys(state.allocations.clusterIPs)) if (!state.services[key]) delete state.allocations.clusterIPs[key];
  for (const key of Object.keys(state.allocations.nodePorts)) if (!state.services[key.split('/').slice(0, 2).join('/')]) delete state.allocations.nodePorts[key];
  for (const key of keys) {
    const applied = state.services[key]!;
    const spec = applied.spec ?? {};
    const headless = spec.clusterIP === 'None';
    const clusterIP = headless ? 'None' : allocateClusterIp(state, key, spec.clusterIP);
    if (!headless) state.allocations.clusterIPs[key] = clusterIP;
    const withNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    const ports: ServicePort[] = (spec.ports ?? []).map((port) => {
      const protocol = port.protocol ?? 'TCP';
      const portKey = `${key}/${protocol}/${port.port}`;
      if (!withNodePorts) {
        delete state.allocations.nodePorts[portKey];
        return { ...port, protocol, targetPort: port.targetPort ?? port.port };
      }
      const nodePort = allocateNodePort(state, portKey, port.nodePort);
      state.allocations.nodePorts[portKey] = nodePort;
      return { ...port, protocol, targetPort: port.targetPort ?? port.port, nodePort };
    });
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { ...applied.metadata, namespace: applied.metadata.namespace ?? 'default' },
      spec: { ...spec, type: spec.type ?? 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ipFamilies: ['IPv4'], ports },
    });
  }
  const { ranges } = parsePools(layout.lbPool);
  const previous = new Map(Object.entries(state.allocations.loadBalancerIPs));
  const { assignments } = allocateLoadBalancerIps({ pools: ranges, services: out, previous });
  state.allocations.loadBalancerIPs = {};
  for (const assignment of assignments) {
    state.allocations.loadBalancerIPs[assignment.service] = [...assignment.ips];
    const service = out.find((s) => serviceKey(s) === assignment.service)!;
    service.status = { loadBalancer: { ingress: assignment.ips.map((ip) => ({ ip, ipMode: 'VIP' })) } };
  }
  return out;
}

const matches = (selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** One EndpointSlice per Service with a selector: its pods, with the Service ports resolved to containerPorts. */
export function renderEndpointSlices(state: LabState, services: readonly Service[]): EndpointSlice[] {
  const slices: EndpointSlice[] = [];
  for (const service of services) {
    const selector = service.spec?.selector;
    if (!selector) continue;
    const namespace = service.metadata.namespace ?? 'default';
    // A pod without an address (wiring failed) is no endpoint.
    const pods = state.pods.filter((pod) => pod.ip !== '' && pod.namespace === namespace && matches(selector, pod.labels)).sort((a, b) => (a.name < b.name ? -1 : 1));
    const ports = (service.spec?.ports ?? []).map((port) => {
      const target = port.targetPort ?? port.port;
      const resolved = typeof target === 'number' ? target : pods.flatMap((pod) => pod.ports).find((p) => p.name === target)?.port;
      return { name: port.name ?? '', port: resolved ?? 0, protocol: port.protocol ?? 'TCP' };
    }).filter((port) => port.port > 0);
    slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace, name: `${service.metadata.name}-lab`, labels: { 'kubernetes.io/service-name': service.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'portico-lab' } },
      addressType: 'IPv4',
      ports,
      endpoints: pods.map((pod) => ({
        addresses: [pod.ip],
        conditions: { ready: pod.ready && !pod.terminating, serving: pod.ready, terminating: pod.terminating },
        nodeName: pod.node,
        targetRef: { kind: 'Pod', namespace: pod.namespace, name: pod.name },
      })),
    });
  }
  return slices;
}

/** The node for a new pod of `deployment`: fewest of its pods, then fewest pods, then node order; never a cordoned one. */
export function scheduleNode(state: LabState, layout: LabLayout, deployment: string, exclude: readonly string[] = []): string | undefined {
  const candidates = layout.nodes.map((n) => n.name).filter((name) => !state.cordoned.includes(name) && !exclude.includes(name));
  let best: { name: string; mine: number; all: number } | undefined;
  for (const name of candidates) {
    const live = state.pods.filter((p) => p.node === name && !p.terminating);
    const score = { name, mine: live.filter((p) => p.deployment === deployment).length, all: live.length };
    if (!best || score.mine < best.mine || (score.mine === best.mine && score.all < best.all)) best = score;
  }
  return best?.name;
}

/** Pod IPs sort numerically in status output. */
export function comparePodIp(a: LabPod, b: LabPod): number {
  return compareIp(parseIp(a.ip)!, parseIp(b.ip)!);
}
