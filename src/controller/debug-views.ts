// The admin port's /debug/routes and /debug/backends (what `kubectl ingress-nginx backends` shows):
// plain JSON built from the serving model and the registry, sorted like the model itself.
import type { BackendEndpoints, BackendRef, Route, RouteModel } from '../model/route-model.js';

export interface RouteRow {
  /** null: a rule without a host (applies to every host) or the defaultBackend. */
  readonly host: string | null;
  /** null for the defaultBackend. */
  readonly path: string | null;
  readonly pathType: Route['pathType'] | 'Default';
  /** `namespace/service/port`. */
  readonly backend: string;
  readonly ingress: string;
  /** Per-route policy: the https redirect, and the certificate the host is served with. */
  readonly policy: { readonly sslRedirect: boolean; readonly tlsSecret?: string };
}

/** Every route as the model holds it (hosts sorted, routes sorted), then hostless rules, then the defaultBackend. */
export function buildRoutesView(model: RouteModel | undefined): { readonly routes: readonly RouteRow[] } {
  if (!model) return { routes: [] };
  const tlsSecret = new Map(model.tls.map((t) => [t.host, t.secret ?? '(default certificate)']));
  const row = (host: string | null, route: Route): RouteRow => {
    const secret = host === null ? undefined : tlsSecret.get(host);
    return {
      host,
      path: route.path,
      pathType: route.pathType,
      backend: route.backend.key,
      ingress: route.ingress,
      policy: { sslRedirect: route.sslRedirect === true, ...(secret !== undefined && { tlsSecret: secret }) },
    };
  };
  const routes: RouteRow[] = [
    ...model.virtualHosts.flatMap((vhost) => vhost.routes.map((route) => row(vhost.host, route))),
    ...model.hostless.map((route) => row(null, route)),
  ];
  if (model.defaultBackend) {
    routes.push({ host: null, path: null, pathType: 'Default', backend: model.defaultBackend.backend.key, ingress: model.defaultBackend.ingress, policy: { sslRedirect: false } });
  }
  return { routes };
}

export interface BackendRow {
  readonly backend: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: number | string;
  /** Why nothing can be sent to it (Service missing, port unknown, no endpoints). */
  readonly problem?: { readonly code: string; readonly message: string };
  readonly endpoints: ReadonlyArray<{
    readonly address: string;
    readonly port: number;
    readonly state: 'ready' | 'serving-terminating' | 'not-ready';
    readonly pod?: string;
  }>;
}

/** Every backend the routes use, with the endpoints the balancer picks from and their state. */
export function buildBackendsView(
  model: RouteModel | undefined,
  current: (key: string) => BackendEndpoints | undefined,
): { readonly backends: readonly BackendRow[] } {
  const backends = (model?.backends ?? []).map((ref: BackendRef): BackendRow => {
    const resolved = current(ref.key);
    return {
      backend: ref.key,
      namespace: ref.namespace,
      service: ref.service,
      port: ref.port,
      ...(resolved?.problem && { problem: { code: resolved.problem.code, message: resolved.problem.message } }),
      endpoints: (resolved?.endpoints ?? []).map((endpoint) => ({
        address: endpoint.address,
        port: endpoint.port,
        state: endpoint.ready ? 'ready' : endpoint.serving && endpoint.terminating ? 'serving-terminating' : 'not-ready',
        ...(endpoint.podName !== undefined && { pod: endpoint.podName }),
      })),
    };
  });
  return { backends };
}
