import { formatIp, parseIp, type IpAddress, type IpFamily } from '../lib/cidr.js';
import type { ErrorCode } from '../lib/errors.js';
import { objectKey, type Service } from '../model/k8s-objects.js';
import type { Diagnostic } from '../model/route-model.js';
import { formatPool, lowestFree, poolContains, poolFamilies, type PoolRange } from './pool.js';

// The LoadBalancer address allocator, pure: Services + pool (+ what was assigned before) →
// addresses per Service + diagnostics. No client, no clock; the same input gives the same output
// whatever the order of `services`. Used by `portico lb-controller` and by the lab as its control
// plane.
//
// Order of decisions, so restarts are stable and nobody loses an address to a newcomer:
//  1. Kept: every handled Service keeps the pool addresses it holds (its previous assignment, else
//     its status), one per family it wants, oldest Service first (creationTimestamp, then
//     namespace/name); a later holder of the same address loses it (PORTICO_ERR_LB_IP_CONFLICT).
//  2. Requested: Services asking for addresses (annotation portico.dev/loadbalancer-ips, else
//     spec.loadBalancerIP) get all of them or none; an address outside the pool or held by another
//     Service is never taken from it (PORTICO_ERR_LB_IP_UNAVAILABLE).
//  3. New: the others get the lowest free address of each family they lack, by namespace/name
//     (PORTICO_ERR_LB_EXHAUSTED when none is left).

export const LOADBALANCER_IPS_ANNOTATION = 'portico.dev/loadbalancer-ips';

export interface AllocateOptions {
  readonly pools: readonly PoolRange[];
  readonly services: Iterable<Service>;
  /** `namespace/name` → addresses assigned by the previous run (wins over a status not yet written back). */
  readonly previous?: ReadonlyMap<string, readonly string[]>;
  /** spec.loadBalancerClass handled; undefined: only Services without a class (MetalLB's default). */
  readonly loadBalancerClass?: string | undefined;
}

export interface LoadBalancerAssignment {
  /** `namespace/name` */
  readonly service: string;
  /** IPv4 first, then IPv6 (the order of spec.ipFamilies when both). */
  readonly ips: readonly string[];
}

export interface AllocationResult {
  /** Every handled Service, sorted by key; `ips` may be empty (then diagnostics say why). */
  readonly assignments: readonly LoadBalancerAssignment[];
  readonly diagnostics: readonly Diagnostic[];
}

interface Candidate {
  readonly key: string;
  readonly service: Service;
  readonly families: readonly IpFamily[];
  /** undefined: no request; else parsed addresses (invalid ones reported). */
  readonly requested: readonly IpAddress[] | undefined;
  readonly held: readonly IpAddress[];
  readonly got: Map<IpFamily, IpAddress>;
}

/** Whether this allocator is responsible for the Service's addresses. */
export function handlesService(service: Service, loadBalancerClass?: string): boolean {
  return service.spec?.type === 'LoadBalancer' && (service.spec.loadBalancerClass ?? undefined) === (loadBalancerClass ?? undefined);
}

