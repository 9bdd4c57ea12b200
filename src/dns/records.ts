// Services, EndpointSlices (and Pods) → the cluster zone: every name `portico dns` answers with
// its records, as CoreDNS's kubernetes plugin forms them (networking reference §5). Pure: no
// sockets, no clock; sorted so the same objects always give the same zone; bad objects become
// diagnostics and are skipped, every other name keeps answering.
import { compareStrings } from '../lib/compare.js';
import { formatIp, parseIp, type IpAddress } from '../lib/cidr.js';
import { indexSlicesByService } from '../endpoints/endpoint-slice.js';
import type { EndpointSlice, Pod, Service } from '../model/k8s-objects.js';
import type { Diagnostic } from '../model/route-model.js';

export type PodMode = 'insecure' | 'verified' | 'disabled';
export const POD_MODES: readonly PodMode[] = ['insecure', 'verified', 'disabled'];

/** The spec schema version CoreDNS answers at `dns-version.<zone>` (kubernetes/dns specification.md). */
export const DNS_SCHEMA_VERSION = '1.1.0';

export interface SrvTarget {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

/** The records of one owner name. Owner names and targets are lowercase, without the final dot. */
export interface RecordSet {
  readonly a: string[];
  readonly aaaa: string[];
  readonly srv: SrvTarget[];
  readonly ptr: string[];
  readonly txt: string[];
  cname?: string;
}

export interface DnsZone {
  /** Lowercase, no final dot, e.g. `cluster.local`. */
  readonly zone: string;
  /** Owner name → records: names inside the zone and the reverse (PTR) names of cluster IPs. */
  readonly names: ReadonlyMap<string, RecordSet>;
  /** Every name inside the zone that exists (owns records or has a descendant that does). */
  readonly existing: ReadonlySet<string>;
  /** Namespace → the pod IPs (canonical text) of its Pods, for `--pods verified`. */
  readonly podIPs: ReadonlyMap<string, ReadonlySet<string>>;
  readonly diagnostics: readonly Diagnostic[];
}

export interface DnsObjects {
  readonly services: Iterable<Service>;
  readonly endpointSlices: Iterable<EndpointSlice>;
  readonly pods?: Iterable<Pod>;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A DNS name as RFC 1123 hostnames spell it (labels of letters, digits and inner dashes). */
export function isDnsName(name: string): boolean {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed.length === 0 || trimmed.length > 253) return false;
  return trimmed.toLowerCase().split('.').every((label) => LABEL.test(label));
}

export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** `10.96.0.10` → `10.0.96.10.in-addr.arpa`; IPv6 → nibbles under ip6.arpa. */
export function reverseName(ip: IpAddress): string {
  if (ip.family === 4) {
    return `${[0n, 8n, 16n, 24n].map((shift) => String((ip.value >> shift) & 0xffn)).join('.')}.in-addr.arpa`;
  }
  const nibbles: string[] = [];
  for (let i = 0; i < 32; i++) nibbles.push(((ip.value >> BigInt(i * 4)) & 0xfn).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

/** The label CoreDNS gives an endpoint without a hostname: `10-3-0-1`, `fd00--1`. */
export function dashedIp(ip: IpAddress): string {
  return formatIp(ip).replace(/[.:]/g, '-');
}

/** `10-244-1-7` / `fd00--7` → the address, or undefined when the label is no IP. */
export function parseDashedIp(label: string): IpAddress | undefined {
  const dotted = parseIp(label.replace(/-/g, '.'));
  if (dotted?.family === 4 && label.split('-').length === 4) return dotted;
  const coloned = parseIp(label.replace(/-/g, ':'));
  return coloned?.family === 6 ? coloned : undefined;
}

export interface BuildOptions {
  /** e.g. `cluster.local`. */
  readonly zone: string;
}

/** Builds the zone. Services and slices in any order give the same result. */
export function buildDnsZone(objects: DnsObjects, options: BuildOptions): DnsZone {
  const zone = normalizeName(options.zone);
  const names = new Map<string, RecordSet>();
  const diagnostics: Diagnostic[] = [];
  const ensure = (owner: string): RecordSet => {
    let set = names.get(owner);
    if (set === undefined) {
      set = { a: [], aaaa: [], srv: [], ptr: [], txt: [] };
      names.set(owner, set);
    }
    return set;
  };
  const addAddress = (owner: string, ip: IpAddress) => {
    const set = ensure(owner);
    const text = formatIp(ip);
    const list = ip.family === 4 ? set.a : set.aaaa;
    if (!list.includes(text)) list.push(text);
  };
  const addPtr = (ip: IpAddress, target: string) => {
    const set = ensure(reverseName(ip));
    if (!set.ptr.includes(target)) set.ptr.push(target);
  };
  const report = (service: Service, field: string, message: string) =>
    diagnostics.push({
      severity: 'error',
      code: 'PORTICO_ERR_DNS_OBJECT',
      object: { kind: 'Service', namespace: service.metadata.namespace ?? 'default', name: service.metadata.name },
      field,
      message,
    });

  const slices = indexSlicesByService(objects.endpointSlices);
  const services = [...objects.services].sort((a, b) => compareStrings(keyOf(a), keyOf(b)));
  for (const service of services) {
    const namespace = service.metadata.namespace ?? 'default';
    const name = service.metadata.name;
    if (!LABEL.test(name) || !LABEL.test(namespace)) {
      report(service, 'metadata.name', `${namespace}/${name} is not a DNS label; the Service gets no name`);
      continue;
    }
    const base = `${name}.${namespace}.svc.${zone}`;
    const spec = service.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = spec.externalName;
      if (target === undefined || !isDnsName(target)) {
        report(service, 'spec.externalName', `externalName ${JSON.stringify(target ?? null)} is not a DNS name; no CNAME`);
        continue;
      }
      ensure(base).cname = normalizeName(target);
      continue;
    }
    const namedPorts = (spec.ports ?? [])
      .filter((p) => p.name !== undefined && p.name !== '' && LABEL.test(p.name.toLowerCase()))
      .map((p) => ({ name: p.name!.toLowerCase(), protocol: (p.protocol ?? 'TCP').toLowerCase(), port: p.port }));
    const clusterIPs = spec.clusterIPs ?? (spec.clusterIP !== undefined ? [spec.clusterIP] : []);
    const headless = clusterIPs.length === 0 || clusterIPs[0] === 'None' || clusterIPs[0] === '';
    if (!headless) {
      const ips: IpAddress[] = [];
      clusterIPs.forEach((text, i) => {
        const ip = parseIp(text);
        if (ip === undefined) report(service, `spec.clusterIPs[${i}]`, `${JSON.stringify(text)} is not an IP address; skipped`);
        else ips.push(ip);
      });
      if (ips.length === 0) continue;
      for (const ip of ips) {
        addAddress(base, ip);
        addPtr(ip, base);
      }
      for (const port of namedPorts) {
        ensure(`_${port.name}._${port.protocol}.${base}`).srv.push({ priority: 0, weight: 100, port: port.port, target: base });
      }
      continue;
    }
    // Headless: one record per ready endpoint (any endpoint with publishNotReadyAddresses).
    const group = slices.get(namespace)?.get(name) ?? [];
    const endpoints = new Map<string, { ip: IpAddress; host: string; slice: EndpointSlice }>();
    for (const slice of group) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      for (const endpoint of slice.endpoints) {
        if (endpoint.conditions?.ready === false && spec.publishNotReadyAddresses !== true) continue;
        for (const text of endpoint.addresses) {
          const ip = parseIp(text);
          if (ip === undefined) continue;
          const key = formatIp(ip);
          if (endpoints.has(key)) continue;
          const hostname = endpoint.hostname?.toLowerCase();
          const host = hostname !== undefined && LABEL.test(hostname) ? hostname : dashedIp(ip);
          endpoints.set(key, { ip, host, slice });
        }
      }
    }
    const sorted = [...endpoints.entries()].sort(([a], [b]) => compareStrings(a, b));
    for (const [, { ip, host }] of sorted) {
      addAddress(base, ip);
      addAddress(`${host}.${base}`, ip);
      addPtr(ip, `${host}.${base}`);
    }
    for (const port of namedPorts) {
      const targets: SrvTarget[] = [];
      for (const [, { host, slice }] of sorted) {
        const slicePort = slice.ports?.find((p) => (p.name ?? '').toLowerCase() === port.name && (p.protocol ?? 'TCP').toLowerCase() === port.protocol)?.port;
        if (slicePort === undefined || slicePort <= 0 || slicePort > 65535) continue;
        const target = `${host}.${base}`;
        if (!targets.some((t) => t.target === target && t.port === slicePort)) targets.push({ priority: 0, weight: 0, port: slicePort, target });
      }
      if (targets.length === 0) continue;
      const weight = Math.max(1, Math.floor(100 / targets.length));
      ensure(`_${port.name}._${port.protocol}.${base}`).srv.push(...targets.map((t) => ({ ...t, weight })));
    }
  }
  ensure(`dns-version.${zone}`).txt.push(DNS_SCHEMA_VERSION);

  for (const set of names.values()) {
    set.a.sort(compareIpText);
    set.aaaa.sort(compareIpText);
    set.ptr.sort(compareStrings);
    set.srv.sort((a, b) => compareStrings(a.target, b.target) || a.port - b.port);
  }
  const existing = new Set<string>([zone, `svc.${zone}`, `pod.${zone}`]);
  const suffix = `.${zone}`;
  for (const owner of names.keys()) {
    if (!owner.endsWith(suffix)) continue;
    for (let name = owner; name.length > zone.length && !existing.has(name); name = name.slice(name.indexOf('.') + 1)) existing.add(name);
  }
  const podIPs = new Map<string, Set<string>>();
  for (const pod of objects.pods ?? []) {
    const namespace = pod.metadata.namespace ?? 'default';
    const ips = [...(pod.status?.podIPs ?? []).map((p) => p.ip), ...(pod.status?.podIP !== undefined ? [pod.status.podIP] : [])];
    for (const text of ips) {
      const ip = parseIp(text);
      if (ip === undefined) continue;
      let set = podIPs.get(namespace);
      if (set === undefined) podIPs.set(namespace, (set = new Set()));
      set.add(formatIp(ip));
    }
  }
  diagnostics.sort((a, b) => compareStrings(`${a.object.namespace}/${a.object.name}`, `${b.object.namespace}/${b.object.name}`));
  return { zone, names, existing, podIPs, diagnostics };
}

function keyOf(obj: Service): string {
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

function compareIpText(a: string, b: string): number {
  const x = parseIp(a)!;
  const y = parseIp(b)!;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
