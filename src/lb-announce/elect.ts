// Which node answers ARP/NDP for each LoadBalancer address (pure). Every agent on the underlay
// segment computes the same answer from the same inputs — Services, EndpointSlices, Node objects and
// the live set its heartbeats see — so no API writes are needed to agree (MetalLB's L2 mode).
//
// The owner of an address is the candidate with the highest sha256(ip, node name) (rendezvous
// hashing): a node joining or leaving moves only the addresses it wins or held, nothing else.
import { createHash } from 'node:crypto';
import { formatIp, parseCidr, parseIp, prefixContains, type IpAddress, type IpPrefix } from '../lib/cidr.js';
import { compareStrings } from '../lib/compare.js';
import { SERVICE_NAME_LABEL } from '../endpoints/endpoint-slice.js';
import { handlesService } from '../lb-ipam/allocate.js';
import { objectKey, type EndpointSlice, type Node, type Service } from '../model/k8s-objects.js';

/** Nodes with this label never announce (the well-known label kube-proxy and MetalLB honour). */
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export type ElectionReason =
  /** The owner won the hash among every live candidate on the subnet. */
  | 'elected'
  /** externalTrafficPolicy Local: the owner won among the live candidates with a ready local endpoint. */
  | 'local-endpoint'
  /** externalTrafficPolicy Local, but no live candidate has a ready endpoint: every live candidate took part. */
  | 'no-local-endpoint'
  /** No live node with a Node object has an InternalIP in the subnet: nobody announces. */
  | 'no-live-candidate';

export interface Election {
  /** The address as formatted by formatIp (`192.0.2.10`, `2001:db8::a`). */
  readonly ip: string;
  readonly family: 4 | 6;
  /** `namespace/name` of the Service whose status carries the address. */
  readonly service: string;
  /** The announcing node, undefined when nobody announces. */
  readonly owner: string | undefined;
  readonly reason: ElectionReason;
  /** The nodes that took part (sorted), for debug views. */
  readonly candidates: readonly string[];
}

export interface ChooseAnnouncersInput {
  readonly services: Iterable<Service>;
  readonly endpointSlices: Iterable<EndpointSlice>;
  readonly nodes: Iterable<Node>;
  /** Node names whose agents are alive (the local node included). */
  readonly liveNodes: ReadonlySet<string>;
  /**
   * The underlay subnets of the local node (`10.30.0.11/24`): the CIDRs on its interface that hold
   * its InternalIP. Only addresses inside one are announced, and only nodes whose InternalIP lies in
   * that same subnet are candidates (they share the L2 segment).
   */
  readonly subnets: readonly string[];
  /** Same meaning as lb-controller's flag: undefined handles Services without a class. */
  readonly loadBalancerClass?: string | undefined;
}

/** Addresses sorted by family then value; addresses outside every subnet are left out. */
export function chooseAnnouncers(input: ChooseAnnouncersInput): Election[] {
  const subnets = input.subnets.map((text) => parseCidr(text)).filter((c): c is IpPrefix => c !== undefined);
  const nodes = nodeAddresses(input.nodes);
  const slices = slicesByService(input.endpointSlices);
  const services = [...input.services].sort((a, b) => compareStrings(objectKey(a), objectKey(b)));

  const seen = new Set<string>();
  const out: Array<Election & { value: bigint }> = [];
  for (const service of services) {
    if (!handlesService(service, input.loadBalancerClass)) continue;
    const key = objectKey(service);
    for (const entry of service.status?.loadBalancer?.ingress ?? []) {
      const ip = entry.ip === undefined ? undefined : parseIp(entry.ip);
      if (ip === undefined) continue;
      const text = formatIp(ip);
      if (seen.has(text)) continue; // two Services with one address: the first by namespace/name decides
      const subnet = subnets.find((s) => prefixContains(s, ip));
      if (subnet === undefined) continue;
      seen.add(text);
      const onSegment = [...nodes]
        .filter(([name, addrs]) => input.liveNodes.has(name) && addrs.some((a) => prefixContains(subnet, a)))
        .map(([name]) => name);
      let candidates = onSegment;
      let reason: ElectionReason = 'elected';
      if (service.spec?.externalTrafficPolicy === 'Local') {
        const local = readyNodes(slices.get(key) ?? [], ip.family);
        const withEndpoint = onSegment.filter((name) => local.has(name));
        if (withEndpoint.length > 0) {
          candidates = withEndpoint;
          reason = 'local-endpoint';
        } else {
          reason = 'no-local-endpoint';
        }
      }
      const owner = winner(text, candidates);
      out.push({
        ip: text,
        family: ip.family,
        service: key,
        owner,
        reason: owner === undefined ? 'no-live-candidate' : reason,
        candidates: [...candidates].sort(compareStrings),
        value: ip.value,
      });
    }
  }
  out.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return out.map(({ value: _value, ...election }) => election);
}

/** The rendezvous score of a node for an address: hex sha256 of `ip \0 node`. */
export function rendezvousScore(ip: string, nodeName: string): string {
  return createHash('sha256').update(`${ip}\u0000${nodeName}`).digest('hex');
}

function winner(ip: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; score: string } | undefined;
  for (const name of candidates) {
    const score = rendezvousScore(ip, name);
    if (!best || score > best.score || (score === best.score && name < best.name)) best = { name, score };
  }
  return best?.name;
}

/** InternalIPs of each Node that may announce (excluded-label nodes are left out). */
export function nodeAddresses(nodes: Iterable<Node>): Map<string, IpAddress[]> {
  const out = new Map<string, IpAddress[]>();
  for (const node of nodes) {
    if (node.metadata.labels?.[EXCLUDE_LB_LABEL] !== undefined) continue;
    const addrs = (node.status?.addresses ?? [])
      .filter((a) => a.type === 'InternalIP')
      .map((a) => parseIp(a.address))
      .filter((a): a is IpAddress => a !== undefined);
    out.set(node.metadata.name, addrs);
  }
  return out;
}

function slicesByService(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined) continue;
    const key = `${slice.metadata.namespace ?? 'default'}/${service}`;
    const group = out.get(key);
    if (group) group.push(slice);
    else out.set(key, [slice]);
  }
  return out;
}

/** Nodes with a ready endpoint of the family (nil `ready` means ready, as the API says). */
function readyNodes(slices: readonly EndpointSlice[], family: 4 | 6): Set<string> {
  const wanted = family === 4 ? 'IPv4' : 'IPv6';
  const out = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== wanted) continue;
    for (const endpoint of slice.endpoints) {
      if (endpoint.nodeName === undefined || endpoint.addresses.length === 0) continue;
      if (endpoint.conditions?.ready === false) continue;
      out.add(endpoint.nodeName);
    }
  }
  return out;
}
