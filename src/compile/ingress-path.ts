// Ingress path and pathType validation. Matching semantics live in src/routing/path-trie.ts.
import { compilePathRegex } from '../lib/path-regex.js';
import type { PathType } from '../model/route-model.js';

export type PathParseResult =
  | {
      readonly ok: true;
      readonly pathType: PathType;
      /** As written (`/` when a Prefix path is absent). Routes keep this form. */
      readonly path: string;
      /** Conflict identity: pathType plus the path, Prefix paths without their trailing slash. */
      readonly key: string;
    }
  | { readonly ok: false; readonly field: 'path' | 'pathType'; readonly reason: string };

const INVALID_SEQUENCES = ['//', '/./', '/../'] as const;
const INVALID_SUFFIXES = ['/.', '/..'] as const;
// A path containing these can never equal a request path (the query is stripped, a fragment is never
// sent) and whitespace/control characters are not valid in a request target.
const UNMATCHABLE = /[?#\u0000-\u0020\u007f]/;
const ENCODED_SLASH = /%2f/i;

/**
 * Validates one HTTPIngressPath. ImplementationSpecific is compiled as Prefix, as the most common
 * controllers do; with `regex` (the Ingress sets use-regex or rewrite-target) the path must be an
 * expression Portico can run instead (see lib/path-regex.ts).
 */
export function parseIngressPath(path: string | undefined, pathType: string | undefined, options: { readonly regex?: boolean } = {}): PathParseResult {
  let type: PathType;
  switch (pathType) {
    case 'Exact':
      type = 'Exact';
      break;
    case 'Prefix':
    case 'ImplementationSpecific':
      type = 'Prefix';
      break;
    case undefined:
    case '':
      return { ok: false, field: 'pathType', reason: 'pathType is required (Exact, Prefix or ImplementationSpecific)' };
    default:
      return {
        ok: false,
        field: 'pathType',
        reason: `unknown pathType ${JSON.stringify(pathType)} (want Exact, Prefix or ImplementationSpecific)`,
      };
  }
  if (path === undefined || path === '') {
    if (type === 'Exact') return { ok: false, field: 'path', reason: 'path is required for pathType Exact' };
    return { ok: true, pathType: type, path: '/', key: 'Prefix /' };
  }
  if (options.regex) {
    // use-regex / rewrite-target: the path is an expression (ingress-nginx's `~* "^path"`).
    const parsed = compilePathRegex(path);
    if (!parsed.ok) return { ok: false, field: 'path', reason: `regex path ${JSON.stringify(path)} ${parsed.reason}` };
    return { ok: true, pathType: type, path, key: `${type} ${path}` };
  }
  const reason = invalidPathReason(path);
  if (reason !== undefined) return { ok: false, field: 'path', reason: `path ${JSON.stringify(path)} ${reason}` };
  const key = type === 'Exact' ? `Exact ${path}` : `Prefix ${normalizePrefix(path)}`;
  return { ok: true, pathType: type, path, key };
}

/** `/foo/` ≡ `/foo` for Prefix matching; `/` stays `/`. Assumes a validated path (no `//`). */
export function normalizePrefix(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function invalidPathReason(path: string): string | undefined {
  if (!path.startsWith('/')) return "must start with '/'";
  for (const seq of INVALID_SEQUENCES) if (path.includes(seq)) return `must not contain '${seq}'`;
  for (const suffix of INVALID_SUFFIXES) if (path.endsWith(suffix)) return `must not end with '${suffix}'`;
  if (ENCODED_SLASH.test(path)) return "must not contain an encoded slash '%2F'";
  if (UNMATCHABLE.test(path)) return "must not contain '?', '#', whitespace or control characters";
  return undefined;
}
