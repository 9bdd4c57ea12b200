// EndpointSlice → endpoints for one Service port (discovery.k8s.io/v1 semantics, as kube-proxy's
// endpointslicecache reads them). Shared by the ingress compiler and the service proxy.
import { compareStrings } from '../lib/compare.js';
import type { EndpointSlice } from '../model/k8s-objects.js';
import type { Endpoint } from '../model/route-model.js';

/** Label linking an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** EndpointSlices by namespace, then by Service name; each group sorted by slice name. */
export type SliceIndex = ReadonlyMap<string, ReadonlyMap<string, readonly EndpointSlice[]>>;

/** An endpoint with what the service proxy needs beyond the ingress data plane. */
export interface ServiceEndpoint extends Endpoint {
  /** Node the endpoint runs on (decides "local" for the Local traffic policies). */
  readonly nodeName?: string;
}

export type AddressType = 'IPv4' | 'IPv6';

// Nested maps: no `namespace/service` key strings to build per slice or per lookup.
export function indexSlicesByService(slices: Iterable<EndpointSlice> | ReadonlyMap<string, EndpointSlice>): SliceIndex {
  const index = new Map<string, Map<string, EndpointSlice[]>>();
  const values = slices instanceof Map ? slices.values() : (slices as Iterable<EndpointSlice>);
  for (const slice of values) {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined) continue;
    const namespace = slice.metadata.namespace ?? 'default';
    let byService = index.get(namespace);
    if (byService === undefined) {
      byService = new Map();
      index.set(namespace, byService);
    }
    const group = byService.get(service);
    if (group === undefined) byService.set(service, [slice]);
    else group.push(slice);
  }
  // A fixed order makes deduplication (first ready copy wins) independent of the snapshot's order.
  for (const byService of index.values()) {
    for (const group of byService.values()) {
      if (group.length > 1) group.sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
    }
  }
  return index;
}

export interface ResolveOptions {
  /** The Service port's name (`''`/undefined = unnamed): slices match ports by name. */
  portName: string | undefined;
  /** Only slices of this address type; both IPv4 and IPv6 when undefined (FQDN never). */
  addressType?: AddressType;
  /** Duplicates across slices: a copy on this node beats one elsewhere (kube-proxy's rule). */
  nodeName?: string;
}

/**
 * Every endpoint of a Service port whatever its conditions, deduplicated by `ip:port` (a ready copy
 * beats a not-ready one, then a local copy a remote one) and sorted by key. Only `addresses[0]` is
 * used: the API says the addresses of one endpoint are fungible, and kube-proxy reads only the first.
 * A nil or 0 port never matches.
 */
export function resolveSliceEndpoints(slices: readonly EndpointSlice[], options: ResolveOptions): ServiceEndpoint[] {
  const wanted = options.portName ?? '';
  const byKey = new Map<string, ServiceEndpoint>();
  for (const slice of slices) {
    const ipv6 = slice.addressType === 'IPv6';
    if (!ipv6 && slice.addressType !== 'IPv4') continue; // FQDN slices name no address to dial
    if (options.addressType !== undefined && slice.addressType !== options.addressType) continue;
    const port = slice.ports?.find((p) => (p.name ?? '') === wanted)?.port;
    if (port === undefined || port <= 0 || port > 65535) continue;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0];
      if (address === undefined) continue;
      const ready = ep.conditions?.ready !== false; // nil means ready (API contract)
      const serving = ep.conditions?.serving ?? ready;
      const terminating = ep.conditions?.terminating ?? false;
      const key = ipv6 ? `[${address}]:${port}` : `${address}:${port}`;
      const seen = byKey.get(key);
      if (seen !== undefined) {
        if (seen.ready && !ready) continue;
        const local = options.nodeName !== undefined && ep.nodeName === options.nodeName;
        if (seen.ready === ready && !(local && seen.nodeName !== options.nodeName)) continue;
      }
      const podName = ep.targetRef?.kind === 'Pod' ? ep.targetRef.name : undefined;
      byKey.set(key, {
        key,
        address,
        port,
        ready,
        serving,
        terminating,
        ...(podName !== undefined && { podName }),
        ...(ep.nodeName !== undefined && { nodeName: ep.nodeName }),
      });
    }
  }
  return [...byKey.values()].sort((a, b) => compareStrings(a.key, b.key));
}

/**
 * The endpoints traffic may go to: the ready ones, else (all pods shutting down) the
 * serving+terminating ones, so connections drain instead of failing. Keeps the input order.
 */
export function selectUsableEndpoints<E extends Endpoint>(endpoints: readonly E[]): E[] {
  const ready = endpoints.filter((e) => e.ready);
  return ready.length > 0 ? ready : endpoints.filter((e) => e.serving && e.terminating);
}

/**
 * Endpoints traffic may go to for the Service port named `portName`: selectUsableEndpoints over
 * resolveSliceEndpoints, sorted by key. Node names are dropped: the ingress data plane dials any.
 */
export function compileSliceEndpoints(slices: readonly EndpointSlice[], portName: string | undefined): Endpoint[] {
  return selectUsableEndpoints(resolveSliceEndpoints(slices, { portName })).map(({ nodeName: _node, ...endpoint }) => endpoint);
}
