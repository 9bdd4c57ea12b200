// service-upstream: "true": the Ingress's paths go to their Service's ClusterIP and port (kube-proxy
// or the service proxy picks the pod) instead of the pod endpoints. The route's BackendRef is a
// separate one (`…#service-upstream`), so other Ingresses of the same Service keep its endpoints.
import type { BackendRef } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const SERVICE_UPSTREAM = `${NGINX_PREFIX}service-upstream`;
export const SERVICE_UPSTREAM_SUFFIX = '#service-upstream';

export function parseServiceUpstream(raw: Annotations, problems: AnnotationProblem[]): boolean {
  return readBool(raw, SERVICE_UPSTREAM, false, problems);
}

/** The BackendRef of `backend` sent to the Service's ClusterIP. */
export function serviceUpstreamRef(backend: BackendRef): BackendRef {
  return Object.freeze({ ...backend, key: `${backend.key}${SERVICE_UPSTREAM_SUFFIX}`, serviceUpstream: true as const });
}
