// limit-rps, limit-rpm, limit-burst-multiplier, limit-whitelist / limit-allowlist: ingress-nginx's
// `limit_req` per client address, one zone per Ingress, burst = rate × multiplier (default 5),
// nodelay; over the limit the client gets 503. Clients in the allowlist are never limited.
import type { RateLimitPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { readCidrList, type AnnotationProblem, type Annotations } from './values.js';

export const LIMIT_RPS = `${NGINX_PREFIX}limit-rps`;
export const LIMIT_RPM = `${NGINX_PREFIX}limit-rpm`;
export const LIMIT_BURST_MULTIPLIER = `${NGINX_PREFIX}limit-burst-multiplier`;
export const LIMIT_WHITELIST = `${NGINX_PREFIX}limit-whitelist`;
export const LIMIT_ALLOWLIST = `${NGINX_PREFIX}limit-allowlist`;

const DEFAULT_BURST_MULTIPLIER = 5;

export function parseRateLimit(raw: Annotations, problems: AnnotationProblem[]): RateLimitPolicy | undefined {
  const rps = readPositiveInt(raw, LIMIT_RPS, problems);
  const rpm = readPositiveInt(raw, LIMIT_RPM, problems);
  if (rps === undefined && rpm === undefined) return undefined;
  const burstMultiplier = readPositiveInt(raw, LIMIT_BURST_MULTIPLIER, problems) ?? DEFAULT_BURST_MULTIPLIER;
  // An unreadable allowlist exempts nobody (the limit stays on for everyone).
  const exempt = raw[LIMIT_ALLOWLIST] !== undefined ? readCidrList(raw, LIMIT_ALLOWLIST, problems) : readCidrList(raw, LIMIT_WHITELIST, problems);
  return Object.freeze({
    ...(rps !== undefined && { rps }),
    ...(rpm !== undefined && { rpm }),
    burstMultiplier,
    ...(exempt !== undefined && { exempt }),
  });
}

function readPositiveInt(raw: Annotations, key: string, problems: AnnotationProblem[]): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const n = /^\s*\d{1,9}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (n > 0) return n;
  problems.push({ key, severity: 'warning', message: `annotation ${key} must be a whole number above 0, got ${JSON.stringify(value)}; ignored` });
  return undefined;
}
