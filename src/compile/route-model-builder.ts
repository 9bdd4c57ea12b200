// Merges compiled Ingresses into one RouteModel. Ingresses must be added oldest first: the first
// claim on a (host, path, pathType) or on the defaultBackend wins, and later ones get a warning.
import type {
  BackendRef,
  CanaryPolicy,
  DefaultRoute,
  Diagnostic,
  Route,
  RouteModel,
  TlsHost,
  VirtualHost,
} from '../model/route-model.js';
import type { IngressAnnotations } from './annotations/index.js';
import { compareStrings } from '../lib/compare.js';
import { compilePathRegex } from '../lib/path-regex.js';
import type { CompiledIngress } from './ingress.js';

interface Claim {
  readonly route: Route;
  readonly field: string;
}

// Hostless rules live under the empty host: a valid rule host is never empty.
const HOSTLESS = '';

export class RouteModelBuilder {
  readonly #hosts = new Map<string, Map<string, Claim>>();
  readonly #owned: string[] = [];
  readonly #diagnostics: Diagnostic[] = [];
  #defaultBackend: DefaultRoute | undefined;
  readonly #tls = new Map<string, TlsHost>();
  readonly #annotations = new Map<string, IngressAnnotations>();
  /** Ingresses that set server-alias or from-to-www-redirect, oldest first, with their rule hosts. */
  readonly #hostAliasing: Array<{ readonly ingress: CompiledIngress; readonly hosts: readonly string[] }> = [];

  /** Canary Ingresses' paths, attached to the main routes with the same host and path at build. */
  readonly #canaries: Array<{ readonly ingress: CompiledIngress; readonly candidate: CompiledIngress['routes'][number] }> = [];

