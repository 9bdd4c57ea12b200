// EndpointSlice → endpoints for one Service port (discovery.k8s.io/v1 semantics).
import type { EndpointSlice } from '../model/k8s-objects.js';
import type { Endpoint } from '../model/route-model.js';
import { compareStrings } from './compare.js';

/** Label linking an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** EndpointSlices by namespace, then by Service name; each group sorted by slice name. */
export type SliceIndex = ReadonlyMap<string, ReadonlyMap<string, readonly EndpointSlice[]>>;

// Nested maps: no `namespace/service` key strings to build per slice or per lookup.
export function indexSlicesByService(slices: ReadonlyMap<string, EndpointSlice>): SliceIndex {
  const index = new Map<string, Map<string, EndpointSlice[]>>();
  for (const slice of slices.values()) {
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

/**
 * Endpoints traffic may go to for the Service port named `portName` (`''`/undefined = unnamed):
 * the ready ones, else (all pods shutting down) the serving+terminating ones, so connections drain
 * instead of failing. Deduplicated by key (a ready copy beats a not-ready one) and sorted by key.
 */
export function compileSliceEndpoints(slices: readonly EndpointSlice[], portName: string | undefined): Endpoint[] {
  const wanted = portName ?? '';
  const byKey = new Map<string, Endpoint>();
  for (const slice of slices) {
    const ipv6 = slice.addressType === 'IPv6';
    if (!ipv6 && slice.addressType !== 'IPv4') continue; // FQDN slices name no address to dial
    const port = slice.ports?.find((p) => (p.name ?? '') === wanted)?.port;
    if (port === undefined) continue;
    for (const ep of slice.endpoints) {
      const ready = ep.conditions?.ready !== false; // nil means ready (API contract)
      const serving = ep.conditions?.serving ?? ready;
      const terminating = ep.conditions?.terminating ?? false;
      const podName = ep.targetRef?.kind === 'Pod' ? ep.targetRef.name : undefined;
      for (const address of ep.addresses) {
        const key = ipv6 ? `[${address}]:${port}` : `${address}:${port}`;
        const seen = byKey.get(key);
        if (seen !== undefined && (seen.ready || !ready)) continue;
        byKey.set(
          key,
          podName === undefined
            ? { key, address, port, ready, serving, terminating }
            : { key, address, port, ready, serving, terminating, podName },
        );
      }
    }
  }
  const ready: Endpoint[] = [];
  const draining: Endpoint[] = [];
  for (const endpoint of byKey.values()) {
    if (endpoint.ready) ready.push(endpoint);
    else if (ready.length === 0 && endpoint.serving && endpoint.terminating) draining.push(endpoint);
  }
  const usable = ready.length > 0 ? ready : draining;
  return usable.sort((a, b) => compareStrings(a.key, b.key));
}
