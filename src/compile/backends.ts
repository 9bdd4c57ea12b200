// The endpoint fast path: BackendRefs → endpoints, from Services and EndpointSlices only, so
// endpoint churn never rebuilds routes.
import type { ObjectSnapshot } from '../model/k8s-objects.js';
import type { BackendEndpoints, BackendRef } from '../model/route-model.js';
import { compileSliceEndpoints, indexSlicesByService } from '../endpoints/endpoint-slice.js';
import type { SliceIndex } from '../endpoints/endpoint-slice.js';
import { lookupServicePort } from './service.js';

/** Keyed by BackendRef.key, one entry per distinct input backend, in input order. */
export function compileBackends(
  snapshot: ObjectSnapshot,
  backends: readonly BackendRef[],
): Map<string, BackendEndpoints> {
  const result = new Map<string, BackendEndpoints>();
  let slices: SliceIndex | undefined;
  for (const backend of backends) {
    if (result.has(backend.key)) continue;
    const serviceKey = `${backend.namespace}/${backend.service}`;
    const service = snapshot.services.get(serviceKey);
    if (service === undefined) {
      result.set(backend.key, {
        backend,
        endpoints: [],
        problem: { code: 'PORTICO_ERR_BACKEND_SERVICE_MISSING', message: `Service ${serviceKey} not found` },
      });
      continue;
    }
    const port = lookupServicePort(service, backend.port);
    if (port === undefined) {
      const what = typeof backend.port === 'number' ? `port ${backend.port}` : backend.port === '*' ? 'port' : `port named ${JSON.stringify(backend.port)}`;
      result.set(backend.key, {
        backend,
        endpoints: [],
        problem: { code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: `Service ${serviceKey} has no TCP ${what}` },
      });
      continue;
    }
    // service-upstream: the ClusterIP and Service port (a headless Service keeps its pod endpoints).
    const clusterIP = backend.serviceUpstream === true ? service.spec?.clusterIP : undefined;
    if (clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None') {
      const key = clusterIP.includes(':') ? `[${clusterIP}]:${port.port}` : `${clusterIP}:${port.port}`;
      result.set(backend.key, { backend, endpoints: [{ key, address: clusterIP, port: port.port, ready: true, serving: true, terminating: false }] });
      continue;
    }
    // Indexed lazily once per call: O(slices + backends), not O(slices × backends).
    slices ??= indexSlicesByService(snapshot.endpointSlices);
    const endpoints = compileSliceEndpoints(slices.get(backend.namespace)?.get(backend.service) ?? [], port.name);
    if (endpoints.length === 0) {
      result.set(backend.key, {
        backend,
        endpoints,
        problem: {
          code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS',
          message: `Service ${serviceKey} port ${port.name || port.port} has no ready or serving endpoints`,
        },
      });
      continue;
    }
    result.set(backend.key, { backend, endpoints });
  }
  return result;
}
