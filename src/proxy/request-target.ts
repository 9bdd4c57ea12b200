// Request-target forms (RFC 9112 §3.2). Origin-form (`/path?query`) is handled inline by the proxy;
// this parses the absolute-form (`http://host:port/path?query`) a client may send to a gateway.

export interface AbsoluteTarget {
  /** `host[:port]` from the target; replaces the Host header (RFC 9112 §3.2.2). */
  readonly authority: string;
  /** The origin-form forwarded upstream: path and query, `/` when the target has no path. */
  readonly target: string;
}

/** Parses `http://…` / `https://…` (scheme case-insensitive); anything else → undefined (400). */
export function parseAbsoluteTarget(url: string): AbsoluteTarget | undefined {
  const sep = url.indexOf('://');
  if (sep !== 4 && sep !== 5) return undefined;
  const scheme = url.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  const start = sep + 3;
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
    end++;
  }
  let authority = url.slice(start, end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority === '') return undefined;
  let target = url.slice(end);
  if (target === '' || target.charCodeAt(0) !== 0x2f) target = `/${target}`;
  return { authority, target };
}
