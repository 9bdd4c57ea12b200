// The Ingress processor: one owned Ingress → candidate routes, a candidate defaultBackend and
// diagnostics. Merging across Ingresses (conflicts) happens in route-model-builder.ts.
import type { Ingress } from '../model/k8s-objects.js';
import { objectKey } from '../model/k8s-objects.js';
import type { BackendRef, Diagnostic, DiagnosticObject, Route } from '../model/route-model.js';
import type { ErrorCode } from '../lib/errors.js';
import { parseIngressAnnotations, type IngressAnnotations } from './annotations/index.js';
import type { ResolvedControllerConfig } from './configmap.js';
import { parseIngressBackend } from './ingress-backend.js';
import { serviceUpstreamRef } from './annotations/service-upstream.js';
import { parseIngressHost } from './ingress-host.js';
import { parseIngressPath } from './ingress-path.js';

export interface RouteCandidate {
  /** Normalised host, or undefined for a hostless rule. */
  readonly host: string | undefined;
  /** Conflict identity within the host (see ingress-path.ts). */
  readonly key: string;
  readonly route: Route;
  /** Where the route came from, for conflict diagnostics. */
  readonly field: string;
}

/** A host this Ingress's spec.tls claims, with the Secret to serve it (undefined = default certificate). */
export interface TlsCandidate {
  readonly host: string;
  readonly secret: string | undefined;
  readonly field: string;
}

export interface CompiledIngress {
  /** `namespace/name`. */
  readonly key: string;
  readonly object: DiagnosticObject;
  readonly routes: readonly RouteCandidate[];
  readonly defaultBackend?: BackendRef;
  readonly tls: readonly TlsCandidate[];
  readonly annotations: IngressAnnotations;
  readonly diagnostics: readonly Diagnostic[];
}

export interface CompileIngressOptions {
  /** refuse (default, as ingress-nginx since snippets were disabled): an Ingress with a snippet is not served; ignore: served without it. */
  readonly snippetAnnotations?: 'refuse' | 'ignore';
  /** The controller ConfigMap's settings: defaults under the annotations. */
  readonly defaults?: ResolvedControllerConfig;
}

export function compileIngress(ingress: Ingress, options: CompileIngressOptions = {}): CompiledIngress {
  const key = objectKey(ingress);
  const namespace = ingress.metadata.namespace ?? 'default';
  const object: DiagnosticObject = { kind: 'Ingress', namespace, name: ingress.metadata.name };
  const diagnostics: Diagnostic[] = [];
  const error = (code: ErrorCode, field: string, message: string): void => {
    diagnostics.push({ severity: 'error', code, object, field, message });
  };

  const { annotations, problems } = parseIngressAnnotations(ingress, options.defaults);
  for (const problem of problems) {
    diagnostics.push({ severity: problem.severity, code: 'PORTICO_ERR_INGRESS_ANNOTATION_INVALID', object, field: `metadata.annotations.${problem.key}`, message: problem.message });
  }
  if (annotations.unsupported.length > 0) {
    const list = annotations.unsupported.join(', ');
    diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_INGRESS_ANNOTATION_UNSUPPORTED', object, field: 'metadata.annotations', message: `not implemented by Portico, served without: ${list}` });
  }
  if (annotations.snippets.length > 0) {
    const list = annotations.snippets.join(', ');
    if (options.snippetAnnotations !== 'ignore') {
      error('PORTICO_ERR_INGRESS_SNIPPET_REFUSED', `metadata.annotations.${annotations.snippets[0]}`, `${list}: snippet annotations are raw nginx configuration and are never executed; the Ingress is not served (--snippet-annotations=ignore or the ConfigMap's allow-snippet-annotations: "true" serves it without them)`);
      return { key, object, routes: [], tls: [], annotations, diagnostics };
    }
    diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_INGRESS_SNIPPET_REFUSED', object, field: `metadata.annotations.${annotations.snippets[0]}`, message: `${list}: snippet annotations are never executed; served without them (--snippet-annotations=ignore)` });
  }

  let defaultBackend: BackendRef | undefined;
  const spec = ingress.spec;
  if (spec?.defaultBackend !== undefined) {
    const parsed = parseIngressBackend(spec.defaultBackend, namespace);
    if (parsed.ok) defaultBackend = parsed.backend;
    else error('PORTICO_ERR_INGRESS_BACKEND_INVALID', 'spec.defaultBackend', `defaultBackend skipped: ${parsed.reason}`);
  }

  const routes: RouteCandidate[] = [];
  const ruleHosts = new Set<string>();
  (spec?.rules ?? []).forEach((rule, r) => {
    let host: string | undefined;
    if (rule.host !== undefined && rule.host !== '') {
      const parsed = parseIngressHost(rule.host);
      if (!parsed.ok) {
        error('PORTICO_ERR_INGRESS_HOST_INVALID', `spec.rules[${r}].host`, `host ${JSON.stringify(rule.host)} ${parsed.reason}; rule skipped`);
        return;
      }
      host = parsed.host;
      ruleHosts.add(host);
    }
    (rule.http?.paths ?? []).forEach((p, i) => {
      const field = `spec.rules[${r}].http.paths[${i}]`;
      const path = parseIngressPath(p.path, p.pathType, { regex: annotations.regex });
      if (!path.ok) {
        const code = path.field === 'path' ? 'PORTICO_ERR_INGRESS_PATH_INVALID' : 'PORTICO_ERR_INGRESS_PATH_TYPE';
        error(code, `${field}.${path.field}`, `${path.reason}; path skipped`);
        return;
      }
      const backend = parseIngressBackend(p.backend, namespace);
      if (!backend.ok) {
        error('PORTICO_ERR_INGRESS_BACKEND_INVALID', `${field}.backend`, `${backend.reason}; path skipped`);
        return;
      }
      routes.push({
        host,
        key: path.key,
        route: { pathType: path.pathType, path: path.path, backend: annotations.serviceUpstream ? serviceUpstreamRef(backend.backend) : backend.backend, ingress: key },
        field,
      });
    });
  });

  const tls: TlsCandidate[] = [];
  (spec?.tls ?? []).forEach((entry, t) => {
    const secret = entry.secretName ? `${namespace}/${entry.secretName}` : undefined;
    // No hosts: the entry covers every host of this Ingress's rules.
    if (entry.hosts === undefined || entry.hosts.length === 0) {
      for (const host of ruleHosts) tls.push({ host, secret, field: `spec.tls[${t}]` });
      return;
    }
    entry.hosts.forEach((raw, h) => {
      const parsed = parseIngressHost(raw);
      if (!parsed.ok) {
        error('PORTICO_ERR_INGRESS_HOST_INVALID', `spec.tls[${t}].hosts[${h}]`, `TLS host ${JSON.stringify(raw)} ${parsed.reason}; skipped`);
        return;
      }
      tls.push({ host: parsed.host, secret, field: `spec.tls[${t}].hosts[${h}]` });
    });
  });

  return defaultBackend === undefined
    ? { key, object, routes, tls, annotations, diagnostics }
    : { key, object, routes, defaultBackend, tls, annotations, diagnostics };
}
