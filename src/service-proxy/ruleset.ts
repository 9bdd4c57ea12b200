// The desired nftables state, as values: kube-proxy's nftables design (KEP-3866) per address family.
// buildBaseRuleset gives the fixed chains, sets and maps; buildServiceFragment one Service's chains,
// affinity sets and map elements. Pure and deterministic: the same input gives the same text.
import { formatCidr, type IpFamily, type IpPrefix } from '../lib/cidr.js';
import type { NftChainSpec, NftFamily, NftSetSpec } from '../nft/transaction.js';
import { selectUsableEndpoints, type ServiceEndpoint } from '../endpoints/endpoint-slice.js';
import type { ServicePortInfo } from './service-ports.js';

export const PROXY_TABLE_NAME = 'portico-proxy';
/** kube-proxy's masquerade bit. */
export const MASQUERADE_MARK = '0x4000';

export const SERVICE_IPS_MAP = 'service-ips';
export const SERVICE_NODEPORTS_MAP = 'service-nodeports';
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports';
export const CLUSTER_IPS_SET = 'cluster-ips';
/** `endpoint . endpoint` for every endpoint IP: a pod that reached itself through a Service. */
export const HAIRPIN_SET = 'hairpin-endpoints';
/**
 * (entry address . proto . port . slot) → endpoint address . port: the DNAT targets of every Service,
 * one map per protocol (see buildBaseRuleset).
 */
export const endpointsMap = (proto: string): string => `service-endpoints-${proto}`;
/** (proto . nodePort . slot) → endpoint address . port: the same for NodePort traffic. */
export const nodePortEndpointsMap = (proto: string): string => `nodeport-endpoints-${proto}`;
const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
/**
 * Endpoint counts up to this share one dispatch chain per protocol, count and kind (cluster-wide or
 * local); Services with more endpoints get the lookups in their own chain.
 */
export const SHARED_DISPATCH_MAX = 16;
/** The shared chain that picks one of `n` endpoints (slots from `offset`) for `proto`. */
export function dispatchChain(proto: string, n: number, offset: number): string {
  return `${offset ? 'local-' : ''}endpoints-${proto}-${n}`;
}

/** The two lookups that DNAT to slot `offset + numgen random mod n`: by Service address, then by NodePort. */
function dispatchRules(addr: 'ip' | 'ip6', proto: string, n: number, offset: number): string[] {
  const slots = `numgen random mod ${n}${offset ? ` offset ${offset}` : ''}`;
  // `tcp dport` here is the same bytecode as `th dport`; it is what nft lists, given the map.
  return [
    `dnat ${addr} addr . port to ${addr} daddr . meta l4proto . ${proto} dport . ${slots} map @${endpointsMap(proto)}`,
    `dnat ${addr} addr . port to meta l4proto . ${proto} dport . ${slots} map @${nodePortEndpointsMap(proto)}`,
  ];
}
/** Slots of a local-… chain start here, so they don't collide with the service-… chain's slots. */
export const LOCAL_SLOT_OFFSET = 1048576;
const REJECT_CHAIN = 'reject-chain';
const MARK_MASQ_CHAIN = 'mark-for-masquerade';

interface FamilyWords {
  readonly table: NftFamily;
  /** The match keyword: `ip saddr`, `ip6 saddr`. */
  readonly addr: 'ip' | 'ip6';
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
  readonly loopback: string;
}

const FAMILIES: Record<IpFamily, FamilyWords> = {
  4: { table: 'ip', addr: 'ip', addrType: 'ipv4_addr', loopback: '127.0.0.0/8' },
  6: { table: 'ip6', addr: 'ip6', addrType: 'ipv6_addr', loopback: '::1' },
};

export function tableFamily(family: IpFamily): NftFamily {
  return FAMILIES[family].table;
}

export interface RulesetOptions {
  readonly family: IpFamily;
  /** This node: endpoints whose nodeName equals it are local. */
  readonly nodeName: string;
  /** --cluster-cidr of this family: pod traffic detection; empty turns detection off. */
  readonly clusterCIDRs: readonly IpPrefix[];
  /** --nodeport-addresses of this family; undefined: every local address but loopback. */
  readonly nodePortCIDRs?: readonly IpPrefix[];
}

export interface ChainState {
  readonly spec: NftChainSpec;
  readonly rules: readonly string[];
}

export interface ElementState {
  readonly set: string;
  readonly key: string;
  /** Maps only. */
  readonly value?: string;
}