export function allocateLoadBalancerIps(options: AllocateOptions): AllocationResult {
  const { pools } = options;
  const diagnostics: Diagnostic[] = [];
  const available = poolFamilies(pools);
  const taken: Record<IpFamily, Map<bigint, string>> = { 4: new Map(), 6: new Map() };
  const candidates: Candidate[] = [];
  for (const service of options.services) {
    if (!handlesService(service, options.loadBalancerClass)) continue;
    const key = objectKey(service);
    const report = (code: ErrorCode, message: string, field?: string) => diagnostics.push(diagnosticFor(service, code, message, field));
    const families = wantedFamilies(service, available);
    const requested = requestedIps(service, report);
    if (families.length === 0 && requested === undefined) {
      const wanted = (service.spec?.ipFamilies ?? ['IPv4']).join(', ');
      report('PORTICO_ERR_LB_EXHAUSTED', `the pool (${formatPool(pools) || 'empty'}) has no ${wanted} address for Service ${key}`);
    }
    const held = (options.previous?.get(key) ?? (service.status?.loadBalancer?.ingress ?? []).map((entry) => entry.ip ?? ''))
      .map((text) => parseIp(text))
      .filter((ip): ip is IpAddress => ip !== undefined && poolContains(pools, ip));
    candidates.push({ key, service, families, requested, held, got: new Map() });
  }
  const byAge = [...candidates].sort((a, b) => compareAge(a.service, b.service) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const byKey = [...candidates].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const claim = (candidate: Candidate, ip: IpAddress) => {
    taken[ip.family].set(ip.value, candidate.key);
    candidate.got.set(ip.family, ip);
  };

  // 1. Kept.
  for (const candidate of byAge) {
    for (const ip of candidate.held) {
      if (!candidate.families.includes(ip.family) || candidate.got.has(ip.family)) continue;
      if (candidate.requested && !candidate.requested.some((want) => want.family === ip.family && want.value === ip.value)) continue;
      const holder = taken[ip.family].get(ip.value);
      if (holder !== undefined) {
        diagnostics.push(
          diagnosticFor(candidate.service, 'PORTICO_ERR_LB_IP_CONFLICT', `${formatIp(ip)} is also held by the older Service ${holder}, which keeps it; Service ${candidate.key} gets another address`, 'status.loadBalancer.ingress'),
        );
        continue;
      }
      claim(candidate, ip);
    }
  }

  // 2. Requested: all or nothing.
  for (const candidate of byAge) {
    if (!candidate.requested) continue;
    const problems: string[] = [];
    for (const ip of candidate.requested) {
      if (candidate.got.get(ip.family)?.value === ip.value) continue;
      if (!poolContains(pools, ip)) problems.push(`${formatIp(ip)} is outside the pool (${formatPool(pools) || 'empty'})`);
      else if (taken[ip.family].has(ip.value)) problems.push(`${formatIp(ip)} is held by Service ${taken[ip.family].get(ip.value)}`);
    }
    if (problems.length > 0 || candidate.requested.length === 0) {
      for (const ip of candidate.got.values()) taken[ip.family].delete(ip.value);
      candidate.got.clear();
      for (const problem of problems) {
        diagnostics.push(diagnosticFor(candidate.service, 'PORTICO_ERR_LB_IP_UNAVAILABLE', `Service ${candidate.key} requests ${problem}; it gets no address`, requestField(candidate.service)));
      }
      continue;
    }
    for (const ip of candidate.requested) if (!candidate.got.has(ip.family)) claim(candidate, ip);
  }

  // 3. New addresses, lowest free first.
  for (const candidate of byKey) {
    if (candidate.requested) continue;
    for (const family of candidate.families) {
      if (candidate.got.has(family)) continue;
      const ip = lowestFree(pools, family, taken[family]);
      if (!ip) {
        diagnostics.push(
          diagnosticFor(candidate.service, 'PORTICO_ERR_LB_EXHAUSTED', `no free IPv${family} address left in the pool (${formatPool(pools.filter((r) => r.family === family))}) for Service ${candidate.key}`),
        );
        continue;
      }
      claim(candidate, ip);
    }
  }

  const assignments = byKey.map((candidate) => {
    const order = candidate.requested?.map((ip) => ip.family) ?? candidate.families;
    const ips = [...new Set(order)].flatMap((family) => {
      const ip = candidate.got.get(family);
      return ip ? [formatIp(ip)] : [];
    });
    return { service: candidate.key, ips };
  });
  diagnostics.sort((a, b) => objectOrder(a) - objectOrder(b) || compareText(`${a.object.namespace}/${a.object.name}`, `${b.object.namespace}/${b.object.name}`) || compareText(a.message, b.message));
  return { assignments, diagnostics };
}

/** spec.ipFamilies restricted to what the pool has; without ipFamilies, IPv4 (else IPv6) as MetalLB. */
function wantedFamilies(service: Service, available: ReadonlySet<IpFamily>): IpFamily[] {
  const declared = service.spec?.ipFamilies;
  if (!declared || declared.length === 0) return available.has(4) ? [4] : available.has(6) ? [6] : [];
  const families = declared.map((name) => (name === 'IPv6' ? 6 : name === 'IPv4' ? 4 : undefined)).filter((f): f is IpFamily => f !== undefined);
  return [...new Set(families)].filter((family) => available.has(family));
}

function requestedIps(service: Service, report: (code: ErrorCode, message: string, field?: string) => void): IpAddress[] | undefined {
  const annotation = service.metadata.annotations?.[LOADBALANCER_IPS_ANNOTATION];
  const texts =
    annotation !== undefined
      ? annotation.split(',').map((part) => part.trim()).filter(Boolean)
      : service.spec?.loadBalancerIP
        ? [service.spec.loadBalancerIP.trim()]
        : undefined;
  if (texts === undefined) return undefined;
  const ips: IpAddress[] = [];
  const families = new Set<IpFamily>();
  for (const text of texts) {
    const ip = parseIp(text);
    if (!ip) {
      report('PORTICO_ERR_LB_IP_UNAVAILABLE', `Service ${objectKey(service)} requests ${JSON.stringify(text)}, which is not an IP address; it gets no address`, requestField(service));
      return [];
    }
    if (families.has(ip.family)) {
      report('PORTICO_ERR_LB_IP_UNAVAILABLE', `Service ${objectKey(service)} requests two IPv${ip.family} addresses (${texts.join(', ')}); one per family is supported; it gets no address`, requestField(service));
      return [];
    }
    families.add(ip.family);
    ips.push(ip);
  }
  return ips;
}

function requestField(service: Service): string {
  return service.metadata.annotations?.[LOADBALANCER_IPS_ANNOTATION] !== undefined ? `metadata.annotations[${LOADBALANCER_IPS_ANNOTATION}]` : 'spec.loadBalancerIP';
}

function diagnosticFor(service: Service, code: ErrorCode, message: string, field?: string): Diagnostic {
  return {
    severity: code === 'PORTICO_ERR_LB_IP_CONFLICT' ? 'warning' : 'error',
    code,
    object: { kind: 'Service', namespace: service.metadata.namespace ?? 'default', name: service.metadata.name },
    ...(field !== undefined && { field }),
    message,
  };
}

/** Oldest first; a Service without creationTimestamp counts as newest. */
function compareAge(a: Service, b: Service): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '');
  const tb = Date.parse(b.metadata.creationTimestamp ?? '');
  const va = Number.isNaN(ta) ? Infinity : ta;
  const vb = Number.isNaN(tb) ? Infinity : tb;
  return va === vb ? 0 : va < vb ? -1 : 1;
}

function objectOrder(diagnostic: Diagnostic): number {
  return diagnostic.object.kind === 'Service' ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
