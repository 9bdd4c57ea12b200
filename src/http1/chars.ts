// Byte classes for HTTP/1.1 (RFC 9110 §5.6, RFC 9112, RFC 3986), as 256-entry lookup tables.

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const oneOf = (chars: string) => (c: number): boolean => chars.includes(String.fromCharCode(c));

/** tchar (RFC 9110 §5.6.2): field names, chunk-ext names and values, Connection/TE tokens. */
export const TOKEN = table((c) => isAlpha(c) || isDigit(c) || oneOf("!#$%&'*+-.^_`|~")(c));

/**
 * Method bytes: nginx 1.22 accepts only A-Z, `_` and `-` (a lower-case or digit method is 400 there),
 * so Portico, never more permissive than nginx, does the same; RFC 9110 would allow any tchar.
 */
export const METHOD = table((c) => (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d);

/** field-vchar / obs-text plus SP and HTAB: what a field value may hold (no NUL, CR, LF, other CTLs, DEL). */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/**
 * Request-target bytes: visible ASCII and obs-text; no CTL, SP, DEL, and no `#` (a fragment is never
 * part of a request-target, RFC 9112 §3.2, and backends disagree about where it ends the path).
 * nginx also accepts `"<>\^`{|}` and raw UTF-8 unencoded, so Portico does, for compatibility.
 */
export const TARGET = table((c) => c > 0x20 && c !== 0x7f && c !== 0x23);

/** reg-name without pct-encoded (RFC 3986 §3.2.2): unreserved / sub-delims. `%` is refused in hosts. */
export const REG_NAME = table((c) => isAlpha(c) || isDigit(c) || oneOf("-._~!$&'()*+,;=")(c));

/** Inside an IP-literal `[…]`: IPv6 hex, `:`, `.` (embedded IPv4) and IPvFuture's `v`. */
export const IP_LITERAL = table((c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x3a || c === 0x2e || c === 0x76 || c === 0x56);

/** Hex digit value, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** qdtext / quoted-pair bytes inside a quoted-string (HTAB, SP, VCHAR except `"`/`\`, obs-text). */
export const QDTEXT = table((c) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80);

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** True when buf[s, s + lower.length) equals `lower` (lower-case ASCII letters and `-`) ignoring case. */
export function equalsLower(buf: Buffer, s: number, e: number, lower: string): boolean {
  const n = lower.length;
  if (e - s !== n) return false;
  for (let i = 0; i < n; i++) if ((buf[s + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}
