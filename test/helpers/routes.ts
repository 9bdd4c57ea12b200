// Expected-value builders for RouteModel assertions (the `want` side of compile/routing tests).
import type { BackendRef, Diagnostic, PathType, Route } from '../../src/model/route-model.js';
import type { ErrorCode } from '../../src/lib/errors.js';

/** `backendRef('default/web', 80)` → `{ key: 'default/web/80', namespace: 'default', service: 'web', port: 80 }`. */
export function backendRef(serviceKey: string, port: number | string): BackendRef {
  const [namespace, service] = serviceKey.includes('/') ? serviceKey.split('/') : ['default', serviceKey];
  return { key: `${namespace}/${service}/${port}`, namespace: namespace!, service: service!, port };
}

export function route(pathType: PathType, path: string, backend: BackendRef, ingress: string): Route {
  return { pathType, path, backend, ingress };
}

export const prefixRoute = (path: string, backend: BackendRef, ingress: string): Route =>
  route('Prefix', path, backend, ingress);
export const exactRoute = (path: string, backend: BackendRef, ingress: string): Route =>
  route('Exact', path, backend, ingress);

/** A partial diagnostic for `expect.objectContaining` / `toMatchObject`: code, Ingress key and field. */
export function ingressDiagnostic(
  code: ErrorCode,
  ingressKey: string,
  field?: string,
): Pick<Diagnostic, 'code' | 'object'> & { field?: string } {
  const [namespace, name] = ingressKey.split('/');
  return { code, object: { kind: 'Ingress', namespace: namespace!, name: name! }, ...(field === undefined ? {} : { field }) };
}