/** What one service port ended up with, for conntrack cleanup, health checks and metrics. */
export interface PortOutcome {
  readonly info: ServicePortInfo;
  /** Addresses traffic to this port is DNATed to (cluster-wide and local usable endpoints). */
  readonly endpointIPs: readonly string[];
  /** Ready endpoints on this node (the healthCheckNodePort count; terminating ones don't count). */
  readonly localReady: number;
  readonly hasEndpoints: boolean;
}

/** One Service's share of the ruleset: replaced as a whole when the Service or its slices change. */
export interface ServiceFragment {
  readonly chains: ReadonlyMap<string, ChainState>;
  readonly sets: ReadonlyMap<string, NftSetSpec>;
  readonly elements: readonly ElementState[];
  readonly ports: readonly PortOutcome[];
  /** Endpoint IPs DNATed to (any port), sorted: their hairpin elements are shared across Services. */
  readonly hairpin: readonly string[];
}

export interface BaseRuleset {
  readonly chains: ReadonlyMap<string, ChainState>;
  readonly sets: ReadonlyMap<string, NftSetSpec>;
  /** Elements of the base sets (the CIDR sets), written on every full sync. */
  readonly elements: readonly ElementState[];
}

/** --cluster-cidr as a named interval set: anonymous sets in rules cost the kernel a set each. */
export const CLUSTER_CIDRS_SET = 'cluster-cidrs';
export const NODEPORT_CIDRS_SET = 'nodeport-cidrs';

