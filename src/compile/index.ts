// The pure compiler: ObjectSnapshot → RouteModel (routes) and → BackendEndpoints (endpoint fast path).
// No I/O, timers or logging: problems come back as Diagnostics.
import { buildBasicAuthPolicy } from './auth-secrets.js';
import { buildUpstreamTlsPolicy } from './proxy-ssl-secret.js';
import { PROXY_SSL_SECRET, PROXY_SSL_VERIFY } from './annotations/index.js';
import type { CompiledIngress } from './ingress.js';
import type { BasicAuthPolicy } from '../model/route-model.js';
import type { Ingress, ObjectSnapshot } from '../model/k8s-objects.js';
import { objectKey } from '../model/k8s-objects.js';
import type { BackendRef, HstsSettings, RouteModel } from '../model/route-model.js';
import { compileControllerConfigMap, hstsFromConfig } from './configmap.js';
import { globalDefaultBackend } from './annotations/default-backend.js';
import { compileClassSelection, isIngressOwned } from './ingress-class.js';
import { compileIngress } from './ingress.js';
import { compareStrings } from '../lib/compare.js';
import { RouteModelBuilder } from './route-model-builder.js';

export { compileBackends } from './backends.js';

export interface CompileOptions {
  /** IngressClass spec.controller value this controller answers to. */
  controllerClass: string;
  /** Value of the legacy `kubernetes.io/ingress.class` annotation this controller answers to. */
  ingressClass: string;
  /** Own Ingresses that name no class even when none of our IngressClasses is the default. */
  watchIngressWithoutClass: boolean;
  /** `*-snippet` annotations: refuse the Ingress (default) or serve it without them. */
  snippetAnnotations?: 'refuse' | 'ignore';
  /** --configmap `namespace/name`: ingress-nginx's controller ConfigMap, read from the snapshot. */
  configMap?: string;
  /** The --hsts* flags: what the ConfigMap's hsts* keys are merged over. */
  hsts?: HstsSettings | false;
  /** --default-backend-service `namespace/name`: serves requests no rule matches (unless an Ingress's spec.defaultBackend does) and the ConfigMap's custom-http-errors. */
  defaultBackendService?: string;
}

export const DEFAULT_COMPILE_OPTIONS: CompileOptions = Object.freeze({
  controllerClass: 'portico.dev/ingress-controller',
  ingressClass: 'portico',
  watchIngressWithoutClass: false,
});

/**
 * Reads IngressClasses, Ingresses and the Secrets auth annotations name (model.authSecrets), so
 * Service/EndpointSlice changes never need a route rebuild. Output is deterministic whatever the
 * snapshot's insertion order.
 */
export function compileRoutes(snapshot: ObjectSnapshot, options: CompileOptions): RouteModel {
  const selection = compileClassSelection(snapshot.ingressClasses, options);
  const owned = [...snapshot.ingresses.values()].filter((ing) => isIngressOwned(ing, selection));
  // Oldest first, so the first claim on a host/path or the defaultBackend is the winner.
  const ordered = owned.map((ing) => ({ ing, key: objectKey(ing), created: creationTime(ing) })).sort(
    (a, b) => a.created - b.created || compareStrings(a.key, b.key),
  );
  const builder = new RouteModelBuilder();
  // The ConfigMap beats the flags (Portico's defaults); an annotation beats the ConfigMap.
  const global = options.configMap === undefined ? undefined : compileControllerConfigMap(snapshot, options.configMap);
  const snippetAnnotations = global?.config.snippetAnnotations ?? options.snippetAnnotations;
  const defaultService = options.defaultBackendService === undefined ? undefined : globalDefaultBackend(options.defaultBackendService);
  const defaults = global === undefined && defaultService === undefined ? undefined : { ...global?.config, ...(defaultService !== undefined && { defaultBackend: defaultService }) };
  const ingressOptions = { ...(snippetAnnotations !== undefined && { snippetAnnotations }), ...(defaults !== undefined && { defaults }) };
  const authSecrets = new Set<string>();
  for (const { ing } of ordered) builder.add(withProxySsl(withBasicAuth(compileIngress(ing, ingressOptions), snapshot, authSecrets), snapshot, authSecrets));
  const built = withDefaultService(builder.build(), defaultService);
  const model = authSecrets.size === 0 ? built : { ...built, authSecrets: [...authSecrets].sort(compareStrings) };
  if (global === undefined) return model;
  const hsts = hstsFromConfig(global.config, options.hsts ?? { maxAge: 31_536_000, includeSubDomains: true, preload: false });
  const { http2, realIp, accessLogFields } = global.config;
  return { ...model, configMaps: global.configMaps, ...(hsts !== undefined && { hsts }), ...(http2 !== undefined && { http2 }), ...(realIp !== undefined && { realIp }), ...(accessLogFields !== undefined && { accessLogFields }), diagnostics: [...global.diagnostics, ...model.diagnostics] };
}

