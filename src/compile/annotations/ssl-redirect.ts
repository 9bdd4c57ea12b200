// ssl-redirect (default true: a host with TLS redirects plain HTTP) and force-ssl-redirect (redirect
// even without TLS). Which routes redirect depends on the host's TLS, so route-model-builder decides.
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const SSL_REDIRECT = `${NGINX_PREFIX}ssl-redirect`;
export const FORCE_SSL_REDIRECT = `${NGINX_PREFIX}force-ssl-redirect`;

export interface SslRedirectAnnotations {
  readonly sslRedirect: boolean;
  readonly forceSslRedirect: boolean;
}

/** `defaults`: the ConfigMap's ssl-redirect / force-ssl-redirect (ingress-nginx's true / false otherwise). */
export function parseSslRedirect(raw: Annotations, problems: AnnotationProblem[], defaults: Partial<SslRedirectAnnotations> = {}): SslRedirectAnnotations {
  return {
    sslRedirect: readBool(raw, SSL_REDIRECT, defaults.sslRedirect ?? true, problems),
    forceSslRedirect: readBool(raw, FORCE_SSL_REDIRECT, defaults.forceSslRedirect ?? false, problems),
  };
}
