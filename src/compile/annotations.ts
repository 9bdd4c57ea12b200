// Ingress annotations are read here and nowhere else: one typed getter per key, and a table of the
// keys Portico understands. Values are untrusted: a bad value is a diagnostic and the default applies.
import type { Ingress } from '../model/k8s-objects.js';

export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

export const ANNOTATIONS = {
  sslRedirect: `${NGINX_PREFIX}ssl-redirect`,
  forceSslRedirect: `${NGINX_PREFIX}force-ssl-redirect`,
} as const;

export interface IngressAnnotations {
  /** Redirect HTTP → HTTPS when the host has TLS (default true, as in ingress-nginx). */
  readonly sslRedirect: boolean;
  /** Redirect HTTP → HTTPS even when the host has no TLS (default false). */
  readonly forceSslRedirect: boolean;
}

export interface AnnotationProblem {
  readonly key: string;
  readonly message: string;
}

export function parseIngressAnnotations(ingress: Ingress): { annotations: IngressAnnotations; problems: AnnotationProblem[] } {
  const raw = ingress.metadata.annotations ?? {};
  const problems: AnnotationProblem[] = [];
  const bool = (key: string, fallback: boolean): boolean => {
    const value = raw[key];
    if (value === undefined) return fallback;
    const normalised = value.trim().toLowerCase();
    if (normalised === 'true') return true;
    if (normalised === 'false') return false;
    problems.push({ key, message: `annotation ${key} must be "true" or "false", got ${JSON.stringify(value)}; using ${fallback}` });
    return fallback;
  };
  return {
    annotations: {
      sslRedirect: bool(ANNOTATIONS.sslRedirect, true),
      forceSslRedirect: bool(ANNOTATIONS.forceSslRedirect, false),
    },
    problems,
  };
}
