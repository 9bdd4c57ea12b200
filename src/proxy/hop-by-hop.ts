// Header rewriting between the client and the upstream.
//
// RFC 9110 §7.6.1: a proxy removes Connection, every header the Connection header lists, and the
// hop-by-hop fields Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding and Upgrade, in both
// directions. Requests also lose Expect (Node answers `100 Continue` itself) and the client's own
// X-Forwarded-* / X-Real-IP values, which are replaced (ingress-nginx default: never trust them).
// Name sets are precomputed; the common case (only `Connection: keep-alive`) allocates no extra arrays.
// X-Request-ID: the client's value is passed on (and logged) when it looks like an id, else a UUID is generated.
import { newRequestId } from '../lib/request-id.js';

/** What a request header means to the proxy. */
const Req = {
  Drop: 1,
  Connection: 2,
  Host: 3,
  ContentLength: 4,
  TransferEncoding: 5,
  Upgrade: 6,
  RequestId: 7,
  /** Kept as is, and noted for the access log (reading req.headers would build the whole header object). */
  UserAgent: 8,
  Referer: 9,
} as const;
type Req = (typeof Req)[keyof typeof Req];

const REQUEST_HEADERS: ReadonlyMap<string, Req> = new Map<string, Req>([
  ['connection', Req.Connection],
  ['keep-alive', Req.Drop],
  ['proxy-connection', Req.Drop],
  ['te', Req.Drop],
  ['trailer', Req.Drop],
  ['transfer-encoding', Req.TransferEncoding],
  ['upgrade', Req.Upgrade],
  ['expect', Req.Drop],
  ['x-forwarded-for', Req.Drop],
  ['x-forwarded-host', Req.Drop],
  ['x-forwarded-port', Req.Drop],
  ['x-forwarded-proto', Req.Drop],
  ['x-real-ip', Req.Drop],
  ['host', Req.Host],
  ['content-length', Req.ContentLength],
  ['x-request-id', Req.RequestId],
  ['user-agent', Req.UserAgent],
  ['referer', Req.Referer],
]);

/** A client X-Request-ID is passed on when it looks like an id (visible ASCII, at most 200); else one is generated. */
const PASSABLE_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** Hop-by-hop response headers (names are lower-case: undici lower-cases parsed headers). */
const RESPONSE_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Connection tokens that name nothing beyond the fixed hop-by-hop set. */
function isPlainConnectionValue(value: string): boolean {
  const v = value.length;
  // 'keep-alive', 'close', 'upgrade' in any case, alone.
  if (v !== 10 && v !== 5 && v !== 7) return false;
  const lower = value.toLowerCase();
  return lower === 'keep-alive' || lower === 'close' || lower === 'upgrade';
}

/** Adds the lower-case tokens of a Connection value to `into` (created on first use). */
function connectionTokens(value: string, into: string[] | undefined): string[] | undefined {
  if (isPlainConnectionValue(value)) return into;
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '') (into ??= []).push(token);
  }
  return into;
}

function removeNamed(headers: string[], names: readonly string[], lowerCaseNames: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (!names.includes(lowerCaseNames ? name : name.toLowerCase())) out.push(name, headers[i + 1]!);
  }
  return out;
}

/** The listener a request arrived on: what X-Forwarded-Port/Proto say. */
export interface ListenerInfo {
  readonly proto: 'http' | 'https';
  /** Listener port, as a string. */
  port: string;
}

/** The parts of the request head the proxy needs, collected in one pass over the raw headers. */
export interface RequestHead {
  /** Headers for the upstream: a flat `[name, value, …]` list, duplicates and name case preserved. */
  headers: string[];
  /** The Host header value as received (the absolute-form authority when one was given). */
  host: string | undefined;
  /** True when the request has a body: Content-Length > 0 or a Transfer-Encoding. */
  hasBody: boolean;
  /** The Upgrade header value (only meaningful on upgrade requests). */
  upgrade: string | undefined;
  /** X-Request-ID sent upstream and logged: the client's (first, if it looks like an id), else a new UUID. */
  requestId: string;
  /** The first User-Agent and Referer values, for the access log. */
  userAgent?: string | undefined;
  referer?: string | undefined;
}

