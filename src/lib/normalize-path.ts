// The path routes are matched on: percent-encoded unreserved characters (ALPHA, DIGIT, `-._~`)
// decoded, as RFC 3986 §6.2.2.2 makes them equivalent. Without it `/%61dmin` would miss an `/admin`
// rule (and its access list) and fall through to `/`, while the backend — and nginx, which decodes
// before matching — sees `/admin`. Reserved characters stay encoded: `/a%2Fb` is still not `/a/b`.
// The request goes upstream byte for byte; only the match uses this form.

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

export function normalizePathForMatch(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
}
