// enable-cors and cors-*: ingress-nginx's CORS block. Values it would refuse fall back to its
// defaults, with a warning.
import type { CorsPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const ENABLE_CORS = `${NGINX_PREFIX}enable-cors`;
export const CORS_ALLOW_ORIGIN = `${NGINX_PREFIX}cors-allow-origin`;
export const CORS_ALLOW_METHODS = `${NGINX_PREFIX}cors-allow-methods`;
export const CORS_ALLOW_HEADERS = `${NGINX_PREFIX}cors-allow-headers`;
export const CORS_ALLOW_CREDENTIALS = `${NGINX_PREFIX}cors-allow-credentials`;
export const CORS_EXPOSE_HEADERS = `${NGINX_PREFIX}cors-expose-headers`;
export const CORS_MAX_AGE = `${NGINX_PREFIX}cors-max-age`;
export const CORS_KEYS = [ENABLE_CORS, CORS_ALLOW_ORIGIN, CORS_ALLOW_METHODS, CORS_ALLOW_HEADERS, CORS_ALLOW_CREDENTIALS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE] as const;

/** ingress-nginx's defaults. */
export const CORS_DEFAULTS = Object.freeze({
  methods: 'GET, PUT, POST, DELETE, PATCH, OPTIONS',
  headers: 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization',
  maxAge: 1728000,
});

const ORIGIN = /^(?:\*|https?:\/\/(?:\*\.)?[A-Za-z0-9\-.]+(?::\d{1,5})?)$/;
const METHODS = /^[A-Za-z]+(?:\s*,\s*[A-Za-z]+)*$/;
const HEADERS = /^[A-Za-z0-9\-_]+(?:\s*,\s*[A-Za-z0-9\-_]+)*$/;
const EXPOSE = /^(?:[A-Za-z0-9\-_]+|\*)(?:\s*,\s*(?:[A-Za-z0-9\-_]+|\*))*$/;

export function parseCors(raw: Annotations, problems: AnnotationProblem[]): CorsPolicy | undefined {
  if (!readBool(raw, ENABLE_CORS, false, problems)) return undefined;
  const origins = readOrigins(raw, problems);
  const methods = readMatching(raw, CORS_ALLOW_METHODS, METHODS, CORS_DEFAULTS.methods, problems);
  const headers = readMatching(raw, CORS_ALLOW_HEADERS, HEADERS, CORS_DEFAULTS.headers, problems);
  const expose = readMatching(raw, CORS_EXPOSE_HEADERS, EXPOSE, '', problems);
  const credentials = readBool(raw, CORS_ALLOW_CREDENTIALS, true, problems);
  const maxAgeText = raw[CORS_MAX_AGE]?.trim();
  let maxAge: number = CORS_DEFAULTS.maxAge;
  if (maxAgeText !== undefined) {
    if (/^\d{1,10}$/.test(maxAgeText)) maxAge = Number(maxAgeText);
    else problems.push({ key: CORS_MAX_AGE, severity: 'warning', message: `annotation ${CORS_MAX_AGE} must be a number of seconds, got ${JSON.stringify(maxAgeText)}; using ${CORS_DEFAULTS.maxAge}` });
  }
  return Object.freeze({ origins, methods, headers, ...(expose !== '' && { expose }), credentials, maxAge });
}

function readOrigins(raw: Annotations, problems: AnnotationProblem[]): readonly string[] {
  const value = raw[CORS_ALLOW_ORIGIN];
  if (value === undefined || value.trim() === '') return ['*'];
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const good = entries.filter((e) => ORIGIN.test(e));
  const bad = entries.filter((e) => !ORIGIN.test(e));
  if (bad.length > 0) problems.push({ key: CORS_ALLOW_ORIGIN, severity: 'warning', message: `annotation ${CORS_ALLOW_ORIGIN}: ${bad.map((b) => JSON.stringify(b)).join(', ')} not an origin (scheme://host[:port], *.host, or *); ${good.length > 0 ? 'skipped' : 'using *'}` });
  if (good.length === 0 || good.includes('*')) return ['*'];
  return [...new Set(good.map((o) => o.toLowerCase()))].sort();
}

function readMatching(raw: Annotations, key: string, valid: RegExp, fallback: string, problems: AnnotationProblem[]): string {
  const value = raw[key]?.trim();
  if (value === undefined || value === '') return fallback;
  if (valid.test(value)) return value;
  problems.push({ key, severity: 'warning', message: `annotation ${key}: ${JSON.stringify(value)} is not a valid list; using ${fallback === '' ? 'none' : JSON.stringify(fallback)}` });
  return fallback;
}
