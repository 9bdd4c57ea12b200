// A service proxy over an in-memory store and FakeNft, with builders for the Service shapes.
import { parseCidr } from '../../src/lib/cidr.js';
import type { IpFamily } from '../../src/lib/cidr.js';
import { FaultPlan } from '../../src/lib/fault-plan.js';
import type { EndpointSlice, KubeObject, Service, ServicePort } from '../../src/model/k8s-objects.js';
import { objectKey } from '../../src/model/k8s-objects.js';
import { FakeNft } from '../../src/nft/fake-nft.js';
import type { ConntrackCleaner } from '../../src/service-proxy/conntrack.js';
import { ServiceProxier, type HealthCheckTarget, type ProxierOptions } from '../../src/service-proxy/proxier.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { endpointSlice, objectMeta, type EndpointOptions } from '../helpers/objects.js';

export const NODE = 'node-a';

export function svc(key: string, spec: Service['spec'] & { ports?: ServicePort[] }, options: { labels?: Record<string, string>; lbIPs?: string[] } = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(key, options.labels ? { labels: options.labels } : {}),
    spec: { type: 'ClusterIP', ...spec },
    ...(options.lbIPs && { status: { loadBalancer: { ingress: options.lbIPs.map((ip) => ({ ip })) } } }),
  };
}

/** A slice of `service` with endpoints on the given ports (`{ name, port, protocol }`). */
export function slice(key: string, service: string, ports: Array<{ name?: string; port: number; protocol?: string }>, endpoints: Array<string | EndpointOptions>, addressType: 'IPv4' | 'IPv6' = 'IPv4'): EndpointSlice {
  return endpointSlice(key, { service, addressType, ports: ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })), endpoints });
}

/** Ready endpoint on a node. */
export const on = (address: string, nodeName: string, conditions: Partial<Pick<EndpointOptions, 'ready' | 'serving' | 'terminating'>> = {}): EndpointOptions => ({ addresses: [address], nodeName, ...conditions });

export interface ConntrackCall {
  op: string;
  args: Record<string, unknown>;
}

export class RecordingConntrack implements ConntrackCleaner {
  readonly calls: ConntrackCall[] = [];
  async clearEndpoint(args: { serviceIP: string; endpointIP: string; protocol: string }) {
    this.calls.push({ op: 'endpoint', args });
  }
  async clearNodePort(args: { nodePort: number; endpointIP: string; protocol: string }) {
    this.calls.push({ op: 'nodeport', args });
  }
  async clearServiceIP(args: { serviceIP: string; protocol: string }) {
    this.calls.push({ op: 'service', args });
  }
  async clearNodePortAll(args: { nodePort: number; protocol: string }) {
    this.calls.push({ op: 'nodeport-all', args });
  }
}

export function setup(options: { families?: IpFamily[]; clusterCIDRs?: string[]; nodePortCIDRs?: string[]; faults?: FaultPlan; extra?: Partial<ProxierOptions> } = {}) {
  const store = new ObjectStore();
  const nft = new FakeNft(options.faults ? { faults: options.faults } : {});
  const log = captureLogger('debug');
  const conntrack = new RecordingConntrack();
  const health: Array<Map<number, HealthCheckTarget>> = [];
  const proxier = new ServiceProxier({
    store,
    nft,
    logger: log.logger,
    nodeName: NODE,
    families: options.families ?? [4],
    clusterCIDRs: (options.clusterCIDRs ?? ['10.244.0.0/16']).map((c) => parseCidr(c)!),
    ...(options.nodePortCIDRs && { nodePortCIDRs: options.nodePortCIDRs.map((c) => parseCidr(c)!) }),
    conntrack,
    healthChecks: { sync: (targets) => void health.push(new Map(targets)) },
    ...options.extra,
  });
  proxier.start();
  const apply = (...objects: KubeObject[]) => {
    for (const obj of objects) store.upsert(obj);
  };
  const remove = (obj: KubeObject) => store.remove(obj.kind, objectKey(obj));
  return { store, nft, log, conntrack, health, proxier, apply, remove };
}

/** The rules of one chain (by name prefix, e.g. `service-` + `default/web/tcp/`) in a dump. */
export function chainsOf(dump: string, prefix: string, readable: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /\tchain (\S+) \{\n([\s\S]*?)\n\t\}/g;
  for (const m of dump.matchAll(re)) {
    const name = m[1]!;
    if (!name.startsWith(prefix) || !name.includes(readable)) continue;
    out.set(name, m[2]!.split('\n').map((l) => l.trim()).filter((l) => !l.startsWith('type ')));
  }
  return out;
}

/** The elements of a set or map in a dump. */
export function elementsOf(dump: string, set: string): string[] {
  const m = new RegExp(`\\t(?:set|map) ${set.replace(/[/.]/g, '\\$&')} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(dump);
  if (!m) return [];
  return m[1]!.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('element ')).map((l) => l.slice('element '.length));
}
