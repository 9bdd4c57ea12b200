// upstream-hash-by: the endpoint is chosen by a consistent hash of a value built from nginx
// variables ($request_uri, $remote_addr, $host, $http_<name>, $cookie_<name>, $arg_<name>, …, and
// combinations such as "$host$request_uri"); load-balance: round_robin (the default) or ewma.
// upstream-hash-by-subset(-size) are not implemented (reported as unsupported annotations).
import { HASH_VARIABLE_PREFIXES, HASH_VARIABLES } from '../../lib/nginx-variables.js';
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const UPSTREAM_HASH_BY = `${NGINX_PREFIX}upstream-hash-by`;
export const LOAD_BALANCE = `${NGINX_PREFIX}load-balance`;

export function parseUpstreamHashBy(raw: Annotations, problems: AnnotationProblem[]): string | undefined {
  const value = raw[UPSTREAM_HASH_BY]?.trim();
  if (value === undefined || value === '') return undefined;
  const bad = (why: string) => {
    problems.push({ key: UPSTREAM_HASH_BY, severity: 'warning', message: `annotation ${UPSTREAM_HASH_BY}: ${JSON.stringify(value)} ${why}; round robin applies` });
    return undefined;
  };
  if (!/^[\x21-\x7e]+$/.test(value)) return bad('has spaces or control characters');
  if (!value.includes('$')) return bad('names no nginx variable (every request would go to one endpoint)');
  const names = [...value.matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))?/g)].map((m) => m[1] ?? m[2] ?? '');
  const unknown = names.filter((name) => !(HASH_VARIABLES as readonly string[]).includes(name) && !HASH_VARIABLE_PREFIXES.some((p) => name.startsWith(p) && name.length > p.length));
  if (unknown.length > 0) return bad(`uses ${unknown.map((n) => (n === '' ? 'a bare $' : `$${n}`)).join(', ')}, which Portico does not expand (${HASH_VARIABLES.map((n) => `$${n}`).join(', ')}, $http_*, $cookie_*, $arg_* are)`);
  return value;
}

export function parseLoadBalance(raw: Annotations, problems: AnnotationProblem[]): 'ewma' | undefined {
  const value = raw[LOAD_BALANCE]?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'round_robin') return undefined;
  if (value === 'ewma') return 'ewma';
  problems.push({ key: LOAD_BALANCE, severity: 'warning', message: `annotation ${LOAD_BALANCE}: only "round_robin" and "ewma" are supported, got ${JSON.stringify(raw[LOAD_BALANCE])}; round_robin applies` });
  return undefined;
}
