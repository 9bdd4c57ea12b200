// server-alias (more names for the Ingress's hosts) and from-to-www-redirect (the www./bare
// counterpart of each host redirects to it). Both act on hosts, not on routes: route-model-builder
// applies them once every Ingress is in, since an alias or counterpart that is a host of its own
// is ignored (ingress-nginx: a real host wins over an alias).
import { parseIngressHost } from '../ingress-host.js';
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const SERVER_ALIAS = `${NGINX_PREFIX}server-alias`;
export const FROM_TO_WWW_REDIRECT = `${NGINX_PREFIX}from-to-www-redirect`;

export interface HostAliasAnnotations {
  /** Normalised alias hosts, sorted. */
  readonly serverAliases: readonly string[];
  readonly fromToWwwRedirect: boolean;
}

export function parseHostAliases(raw: Annotations, problems: AnnotationProblem[]): HostAliasAnnotations {
  const fromToWwwRedirect = readBool(raw, FROM_TO_WWW_REDIRECT, false, problems);
  const value = raw[SERVER_ALIAS];
  if (value === undefined) return { serverAliases: [], fromToWwwRedirect };
  const aliases = new Set<string>();
  const bad: string[] = [];
  for (const part of value.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const parsed = parseIngressHost(entry);
    if (parsed.ok) aliases.add(parsed.host);
    else bad.push(`${JSON.stringify(entry)} ${parsed.reason}`);
  }
  if (bad.length > 0) problems.push({ key: SERVER_ALIAS, severity: 'warning', message: `annotation ${SERVER_ALIAS}: ${bad.join('; ')}; skipped` });
  return { serverAliases: [...aliases].sort(), fromToWwwRedirect };
}
