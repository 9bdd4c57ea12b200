// upstream-vhost (the Host header the backend gets) and x-forwarded-prefix (sent as
// X-Forwarded-Prefix). Both end up in request headers: values with control characters are refused.
import { NGINX_PREFIX } from './keys.js';
import { readHeaderValue, type AnnotationProblem, type Annotations } from './values.js';

export const UPSTREAM_VHOST = `${NGINX_PREFIX}upstream-vhost`;
export const X_FORWARDED_PREFIX = `${NGINX_PREFIX}x-forwarded-prefix`;

/** A uri-host[:port] (RFC 3986 reg-name characters, or an IP-literal). */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/;

export function parseUpstreamVhost(raw: Annotations, problems: AnnotationProblem[]): string | undefined {
  return readHeaderValue(raw, UPSTREAM_VHOST, problems, HOST_VALUE);
}

export function parseForwardedPrefix(raw: Annotations, problems: AnnotationProblem[]): string | undefined {
  return readHeaderValue(raw, X_FORWARDED_PREFIX, problems);
}
