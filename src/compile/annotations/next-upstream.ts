// proxy-next-upstream, proxy-next-upstream-tries, proxy-next-upstream-timeout: when a connection
// to an endpoint fails, whether and how often the request moves on to another. Portico only ever
// retries what never reached a backend (a failed connect), which is nginx's `error` (and `timeout`
// for connects); `off` turns that off, tries counts every attempt (the first included; 0: no
// limit), timeout bounds the time spent trying (seconds; 0: none). Without any of them Portico keeps
// its own default: every endpoint is tried, then it waits briefly for a newer endpoint set.
import type { NextUpstreamPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const PROXY_NEXT_UPSTREAM = `${NGINX_PREFIX}proxy-next-upstream`;
export const PROXY_NEXT_UPSTREAM_TRIES = `${NGINX_PREFIX}proxy-next-upstream-tries`;
export const PROXY_NEXT_UPSTREAM_TIMEOUT = `${NGINX_PREFIX}proxy-next-upstream-timeout`;
export const NEXT_UPSTREAM_KEYS = [PROXY_NEXT_UPSTREAM, PROXY_NEXT_UPSTREAM_TRIES, PROXY_NEXT_UPSTREAM_TIMEOUT] as const;

const CONDITIONS = new Set(['error', 'timeout', 'invalid_header', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429', 'non_idempotent', 'off']);

export function parseNextUpstream(raw: Annotations, problems: AnnotationProblem[]): NextUpstreamPolicy | undefined {
  const conditions = raw[PROXY_NEXT_UPSTREAM]?.trim().split(/\s+/).filter(Boolean);
  const tries = readInt(raw, PROXY_NEXT_UPSTREAM_TRIES, problems);
  const timeoutS = readInt(raw, PROXY_NEXT_UPSTREAM_TIMEOUT, problems);
  if (conditions === undefined && tries === undefined && timeoutS === undefined) return undefined;
  const unknown = conditions?.filter((c) => !CONDITIONS.has(c)) ?? [];
  if (unknown.length > 0) problems.push({ key: PROXY_NEXT_UPSTREAM, severity: 'warning', message: `annotation ${PROXY_NEXT_UPSTREAM}: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a condition' : 'are not conditions'}; ignored` });
  const off = conditions !== undefined && (conditions.includes('off') || !conditions.some((c) => c === 'error' || c === 'timeout'));
  return Object.freeze({ off, ...(tries !== undefined && tries > 0 && { tries }), ...(timeoutS !== undefined && timeoutS > 0 && { timeoutMs: timeoutS * 1000 }) });
}

function readInt(raw: Annotations, key: string, problems: AnnotationProblem[]): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (/^\s*\d{1,6}s?\s*$/.test(value)) return Number(value.trim().replace(/s$/, ''));
  problems.push({ key, severity: 'warning', message: `annotation ${key} must be a whole number, got ${JSON.stringify(value)}; ignored` });
  return undefined;
}