/** The fixed part: base chains hooked into netfilter, dispatch maps, masquerading, reject. */
export function buildBaseRuleset(options: RulesetOptions): BaseRuleset {
  const f = FAMILIES[options.family];
  const nodePortMatch = nodePortDestination(options);
  const sets = new Map<string, NftSetSpec>([
    [CLUSTER_IPS_SET, { name: CLUSTER_IPS_SET, type: f.addrType, comment: 'Active ClusterIPs' }],
    [HAIRPIN_SET, { name: HAIRPIN_SET, type: `${f.addrType} . ${f.addrType}`, comment: 'Endpoint IPs twice: a pod reaching itself through a Service is masqueraded' }],
    [SERVICE_IPS_MAP, { name: SERVICE_IPS_MAP, type: `${f.addrType} . inet_proto . inet_service`, valueType: 'verdict', comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic' }],
    [SERVICE_NODEPORTS_MAP, { name: SERVICE_NODEPORTS_MAP, type: 'inet_proto . inet_service', valueType: 'verdict', comment: 'NodePort traffic' }],
    [NO_ENDPOINT_SERVICES_MAP, { name: NO_ENDPOINT_SERVICES_MAP, type: `${f.addrType} . inet_proto . inet_service`, valueType: 'verdict', comment: 'vmap to drop or reject packets to services with no endpoints' }],
    [NO_ENDPOINT_NODEPORTS_MAP, { name: NO_ENDPOINT_NODEPORTS_MAP, type: 'inet_proto . inet_service', valueType: 'verdict', comment: 'vmap to drop or reject packets to service nodeports with no endpoints' }],
    // numgen's value has no type name: these maps are declared with typeof. One map per protocol:
    // the value must name the port as `tcp dport` (or udp, sctp), and nft then adds a
    // `meta l4proto tcp` match to each rule using it. `th dport` would fit every protocol, but
    // nft 1.0.6 can't read `ip daddr . th dport` back from the kernel ("conflicting protocols
    // specified: ip vs. th"), which breaks every later transaction and listing.
    ...PROTOCOLS.flatMap((p): Array<[string, NftSetSpec]> => [
      [endpointsMap(p), { name: endpointsMap(p), typeof: true, type: `${f.addr} daddr . meta l4proto . th dport . numgen random mod 1`, valueType: `${f.addr} daddr . ${p} dport`, comment: `DNAT target per ${p.toUpperCase()} Service address and endpoint slot` }],
      [nodePortEndpointsMap(p), { name: nodePortEndpointsMap(p), typeof: true, type: 'meta l4proto . th dport . numgen random mod 1', valueType: `${f.addr} daddr . ${p} dport`, comment: `DNAT target per ${p.toUpperCase()} NodePort and endpoint slot` }],
    ]),
  ]);
  const elements: ElementState[] = [];
  if (options.clusterCIDRs.length > 0) {
    sets.set(CLUSTER_CIDRS_SET, { name: CLUSTER_CIDRS_SET, type: f.addrType, flags: ['interval'], comment: 'Pod network (--cluster-cidr)' });
    for (const cidr of options.clusterCIDRs) elements.push({ set: CLUSTER_CIDRS_SET, key: formatCidr(cidr) });
  }
  if (options.nodePortCIDRs !== undefined) {
    sets.set(NODEPORT_CIDRS_SET, { name: NODEPORT_CIDRS_SET, type: f.addrType, flags: ['interval'], comment: 'Addresses NodePorts answer on (--nodeport-addresses)' });
    for (const cidr of options.nodePortCIDRs) elements.push({ set: NODEPORT_CIDRS_SET, key: formatCidr(cidr) });
  }
  const chain = (spec: NftChainSpec, rules: string[]): [string, ChainState] => [spec.name, { spec, rules }];
  const chains = new Map<string, ChainState>([
    // Base chains: filter at dstnat-10 sees the original destination; the post-DNAT check at dstnat+10.
    chain({ name: 'filter-input', type: 'filter', hook: 'input', priority: '-110', policy: 'accept' }, [
      'ct state new jump nodeport-endpoints-check',
      'ct state new jump service-endpoints-check',
    ]),
    chain({ name: 'filter-forward', type: 'filter', hook: 'forward', priority: '-110', policy: 'accept' }, [
      'ct state new jump service-endpoints-check',
      'ct state new jump cluster-ips-check',
    ]),
    chain({ name: 'filter-output', type: 'filter', hook: 'output', priority: '-110', policy: 'accept' }, ['ct state new jump service-endpoints-check']),
    chain({ name: 'filter-output-post-dnat', type: 'filter', hook: 'output', priority: '-90', policy: 'accept' }, ['ct state new jump cluster-ips-check']),
    chain({ name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: '-100', policy: 'accept' }, ['jump services']),
    chain({ name: 'nat-output', type: 'nat', hook: 'output', priority: '-100', policy: 'accept' }, ['jump services']),
    chain({ name: 'nat-postrouting', type: 'nat', hook: 'postrouting', priority: '100', policy: 'accept' }, ['jump masquerading']),
    chain({ name: 'services' }, [
      `${f.addr} daddr . meta l4proto . th dport vmap @${SERVICE_IPS_MAP}`,
      `${nodePortMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS_MAP}`,
    ]),
    chain({ name: 'service-endpoints-check' }, [`${f.addr} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES_MAP}`]),
    chain({ name: 'nodeport-endpoints-check' }, [`${nodePortMatch} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS_MAP}`]),
    // A ClusterIP on a port no Service defines: refused, not left to time out (still the ClusterIP after DNAT).
    // TCP gets a reset: ICMP errors are rate-limited per destination (about 6 at once, then one a
    // second), so a client retrying a Service without endpoints would wait for retransmits.
    chain({ name: 'cluster-ips-check' }, [`${f.addr} daddr @${CLUSTER_IPS_SET} meta l4proto tcp reject with tcp reset`, `${f.addr} daddr @${CLUSTER_IPS_SET} reject`]),
    chain({ name: REJECT_CHAIN }, ['meta l4proto tcp reject with tcp reset', 'reject']),
    chain({ name: MARK_MASQ_CHAIN }, [`meta mark set meta mark or ${MASQUERADE_MARK}`]),
    chain({ name: 'masquerading' }, [
      `ct status dnat ${f.addr} saddr . ${f.addr} daddr @${HAIRPIN_SET} masquerade fully-random`,
      `meta mark and ${MASQUERADE_MARK} == 0 return`,
      `meta mark set meta mark xor ${MASQUERADE_MARK}`,
      'masquerade fully-random',
    ]),
  ]);
  // Why shared: the kernel walks every rule bound to a map for each element added to it (and each
  // bind walks the other bindings), so a lookup rule per Service made a 10k full sync take 45 s.
  for (const p of PROTOCOLS) {
    for (const offset of [0, LOCAL_SLOT_OFFSET]) {
      for (let n = 1; n <= SHARED_DISPATCH_MAX; n++) chains.set(dispatchChain(p, n, offset), { spec: { name: dispatchChain(p, n, offset) }, rules: dispatchRules(f.addr, p, n, offset) });
    }
  }
  return { chains, sets, elements };
}

function nodePortDestination(options: RulesetOptions): string {
  const f = FAMILIES[options.family];
  if (options.nodePortCIDRs === undefined) return `fib daddr type local ${f.addr} daddr != ${f.loopback}`;
  return `fib daddr type local ${f.addr} daddr @${NODEPORT_CIDRS_SET}`;
}

/** Chain-name base: kube-proxy's `prefix-HASH-ns/name/proto/port`, cut to fit nft's name limit. */
function chainName(prefix: string, id: string, readable: string): string {
  return `${prefix}-${hash8(id)}-${readable}`.slice(0, 200);
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * 8 base32 characters (40 bits) of FNV-1a over the id: a short, stable, unique-enough prefix that
 * keeps names distinct when the readable part is cut. Not cryptographic (nothing here is secret);
 * sha256 was a third of a full sync's CPU at 10k Services.
 */
function hash8(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  h1 >>>= 0;
  h2 >>>= 0;
  let out = '';
  for (let i = 0; i < 6; i++) out += BASE32[(h1 >>> (i * 5)) & 31];
  for (let i = 0; i < 2; i++) out += BASE32[(h2 >>> (i * 5)) & 31];
  return out;
}

function readablePort(info: ServicePortInfo): string {
  return `${info.namespace}/${info.name}/${info.protocol.toLowerCase()}/${info.portName || `p${info.port}`}`;
}

/** nft names allow no `:`; IPv6 endpoints get dots, as kube-proxy writes them. */
function readableEndpoint(endpoint: ServiceEndpoint): string {
  return `${endpoint.address.replace(/:/g, '.')}/${endpoint.port}`;
}

/**
 * One Service's chains, affinity sets and map elements for the family. `endpoints` maps each port
 * id to every endpoint of that port (all conditions, this family), as resolveSliceEndpoints gives.
 */
export function buildServiceFragment(
  ports: readonly ServicePortInfo[],
  endpoints: ReadonlyMap<string, readonly ServiceEndpoint[]>,
  options: RulesetOptions,
): ServiceFragment {
  const f = FAMILIES[options.family];
  const chains = new Map<string, ChainState>();
  const sets = new Map<string, NftSetSpec>();
  const elements: ElementState[] = [];
  const outcomes: PortOutcome[] = [];
  const clusterIPs = new Set<string>();
  const hairpin = new Set<string>();
  const podCIDRs = options.clusterCIDRs.length > 0 ? `@${CLUSTER_CIDRS_SET}` : undefined;

  for (const info of ports) {
    const proto = info.protocol.toLowerCase();
    const all = endpoints.get(info.id) ?? [];
    const clusterEps = selectUsableEndpoints(all);
    const localAll = all.filter((e) => e.nodeName === options.nodeName);
    const localEps = selectUsableEndpoints(localAll);
    const hasEndpoints = clusterEps.length > 0;
    const external = info.nodePort !== undefined || info.externalIPs.length > 0 || info.loadBalancerIPs.length > 0;
    const readable = readablePort(info);
    const serviceChain = chainName('service', info.id, readable);
    const localChain = chainName('local', info.id, readable);
    const externalChain = chainName('external', info.id, readable);
    const internalChain = info.internalLocal ? localChain : serviceChain;
    const internalEps = info.internalLocal ? localEps : clusterEps;
    clusterIPs.add(info.clusterIP);
    outcomes.push({
      info,
      endpointIPs: [...new Set([...clusterEps, ...localEps].map((e) => e.address))].sort(),
      localReady: localAll.filter((e) => e.ready).length,
      hasEndpoints,
    });

    // Entry points: the ClusterIP goes to the internal chain; externalIPs, LoadBalancer IPs and the
    // NodePort go to the external chain. Without endpoints they are refused in the filter chains.
    const vip = `${info.clusterIP} . ${proto} . ${info.port}`;
    if (internalEps.length > 0) elements.push({ set: SERVICE_IPS_MAP, key: vip, value: `goto ${internalChain}` });
    else elements.push({ set: NO_ENDPOINT_SERVICES_MAP, key: vip, value: hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}` });
    for (const ip of [...info.externalIPs, ...info.loadBalancerIPs]) {
      const key = `${ip} . ${proto} . ${info.port}`;
      if (hasEndpoints) elements.push({ set: SERVICE_IPS_MAP, key, value: `goto ${externalChain}` });
      else elements.push({ set: NO_ENDPOINT_SERVICES_MAP, key, value: `goto ${REJECT_CHAIN}` });
    }
    if (info.nodePort !== undefined) {
      const key = `${proto} . ${info.nodePort}`;
      if (hasEndpoints) elements.push({ set: SERVICE_NODEPORTS_MAP, key, value: `goto ${externalChain}` });
      else elements.push({ set: NO_ENDPOINT_NODEPORTS_MAP, key, value: `goto ${REJECT_CHAIN}` });
    }
    if (!hasEndpoints) continue;

    // The timeout is part of the identity: a set's timeout can't change in place while rules use it.
    const affinitySet = (endpoint: ServiceEndpoint) => chainName('affinity', `${info.id}__${endpoint.key}@${info.affinitySeconds}`, `${readable}__${readableEndpoint(endpoint)}`);
    // Off-cluster sources reaching the ClusterIP are masqueraded so replies come back through here.
    const masqueradeRule = podCIDRs !== undefined ? [`${f.addr} daddr ${info.clusterIP} meta l4proto ${proto} th dport ${info.port} ${f.addr} saddr != ${podCIDRs} jump ${MARK_MASQ_CHAIN}`] : [];
    // Endpoint choice without affinity: the Service chain goes to the shared chain for its endpoint
    // count, which picks a slot (`numgen random mod n`, uniform) and looks the DNAT target up in a
    // map keyed by the address the packet came to (or the NodePort) and the slot. An endpoint change
    // with the same count then rewrites map elements only: no rule is added, so the kernel skips the
    // table-wide validation walk that every new DNAT or jump rule costs (about 40 ms at 10k Services
    // with a rule per endpoint, kernel 6.18), and nft parses no rules.
    // (kube-proxy's `numgen … vmap { … }` is an anonymous kernel set per Service, found by walking
    // a list: 3,000 Services took 9.7 s, not 3.4; a named map per Service is as slow.)
    const entryAddresses = [info.clusterIP, ...info.externalIPs, ...info.loadBalancerIPs];
    const mapDispatch = (eps: readonly ServiceEndpoint[], offset: number): string[] => {
      eps.forEach((e, i) => {
        const value = `${e.address} . ${e.port}`;
        for (const a of entryAddresses) elements.push({ set: endpointsMap(proto), key: `${a} . ${proto} . ${info.port} . ${offset + i}`, value });
        if (info.nodePort !== undefined) elements.push({ set: nodePortEndpointsMap(proto), key: `${proto} . ${info.nodePort} . ${offset + i}`, value });
      });
      if (eps.length <= SHARED_DISPATCH_MAX) return [`goto ${dispatchChain(proto, eps.length, offset)}`];
      return dispatchRules(f.addr, proto, eps.length, offset);
    };
    // With affinity: a rule per endpoint (the sticky lookups must precede the pick), DNAT straight
    // from the service chain. Endpoint i of n is taken with probability 1/(n-i), the last always.
    const dnat = (e: ServiceEndpoint) => {
      const target = options.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
      const remember = info.affinitySeconds !== undefined ? `update @${affinitySet(e)} { ${f.addr} saddr } ` : '';
      return `meta l4proto ${proto} ${remember}dnat to ${target}`;
    };
    const dispatch = (eps: readonly ServiceEndpoint[], offset: number): string[] => {
      if (eps.length === 0) return ['drop']; // Local policy, no local endpoint
      if (info.affinitySeconds === undefined) return mapDispatch(eps, offset);
      const sticky = eps.map((e) => `${f.addr} saddr @${affinitySet(e)} ${dnat(e)}`);
      const pick = eps.map((e, i) => (i === eps.length - 1 ? dnat(e) : `numgen random mod ${eps.length - i} 0 ${dnat(e)}`));
      return [...sticky, ...pick];
    };

    const needService = !info.internalLocal || external;
    const needLocal = info.internalLocal || (external && info.externalLocal);
    if (needService) {
      chains.set(serviceChain, { spec: { name: serviceChain }, rules: [...(info.internalLocal ? [] : masqueradeRule), ...dispatch(clusterEps, 0)] });
    }
    if (needLocal) {
      chains.set(localChain, { spec: { name: localChain }, rules: [...(info.internalLocal ? masqueradeRule : []), ...dispatch(localEps, LOCAL_SLOT_OFFSET)] });
    }
    if (external) {
      const rules = info.externalLocal
        ? [
            // Pods reaching a Local-policy Service by its external address go cluster-wide
            // ("short-circuit"); the node itself is masqueraded; everyone else keeps its source IP.
            ...(podCIDRs !== undefined ? [`${f.addr} saddr ${podCIDRs} goto ${serviceChain}`] : []),
            `fib saddr type local jump ${MARK_MASQ_CHAIN}`,
            `fib saddr type local goto ${serviceChain}`,
            `goto ${localChain}`,
          ]
        : [`jump ${MARK_MASQ_CHAIN}`, `goto ${serviceChain}`];
      chains.set(externalChain, { spec: { name: externalChain }, rules });
    }
    for (const e of [...(needService ? clusterEps : []), ...(needLocal ? localEps : [])]) {
      hairpin.add(e.address);
      if (info.affinitySeconds === undefined) continue;
      const set = affinitySet(e);
      sets.set(set, { name: set, type: f.addrType, flags: ['dynamic', 'timeout'], timeoutSeconds: info.affinitySeconds });
    }
  }
  for (const ip of [...clusterIPs].sort()) elements.push({ set: CLUSTER_IPS_SET, key: ip });
  return { chains, sets, elements, ports: outcomes, hairpin: [...hairpin].sort() };
}
