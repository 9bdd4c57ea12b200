// Endpoint problems (Service missing, port unknown, no endpoints) as diagnostics on the Ingresses that
// route to the backend, so they reach the same logs and Events as the Ingress's own problems.
import type { BackendEndpoints, Diagnostic, RouteModel } from '../model/route-model.js';
import { compareStrings } from '../lib/compare.js';

export function compileBackendDiagnostics(model: RouteModel, endpoints: ReadonlyMap<string, BackendEndpoints>): Diagnostic[] {
  const users = new Map<string, Set<string>>();
  const use = (backend: string, ingress: string): void => {
    let set = users.get(backend);
    if (set === undefined) users.set(backend, (set = new Set()));
    set.add(ingress);
  };
  for (const vhost of model.virtualHosts) for (const route of vhost.routes) use(route.backend.key, route.ingress);
  for (const route of model.hostless) use(route.backend.key, route.ingress);
  if (model.defaultBackend) use(model.defaultBackend.backend.key, model.defaultBackend.ingress);

  const diagnostics: Diagnostic[] = [];
  for (const [key, entry] of endpoints) {
    if (entry.problem === undefined) continue;
    for (const ingress of [...(users.get(key) ?? [])].sort(compareStrings)) {
      const [namespace = '', name = ''] = ingress.split('/');
      diagnostics.push({
        severity: 'warning',
        code: entry.problem.code,
        object: { kind: 'Ingress', namespace, name },
        message: `backend ${entry.backend.service}:${entry.backend.port}: ${entry.problem.message}; requests to it get 503`,
      });
    }
  }
  return diagnostics;
}
