// canary and canary-*: an Ingress marked canary shares host and path with a main Ingress and takes
// part of its traffic: by header (`always` / `never`, an exact value, or a pattern), then by cookie
// (`always` / `never`), then by weight out of canary-weight-total (default 100). Its other
// annotations do not apply (ingress-nginx: the main Ingress's do).
import { compileUserRegex } from '../../lib/path-regex.js';
import type { CanaryPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { HTTP_TOKEN, readBool, type AnnotationProblem, type Annotations } from './values.js';

export const CANARY = `${NGINX_PREFIX}canary`;
export const CANARY_BY_HEADER = `${NGINX_PREFIX}canary-by-header`;
export const CANARY_BY_HEADER_VALUE = `${NGINX_PREFIX}canary-by-header-value`;
export const CANARY_BY_HEADER_PATTERN = `${NGINX_PREFIX}canary-by-header-pattern`;
export const CANARY_BY_COOKIE = `${NGINX_PREFIX}canary-by-cookie`;
export const CANARY_WEIGHT = `${NGINX_PREFIX}canary-weight`;
export const CANARY_WEIGHT_TOTAL = `${NGINX_PREFIX}canary-weight-total`;
export const CANARY_KEYS = [CANARY, CANARY_BY_HEADER, CANARY_BY_HEADER_VALUE, CANARY_BY_HEADER_PATTERN, CANARY_BY_COOKIE, CANARY_WEIGHT, CANARY_WEIGHT_TOTAL] as const;

/** How a canary Ingress picks its share; the backend and Ingress are added when it is attached to a main route. */
export type CanaryRules = Omit<CanaryPolicy, 'backend' | 'ingress'>;


export function parseCanary(raw: Annotations, problems: AnnotationProblem[]): CanaryRules | undefined {
  if (!readBool(raw, CANARY, false, problems)) return undefined;
  const header = readToken(raw, CANARY_BY_HEADER, problems)?.toLowerCase();
  const headerValue = raw[CANARY_BY_HEADER_VALUE]?.trim() || undefined;
  let headerPattern = raw[CANARY_BY_HEADER_PATTERN]?.trim() || undefined;
  if (headerPattern !== undefined) {
    const parsed = compileUserRegex(headerPattern);
    if (!parsed.ok) {
      problems.push({ key: CANARY_BY_HEADER_PATTERN, severity: 'warning', message: `annotation ${CANARY_BY_HEADER_PATTERN}: ${JSON.stringify(headerPattern)} ${parsed.reason}; ignored` });
      headerPattern = undefined;
    }
  }
  const cookie = readToken(raw, CANARY_BY_COOKIE, problems);
  const weightTotal = readInt(raw, CANARY_WEIGHT_TOTAL, 1, 1_000_000, problems) ?? 100;
  const weight = Math.min(readInt(raw, CANARY_WEIGHT, 0, weightTotal, problems) ?? 0, weightTotal);
  return Object.freeze({
    ...(header !== undefined && { header }),
    ...(header !== undefined && headerValue !== undefined && { headerValue }),
    // ingress-nginx: the pattern counts only without an exact value.
    ...(header !== undefined && headerValue === undefined && headerPattern !== undefined && { headerPattern }),
    ...(cookie !== undefined && { cookie }),
    weight,
    weightTotal,
  });
}

function readToken(raw: Annotations, key: string, problems: AnnotationProblem[]): string | undefined {
  const value = raw[key]?.trim();
  if (value === undefined || value === '') return undefined;
  if (HTTP_TOKEN.test(value)) return value;
  problems.push({ key, severity: 'warning', message: `annotation ${key}: ${JSON.stringify(value)} is not a valid name; ignored` });
  return undefined;
}

function readInt(raw: Annotations, key: string, min: number, max: number, problems: AnnotationProblem[]): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const n = /^\s*\d{1,9}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (n >= min && n <= max) return n;
  problems.push({ key, severity: 'warning', message: `annotation ${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}; ${key === CANARY_WEIGHT ? 'using 0' : 'using 100'}` });
  return undefined;
}
