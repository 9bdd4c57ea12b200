// limit-connections: nginx's limit_conn per client address, one zone per Ingress; clients in
// limit-allowlist / limit-whitelist are not limited (as for the rate limits). Over it: 503.
import type { ConnectionLimitPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { LIMIT_ALLOWLIST, LIMIT_RPM, LIMIT_RPS, LIMIT_WHITELIST } from './rate-limit.js';
import { readCidrList, type AnnotationProblem, type Annotations } from './values.js';

export const LIMIT_CONNECTIONS = `${NGINX_PREFIX}limit-connections`;

export function parseConnectionLimit(raw: Annotations, problems: AnnotationProblem[]): ConnectionLimitPolicy | undefined {
  const value = raw[LIMIT_CONNECTIONS];
  if (value === undefined) return undefined;
  const max = /^\s*\d{1,9}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!(max > 0)) {
    problems.push({ key: LIMIT_CONNECTIONS, severity: 'warning', message: `annotation ${LIMIT_CONNECTIONS} must be a whole number above 0, got ${JSON.stringify(value)}; ignored` });
    return undefined;
  }
  // With a rate limit, its parser reports a bad list already; an unreadable list exempts nobody.
  const reported = raw[LIMIT_RPS] !== undefined || raw[LIMIT_RPM] !== undefined;
  const exempt = readCidrList(raw, raw[LIMIT_ALLOWLIST] !== undefined ? LIMIT_ALLOWLIST : LIMIT_WHITELIST, reported ? [] : problems);
  return Object.freeze({ max, ...(exempt !== undefined && { exempt }) });
}