  add(ingress: CompiledIngress): void {
    this.#owned.push(ingress.key);
    if (ingress.annotations.canary !== undefined) {
      // A canary shares host and path with its main Ingress by design: it claims nothing (no
      // conflict), and its TLS and defaultBackend are the main Ingress's business.
      this.#diagnostics.push(...ingress.diagnostics);
      for (const candidate of ingress.routes) this.#canaries.push({ ingress, candidate });
      return;
    }
    if (ingress.annotations.serverAliases.length > 0 || ingress.annotations.fromToWwwRedirect) {
      const hosts = [...new Set(ingress.routes.map((r) => r.host).filter((h): h is string => h !== undefined))].sort(compareStrings);
      this.#hostAliasing.push({ ingress, hosts });
    }
    this.#diagnostics.push(...ingress.diagnostics);
    this.#annotations.set(ingress.key, ingress.annotations);

    for (const candidate of ingress.tls) {
      const winner = this.#tls.get(candidate.host);
      if (winner === undefined) {
        this.#tls.set(candidate.host, { host: candidate.host, ingress: ingress.key, ...(candidate.secret !== undefined && { secret: candidate.secret }) });
      } else if (winner.secret !== candidate.secret) {
        this.#diagnostics.push({
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_TLS_CONFLICT',
          object: ingress.object,
          field: candidate.field,
          message: `TLS for host ${candidate.host} ignored: Ingress ${winner.ingress}${winner.ingress === ingress.key ? '' : ' (older)'} already serves it with ${winner.secret === undefined ? 'the default certificate' : `Secret ${winner.secret}`}`,
        });
      }
    }

    if (ingress.defaultBackend !== undefined) {
      const winner = this.#defaultBackend;
      if (winner === undefined) {
        this.#defaultBackend = { backend: ingress.defaultBackend, ingress: ingress.key };
      } else {
        this.#diagnostics.push({
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_DEFAULT_BACKEND_CONFLICT',
          object: ingress.object,
          field: 'spec.defaultBackend',
          message: `defaultBackend ignored: Ingress ${winner.ingress} is older and sets it too`,
        });
      }
    }

    for (const candidate of ingress.routes) {
      const hostKey = candidate.host ?? HOSTLESS;
      let routes = this.#hosts.get(hostKey);
      if (routes === undefined) {
        routes = new Map();
        this.#hosts.set(hostKey, routes);
      }
      const winner = routes.get(candidate.key);
      if (winner === undefined) {
        routes.set(candidate.key, { route: candidate.route, field: candidate.field });
        continue;
      }
      const where = candidate.host === undefined ? 'hostless rules' : `host ${candidate.host}`;
      const by =
        winner.route.ingress === ingress.key
          ? `${winner.field} of the same Ingress`
          : `Ingress ${winner.route.ingress} (older)`;
      this.#diagnostics.push({
        severity: 'warning',
        code: 'PORTICO_ERR_INGRESS_CONFLICT',
        object: ingress.object,
        field: `${candidate.field}.path`,
        message: `${candidate.route.pathType} path ${candidate.route.path} on ${where} ignored: already defined by ${by}`,
      });
    }
  }

  build(): RouteModel {
    const virtualHosts: VirtualHost[] = [];
    let hostless: Route[] = [];
    const backends = new Map<string, BackendRef>();
    const canaryOf = this.#attachCanaries();
    for (const canary of canaryOf.values()) backends.set(canary.backend.key, canary.backend);
    let hostlessRegex = false;
    for (const [host, claims] of this.#hosts) {
      // ingress-nginx: one use-regex / rewrite-target Ingress on a host puts all its paths in regex mode.
      const regex = [...claims.values()].some((c) => this.#annotations.get(c.route.ingress)?.regex === true);
      const kept = regex ? [...claims.values()].filter((c) => this.#isUsableRegex(c, host)) : [...claims.values()];
      const routes = kept.map((c) => this.#withPolicies(host, c.route, canaryOf.get(c))).sort(regex ? compareRegexRoutes : compareRoutes);
      for (const route of routes) {
        backends.set(route.backend.key, route.backend);
        const fallback = route.policies?.defaultBackend;
        if (fallback !== undefined) backends.set(fallback.key, fallback);
      }
      if (host === HOSTLESS) {
        hostless = routes;
        hostlessRegex = regex;
      } else virtualHosts.push(regex ? { host, routes, regex: true } : { host, routes });
    }
    this.#addAliases(virtualHosts);
    virtualHosts.sort((a, b) => compareStrings(a.host, b.host));
    if (this.#defaultBackend !== undefined) {
      backends.set(this.#defaultBackend.backend.key, this.#defaultBackend.backend);
    }
    const model: RouteModel = {
      virtualHosts,
      hostless,
      ...(hostlessRegex && { hostlessRegex: true as const }),
      backends: [...backends.values()].sort((a, b) => compareStrings(a.key, b.key)),
      tls: [...this.#tls.values()].sort((a, b) => compareStrings(a.host, b.host)),
      ownedIngresses: [...this.#owned].sort(compareStrings),
      diagnostics: [...this.#diagnostics].sort(compareDiagnostics),
    };
    return this.#defaultBackend === undefined ? model : { ...model, defaultBackend: this.#defaultBackend };
  }

  /**
   * The owning Ingress's policies. ssl-redirect applies where the host has TLS; force-ssl-redirect
   * everywhere (ingress-nginx).
   */
  #withPolicies(host: string, route: Route, canary: CanaryPolicy | undefined): Route {
    const annotations = this.#annotations.get(route.ingress);
    if (annotations === undefined) return route;
    const redirect = annotations.forceSslRedirect || (annotations.sslRedirect && host !== HOSTLESS && this.#hasTls(host));
    const policies = canary === undefined ? annotations.policies : Object.freeze({ ...annotations.policies, canary });
    if (!redirect && policies === undefined) return route;
    return { ...route, ...(redirect && { sslRedirect: true }), ...(policies && { policies }) };
  }

  /** Each canary path onto the main route with the same host and path (one canary per route, the oldest). */
  #attachCanaries(): Map<Claim, CanaryPolicy> {
    const attached = new Map<Claim, CanaryPolicy>();
    for (const { ingress, candidate } of this.#canaries) {
      const where = candidate.host === undefined ? 'hostless rules' : `host ${candidate.host}`;
      const main = this.#hosts.get(candidate.host ?? HOSTLESS)?.get(candidate.key);
      const taken = main === undefined ? undefined : attached.get(main);
      if (main === undefined || taken !== undefined) {
        this.#diagnostics.push({
          severity: 'warning',
          code: 'PORTICO_ERR_INGRESS_CANARY_UNMATCHED',
          object: ingress.object,
          field: `${candidate.field}.path`,
          message: main === undefined
            ? `canary path ${candidate.route.path} on ${where} ignored: no main Ingress serves that host and path`
            : `canary path ${candidate.route.path} on ${where} ignored: Ingress ${taken!.ingress} (older) is already its canary`,
        });
        continue;
      }
      const rules = ingress.annotations.canary!;
      attached.set(main, Object.freeze({ backend: candidate.route.backend, ingress: ingress.key, ...rules }));
    }
    return attached;
  }

  /**
   * server-alias: each alias serves its host's routes (every Ingress's, as nginx adds a server_name
   * to the server). from-to-www-redirect: the `www.` / bare counterpart of each host answers 308 to
   * it. A name that is a host of its own is left alone (an alias with a warning), and the oldest
   * Ingress's claim on a name wins.
   */
  #addAliases(virtualHosts: VirtualHost[]): void {
    if (this.#hostAliasing.length === 0) return;
    const byHost = new Map(virtualHosts.map((v) => [v.host, v]));
    const real = new Set(byHost.keys());
    for (const { ingress, hosts } of this.#hostAliasing) {
      for (const host of hosts) {
        const vhost = byHost.get(host);
        if (vhost === undefined) continue;
        for (const alias of ingress.annotations.serverAliases) {
          if (real.has(alias)) {
            this.#diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_INGRESS_CONFLICT', object: ingress.object, field: 'metadata.annotations.nginx.ingress.kubernetes.io/server-alias', message: `server-alias ${alias} ignored: it is a host of its own` });
            continue;
          }
          if (byHost.has(alias)) continue;
          const aliased: VirtualHost = { ...vhost, host: alias };
          byHost.set(alias, aliased);
          virtualHosts.push(aliased);
        }
        if (!ingress.annotations.fromToWwwRedirect || host.startsWith('*.')) continue;
        const counterpart = host.startsWith('www.') ? host.slice(4) : `www.${host}`;
        const first = vhost.routes[0];
        if (byHost.has(counterpart) || first === undefined) continue;
        const redirect: VirtualHost = {
          host: counterpart,
          routes: [{ pathType: 'Prefix', path: '/', backend: first.backend, ingress: ingress.key, policies: Object.freeze({ redirect: Object.freeze({ url: `$scheme://${host}$request_uri`, status: 308 }) }) }],
        };
        byHost.set(counterpart, redirect);
        virtualHosts.push(redirect);
      }
    }
  }

  /** A literal path of another Ingress on a regex-mode host is used as an expression too; one that is not a usable expression is reported and dropped. */
  #isUsableRegex(claim: Claim, host: string): boolean {
    if (this.#annotations.get(claim.route.ingress)?.regex === true) return true; // validated when compiled
    const parsed = compilePathRegex(claim.route.path);
    if (parsed.ok) return true;
    const [namespace, name] = claim.route.ingress.split('/') as [string, string];
    this.#diagnostics.push({
      severity: 'error',
      code: 'PORTICO_ERR_INGRESS_PATH_INVALID',
      object: { kind: 'Ingress', namespace, name },
      field: `${claim.field}.path`,
      message: `path ${JSON.stringify(claim.route.path)} on ${host === HOSTLESS ? 'hostless rules' : `host ${host}`}, in regex mode because another Ingress there sets use-regex or rewrite-target, ${parsed.reason}; path skipped`,
    });
    return false;
  }

  #hasTls(host: string): boolean {
    if (this.#tls.has(host)) return true;
    const dot = host.indexOf('.');
    return !host.startsWith('*.') && dot > 0 && this.#tls.has(`*${host.slice(dot)}`);
  }
}

/** ingress-nginx's location order in regex mode: longest path first, then by path descending. */
function compareRegexRoutes(a: Route, b: Route): number {
  return b.path.length - a.path.length || compareStrings(b.path, a.path) || compareStrings(a.pathType, b.pathType);
}

function compareRoutes(a: Route, b: Route): number {
  return compareStrings(a.path, b.path) || compareStrings(a.pathType, b.pathType);
}

function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    compareStrings(a.object.kind, b.object.kind) ||
    compareStrings(a.object.namespace ?? '', b.object.namespace ?? '') ||
    compareStrings(a.object.name, b.object.name) ||
    compareStrings(a.field ?? '', b.field ?? '') ||
    compareStrings(a.code, b.code) ||
    compareStrings(a.message, b.message)
  );
}