/**
 * Builds the upstream request headers from Node's `rawHeaders`: hop-by-hop and client-supplied
 * forwarding headers dropped, X-Forwarded-For/Host/Port/Proto and X-Real-IP appended.
 * `hostOverride` (absolute-form request target) replaces the Host value, per RFC 9112 §3.2.2.
 */
export function buildRequestHead(
  raw: readonly string[],
  clientAddress: string,
  listener: ListenerInfo,
  hostOverride: string | undefined,
  into: RequestHead,
): void {
  const headers: string[] = [];
  let host: string | undefined;
  let hasBody = false;
  let upgrade: string | undefined;
  let requestId: string | undefined;
  let userAgent: string | undefined;
  let referer: string | undefined;
  let named: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const kind = REQUEST_HEADERS.get(name.toLowerCase());
    if (kind === undefined) {
      headers.push(name, value);
      continue;
    }
    switch (kind) {
      case Req.Connection:
        named = connectionTokens(value, named);
        break;
      case Req.Host:
        if (host === undefined) {
          host = hostOverride ?? value;
          headers.push(name, host);
        } else {
          // A second Host: keep it so the upstream client rejects the request (→ 400).
          headers.push(name, value);
        }
        break;
      case Req.ContentLength:
        if (value !== '0') hasBody = true;
        headers.push(name, value);
        break;
      case Req.TransferEncoding:
        hasBody = true;
        break;
      case Req.Upgrade:
        upgrade = value;
        break;
      case Req.RequestId:
        // Re-sent once, after the forwarding headers; a duplicate or junk value is not passed on.
        if (requestId === undefined && PASSABLE_REQUEST_ID.test(value)) requestId = value;
        break;
      case Req.UserAgent:
        userAgent ??= value;
        headers.push(name, value);
        break;
      case Req.Referer:
        referer ??= value;
        headers.push(name, value);
        break;
      default:
        break;
    }
  }
  if (host === undefined && hostOverride !== undefined) {
    host = hostOverride;
    headers.push('host', host);
  }
  const out = named === undefined ? headers : removeNamed(headers, named, false);
  out.push('x-forwarded-for', clientAddress, 'x-real-ip', clientAddress);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('x-forwarded-port', listener.port, 'x-forwarded-proto', listener.proto);
  requestId ??= newRequestId();
  out.push('x-request-id', requestId);
  into.requestId = requestId;
  into.userAgent = userAgent;
  into.referer = referer;
  into.headers = out;
  into.host = host;
  into.hasBody = hasBody;
  into.upgrade = upgrade;
}

/**
 * The request head written on an upgrade tunnel: the same rules as buildRequestHead, but
 * `Connection: Upgrade` and the Upgrade header are kept, and the head is rendered as text.
 */
export function renderUpgradeHead(method: string, target: string, head: RequestHead): string {
  let text = `${method} ${target} HTTP/1.1\r\n`;
  const headers = head.headers;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (head.upgrade !== undefined) text += `Connection: Upgrade\r\nUpgrade: ${head.upgrade}\r\n`;
  return `${text}\r\n`;
}

/**
 * Response headers for the client: flat list, hop-by-hop removed, `Server: portico` if none, and
 * `hsts` as Strict-Transport-Security when given and the upstream sent none of its own.
 */
export function buildResponseHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, hsts?: string): string[] {
  const out: string[] = [];
  let named: string[] | undefined;
  let hasServer = false;
  let hasHsts = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (RESPONSE_HOP.has(name)) {
      if (name === 'connection') {
        if (typeof value === 'string') named = connectionTokens(value, named);
        else for (const v of value) named = connectionTokens(v, named);
      }
      continue;
    }
    if (name === 'server') hasServer = true;
    else if (name === 'strict-transport-security') hasHsts = true;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  const result = named === undefined ? out : removeNamed(out, named, true);
  if (!hasServer) result.push('server', 'portico');
  if (hsts !== undefined && !hasHsts) result.push('strict-transport-security', hsts);
  return result;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; other addresses unchanged. */
export function clientAddressOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '';
  if (remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')) return remoteAddress.slice(7);
  return remoteAddress;
}