/** --default-backend-service: requests no rule matches go there, unless an Ingress's spec.defaultBackend claimed them (ingress-nginx: the same precedence). */
function withDefaultService(model: RouteModel, backend: BackendRef | undefined): RouteModel {
  if (backend === undefined || model.defaultBackend !== undefined) return model;
  const backends = model.backends.some((b) => b.key === backend.key) ? model.backends : [...model.backends, backend].sort((a, b) => compareStrings(a.key, b.key));
  return { ...model, backends, defaultBackend: { backend, ingress: '--default-backend-service' } };
}

const REFUSE_ALL: BasicAuthPolicy = Object.freeze({ realm: '', users: Object.freeze([]) });

/** auth-type: basic: the Secret read into the Ingress's basicAuth policy, its problems as diagnostics. */
function withBasicAuth(compiled: CompiledIngress, snapshot: ObjectSnapshot, authSecrets: Set<string>): CompiledIngress {
  const request = compiled.annotations.basicAuth;
  if (request === undefined) return compiled;
  let policy = REFUSE_ALL;
  const diagnostics = [...compiled.diagnostics];
  if (request !== 'refused') {
    authSecrets.add(request.secret);
    const built = buildBasicAuthPolicy(request, snapshot.secrets.get(request.secret));
    policy = built.policy;
    for (const problem of built.problems) diagnostics.push({ severity: 'error', code: 'PORTICO_ERR_INGRESS_AUTH_SECRET', object: compiled.object, field: 'metadata.annotations.nginx.ingress.kubernetes.io/auth-secret', message: problem });
  }
  const policies = Object.freeze({ ...compiled.annotations.policies, basicAuth: policy });
  return { ...compiled, annotations: { ...compiled.annotations, policies }, diagnostics };
}

/** proxy-ssl-secret: the Secret read into the Ingress's upstreamTls policy, its problems as diagnostics. */
function withProxySsl(compiled: CompiledIngress, snapshot: ObjectSnapshot, secrets: Set<string>): CompiledIngress {
  const request = compiled.annotations.proxySsl;
  const base = compiled.annotations.policies?.upstreamTls;
  if (request === undefined || base === undefined) return compiled;
  if (request.secret !== undefined) secrets.add(request.secret);
  const built = buildUpstreamTlsPolicy(base, request, request.secret === undefined ? undefined : snapshot.secrets.get(request.secret));
  const field = `metadata.annotations.${request.secret === undefined ? PROXY_SSL_VERIFY : PROXY_SSL_SECRET}`;
  const diagnostics = [...compiled.diagnostics, ...built.problems.map((message) => ({ severity: 'error' as const, code: 'PORTICO_ERR_INGRESS_PROXY_SSL_SECRET' as const, object: compiled.object, field, message }))];
  const policies = Object.freeze({ ...compiled.annotations.policies, upstreamTls: built.policy });
  return { ...compiled, annotations: { ...compiled.annotations, policies }, diagnostics };
}

/** Milliseconds since the epoch; a missing or unparsable timestamp sorts last. */
function creationTime(ingress: Ingress): number {
  const ts = ingress.metadata.creationTimestamp;
  const ms = ts === undefined ? Number.NaN : Date.parse(ts);
  return Number.isNaN(ms) ? Number.MAX_VALUE : ms;
}
