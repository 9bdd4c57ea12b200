import { isIP } from 'node:net';
import type { Node, Service } from '../model/k8s-objects.js';

/** One entry of Ingress `status.loadBalancer.ingress`. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

export interface PublishAddressInput {
  /** --publish-status-address, split on commas; wins over the Service when non-empty. */
  statusAddresses?: readonly string[] | undefined;
  /** The --publish-service Service as last seen (status included), or undefined when absent. */
  service?: Service | undefined;
  /** Every known Node; used for a NodePort Service. */
  nodes?: Iterable<Node>;
}

/**
 * The addresses to publish on owned Ingresses, sorted and unique (like ingress-nginx):
 * --publish-status-address as given; else by the publish Service's type — LoadBalancer: its
 * status.loadBalancer.ingress plus spec.externalIPs; NodePort: each Node's ExternalIP, else its
 * InternalIP; ClusterIP: spec.clusterIP plus spec.externalIPs; ExternalName: spec.externalName.
 */
export function computePublishAddresses(input: PublishAddressInput): LoadBalancerIngress[] {
  const statusAddresses = (input.statusAddresses ?? []).map((a) => a.trim()).filter(Boolean);
  if (statusAddresses.length > 0) return normalizeAddresses(statusAddresses.map(toLoadBalancerIngress));
  const service = input.service as (Service & { spec?: { externalIPs?: unknown }; status?: unknown }) | undefined;
  if (!service) return [];
  const externalIPs = stringList(service.spec?.externalIPs).map(toLoadBalancerIngress);
  switch (service.spec?.type ?? 'ClusterIP') {
    case 'LoadBalancer': {
      const status = service.status as { loadBalancer?: { ingress?: unknown } } | undefined;
      const ingress = Array.isArray(status?.loadBalancer?.ingress) ? (status.loadBalancer.ingress as unknown[]) : [];
      const entries = ingress.flatMap((entry): LoadBalancerIngress[] => {
        const { ip, hostname } = (entry ?? {}) as { ip?: unknown; hostname?: unknown };
        if (typeof ip === 'string' && ip) return [{ ip }];
        if (typeof hostname === 'string' && hostname) return [{ hostname }];
        return [];
      });
      return normalizeAddresses([...entries, ...externalIPs]);
    }
    case 'NodePort':
      return normalizeAddresses([...(input.nodes ?? [])].flatMap((node) => nodeAddress(node)));
    case 'ExternalName':
      return service.spec?.externalName ? [{ hostname: service.spec.externalName }] : [];
    default: {
      const clusterIP = service.spec?.clusterIP;
      const own = clusterIP && clusterIP !== 'None' ? [{ ip: clusterIP }] : [];
      return normalizeAddresses([...own, ...externalIPs]);
    }
  }
}

function nodeAddress(node: Node): LoadBalancerIngress[] {
  const addresses = node.status?.addresses ?? [];
  const pick = addresses.find((a) => a.type === 'ExternalIP') ?? addresses.find((a) => a.type === 'InternalIP');
  return pick ? [toLoadBalancerIngress(pick.address)] : [];
}

function toLoadBalancerIngress(address: string): LoadBalancerIngress {
  return isIP(address) ? { ip: address } : { hostname: address };
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v !== '') : [];
}

/** Sorted (IPs first, then hostnames), unique, each entry with only ip or hostname. */
export function normalizeAddresses(entries: readonly LoadBalancerIngress[]): LoadBalancerIngress[] {
  const seen = new Set<string>();
  const out: LoadBalancerIngress[] = [];
  for (const entry of entries) {
    const clean = entry.ip ? { ip: entry.ip } : entry.hostname ? { hostname: entry.hostname } : undefined;
    if (!clean) continue;
    const id = clean.ip ? `0 ${clean.ip}` : `1 ${clean.hostname}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(clean);
  }
  return out.sort((a, b) => addressId(a).localeCompare(addressId(b)));
}

function addressId(entry: LoadBalancerIngress): string {
  return entry.ip ? `0 ${entry.ip}` : `1 ${entry.hostname ?? ''}`;
}

export function sameAddresses(a: readonly LoadBalancerIngress[], b: readonly LoadBalancerIngress[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((entry, i) => addressId(entry) === addressId(b[i]!));
}
