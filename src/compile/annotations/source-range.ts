// whitelist-source-range (and its newer name allowlist-source-range) and denylist-source-range:
// CIDR lists checked against the connection's own address, deny first, 403 (ingress-nginx's
// `deny …; allow …; deny all;`). A list that cannot be read fails closed: the route refuses
// everyone, as ingress-nginx denies a location whose annotation is invalid; it never opens up.
import type { SourceRangePolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { readCidrList, type AnnotationProblem, type Annotations } from './values.js';

export const ALLOWLIST_SOURCE_RANGE = `${NGINX_PREFIX}allowlist-source-range`;
export const WHITELIST_SOURCE_RANGE = `${NGINX_PREFIX}whitelist-source-range`;
export const DENYLIST_SOURCE_RANGE = `${NGINX_PREFIX}denylist-source-range`;

export function parseSourceRange(raw: Annotations, problems: AnnotationProblem[]): SourceRangePolicy | undefined {
  // allowlist-… wins when both names are set (ingress-nginx reads the new name first).
  const allowKey = raw[ALLOWLIST_SOURCE_RANGE] !== undefined ? ALLOWLIST_SOURCE_RANGE : WHITELIST_SOURCE_RANGE;
  const before = problems.length;
  const allow = readCidrList(raw, allowKey, problems);
  const deny = readCidrList(raw, DENYLIST_SOURCE_RANGE, problems);
  // Fail closed: an unreadable list becomes "allow nobody".
  if (problems.length > before) return Object.freeze({ allow: [] });
  if (allow === undefined && deny === undefined) return undefined;
  return Object.freeze({ ...(allow && { allow }), ...(deny && { deny }) });
}
