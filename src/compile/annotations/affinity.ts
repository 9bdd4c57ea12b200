// affinity: cookie and session-cookie-*: sticky sessions. The first response carries a cookie
// naming the endpoint that served it; later requests with that cookie go to the same endpoint while
// it is still one traffic may go to, else to the balancer's pick (with a new cookie).
import type { AffinityPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { HTTP_TOKEN, readBool, type AnnotationProblem, type Annotations } from './values.js';

export const AFFINITY = `${NGINX_PREFIX}affinity`;
export const AFFINITY_MODE = `${NGINX_PREFIX}affinity-mode`;
export const SESSION_COOKIE_NAME = `${NGINX_PREFIX}session-cookie-name`;
export const SESSION_COOKIE_PATH = `${NGINX_PREFIX}session-cookie-path`;
export const SESSION_COOKIE_DOMAIN = `${NGINX_PREFIX}session-cookie-domain`;
export const SESSION_COOKIE_SAMESITE = `${NGINX_PREFIX}session-cookie-samesite`;
export const SESSION_COOKIE_SECURE = `${NGINX_PREFIX}session-cookie-secure`;
export const SESSION_COOKIE_MAX_AGE = `${NGINX_PREFIX}session-cookie-max-age`;
export const SESSION_COOKIE_EXPIRES = `${NGINX_PREFIX}session-cookie-expires`;
export const AFFINITY_KEYS = [AFFINITY, AFFINITY_MODE, SESSION_COOKIE_NAME, SESSION_COOKIE_PATH, SESSION_COOKIE_DOMAIN, SESSION_COOKIE_SAMESITE, SESSION_COOKIE_SECURE, SESSION_COOKIE_MAX_AGE, SESSION_COOKIE_EXPIRES] as const;

const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/; // RFC 6265 cookie-octet, no ; , " \

export function parseAffinity(raw: Annotations, problems: AnnotationProblem[]): AffinityPolicy | undefined {
  const kind = raw[AFFINITY]?.trim();
  if (kind === undefined || kind === '') return undefined;
  if (kind !== 'cookie') {
    problems.push({ key: AFFINITY, severity: 'warning', message: `annotation ${AFFINITY}: only "cookie" is supported, got ${JSON.stringify(kind)}; ignored` });
    return undefined;
  }
  const text = (key: string, valid: RegExp) => {
    const value = raw[key]?.trim();
    if (value === undefined || value === '') return undefined;
    if (valid.test(value)) return value;
    problems.push({ key, severity: 'warning', message: `annotation ${key}: ${JSON.stringify(value)} is not valid here; ignored` });
    return undefined;
  };
  const seconds = (key: string) => {
    const value = text(key, /^\d{1,10}$/);
    return value === undefined ? undefined : Number(value);
  };
  const sameSite = text(SESSION_COOKIE_SAMESITE, /^(?:None|Lax|Strict)$/i);
  const mode = text(AFFINITY_MODE, /^(?:balanced|persistent)$/);
  const path = text(SESSION_COOKIE_PATH, COOKIE_VALUE);
  const domain = text(SESSION_COOKIE_DOMAIN, /^\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/);
  const maxAge = seconds(SESSION_COOKIE_MAX_AGE);
  const expires = seconds(SESSION_COOKIE_EXPIRES);
  return Object.freeze({
    cookie: text(SESSION_COOKIE_NAME, HTTP_TOKEN) ?? 'INGRESSCOOKIE',
    mode: (mode ?? 'balanced') as AffinityPolicy['mode'],
    ...(path !== undefined && { path }),
    ...(domain !== undefined && { domain }),
    ...(sameSite !== undefined && { sameSite: (sameSite[0]!.toUpperCase() + sameSite.slice(1).toLowerCase()) as NonNullable<AffinityPolicy['sameSite']> }),
    secure: readBool(raw, SESSION_COOKIE_SECURE, false, problems),
    ...(maxAge !== undefined && { maxAge }),
    ...(expires !== undefined && { expires }),
  });
}
