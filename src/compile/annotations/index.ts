// Ingress annotations are read here and nowhere else: one module per feature parses its keys into a
// typed, frozen policy (undefined when absent) and reports bad values as problems; this file
// composes them. Values are untrusted: a bad value is a diagnostic, never an exception.
import type { Ingress } from '../../model/k8s-objects.js';
import type { RoutePolicies } from '../../model/route-model.js';
import { parseSourceRange } from './source-range.js';
import { parseSslRedirect, type SslRedirectAnnotations } from './ssl-redirect.js';
import { parseForwardedPrefix, parseUpstreamVhost } from './upstream-headers.js';
import type { AnnotationProblem } from './values.js';

export { NGINX_PREFIX } from './keys.js';
export { FORCE_SSL_REDIRECT, SSL_REDIRECT } from './ssl-redirect.js';
export { ALLOWLIST_SOURCE_RANGE, DENYLIST_SOURCE_RANGE, WHITELIST_SOURCE_RANGE } from './source-range.js';
export { UPSTREAM_VHOST, X_FORWARDED_PREFIX } from './upstream-headers.js';
export type { AnnotationProblem } from './values.js';

export interface IngressAnnotations extends SslRedirectAnnotations {
  /** What every route of this Ingress carries; undefined when no per-route feature is set. */
  readonly policies: RoutePolicies | undefined;
}

export function parseIngressAnnotations(ingress: Ingress): { annotations: IngressAnnotations; problems: AnnotationProblem[] } {
  const raw = ingress.metadata.annotations ?? {};
  const problems: AnnotationProblem[] = [];
  const redirect = parseSslRedirect(raw, problems);
  const sourceRange = parseSourceRange(raw, problems);
  const upstreamVhost = parseUpstreamVhost(raw, problems);
  const forwardedPrefix = parseForwardedPrefix(raw, problems);
  const policies: RoutePolicies = {
    ...(sourceRange && { sourceRange }),
    ...(upstreamVhost !== undefined && { upstreamVhost }),
    ...(forwardedPrefix !== undefined && { forwardedPrefix }),
  };
  return { annotations: { ...redirect, policies: Object.keys(policies).length > 0 ? Object.freeze(policies) : undefined }, problems };
}
