// IngressBackend → BackendRef. Only Service backends with a port are supported.
import type { IngressBackend } from '../model/k8s-objects.js';
import type { BackendRef } from '../model/route-model.js';

export type BackendParseResult =
  | { readonly ok: true; readonly backend: BackendRef }
  | { readonly ok: false; readonly reason: string };

/** `namespace/service/port`, the port as written (number or name). */
export function backendKey(namespace: string, service: string, port: number | string): string {
  return `${namespace}/${service}/${port}`;
}

export function parseIngressBackend(backend: IngressBackend | undefined, namespace: string): BackendParseResult {
  if (backend === undefined) return { ok: false, reason: 'backend is missing' };
  if (backend.resource !== undefined) {
    return { ok: false, reason: `resource backends (${backend.resource.kind}) are not supported` };
  }
  const service = backend.service;
  if (service === undefined || !service.name) return { ok: false, reason: 'backend names no Service' };
  const number = service.port?.number;
  const name = service.port?.name;
  let port: number | string;
  if (number !== undefined) {
    if (!Number.isInteger(number) || number < 1 || number > 65535) {
      return { ok: false, reason: `Service port ${number} is not an integer in 1-65535` };
    }
    port = number;
  } else if (name) {
    port = name;
  } else {
    return { ok: false, reason: `Service ${service.name} backend has no port number or name` };
  }
  return {
    ok: true,
    backend: { key: backendKey(namespace, service.name, port), namespace, service: service.name, port },
  };
}
