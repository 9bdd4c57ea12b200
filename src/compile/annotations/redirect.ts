// permanent-redirect(-code) and temporal-redirect(-code): every request on the Ingress's paths is
// answered with a redirect to the given URL instead of being proxied (ingress-nginx's `return CODE
// URL`). As there, temporal wins when both are set, a code outside 300–308 (permanent) or 300–307
// (temporal) falls back to 301 / 302, and the URL must be absolute. The URL may use the nginx
// variables users put there ($request_uri most of all); any other `$name` is refused, since Portico
// would send it literally.
import type { RedirectPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { ABSOLUTE_HTTP_URL, unknownVariables, type AnnotationProblem, type Annotations } from './values.js';

export const PERMANENT_REDIRECT = `${NGINX_PREFIX}permanent-redirect`;
export const PERMANENT_REDIRECT_CODE = `${NGINX_PREFIX}permanent-redirect-code`;
export const TEMPORAL_REDIRECT = `${NGINX_PREFIX}temporal-redirect`;
export const TEMPORAL_REDIRECT_CODE = `${NGINX_PREFIX}temporal-redirect-code`;

/** The variables a redirect URL may contain, as nginx expands them. */
export const REDIRECT_VARIABLES = ['request_uri', 'uri', 'args', 'host', 'scheme'] as const;

export function parseRedirect(raw: Annotations, problems: AnnotationProblem[]): RedirectPolicy | undefined {
  return (
    readRedirect(raw, { urlKey: TEMPORAL_REDIRECT, codeKey: TEMPORAL_REDIRECT_CODE, fallback: 302, max: 307 }, problems) ??
    readRedirect(raw, { urlKey: PERMANENT_REDIRECT, codeKey: PERMANENT_REDIRECT_CODE, fallback: 301, max: 308 }, problems)
  );
}

function readRedirect(raw: Annotations, kind: { urlKey: string; codeKey: string; fallback: number; max: number }, problems: AnnotationProblem[]): RedirectPolicy | undefined {
  const value = raw[kind.urlKey]?.trim();
  if (value === undefined || value === '') return undefined;
  if (!ABSOLUTE_HTTP_URL.test(value)) {
    problems.push({ key: kind.urlKey, severity: 'warning', message: `annotation ${kind.urlKey}: ${JSON.stringify(value)} is not an absolute http(s) URL; ignored` });
    return undefined;
  }
  const unknown = unknownVariables(value, REDIRECT_VARIABLES);
  if (unknown.length > 0) {
    problems.push({ key: kind.urlKey, severity: 'warning', message: `annotation ${kind.urlKey}: ${unknown.map((n) => `$${n}`).join(', ')} is not a variable Portico expands (${REDIRECT_VARIABLES.map((n) => `$${n}`).join(', ')}); ignored` });
    return undefined;
  }
  return Object.freeze({ url: value, status: readCode(raw, kind, problems) });
}

function readCode(raw: Annotations, kind: { codeKey: string; fallback: number; max: number }, problems: AnnotationProblem[]): number {
  const value = raw[kind.codeKey];
  if (value === undefined) return kind.fallback;
  const code = /^\s*\d{3}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (code >= 300 && code <= kind.max) return code;
  problems.push({ key: kind.codeKey, severity: 'warning', message: `annotation ${kind.codeKey} must be a status from 300 to ${kind.max}, got ${JSON.stringify(value)}; using ${kind.fallback}` });
  return kind.fallback;
}
