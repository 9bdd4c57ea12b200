// custom-http-errors: the default backend's answer in place of the upstream's. As ingress-nginx's
// error_page location: a request to `/` with the original method (no body: the original body
// went to the upstream already), the client's Host, and X-Code, X-Format, X-Original-URI,
// X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID, X-Forwarded-For. Its
// response (status included: nginx does not change it) is read whole, up to MAX_PAGE_BYTES, and
// written to the client with a Content-Length. Shared by the engine's HTTP/1.1 connections and the
// HTTP/2 front: the decision (interceptsStatus), the request (startErrorPage) are the same on both.
import { request } from 'node:http';
import type { BackendRegistry } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Endpoint, RouteMatch, RoutePolicies } from '../model/route-model.js';

export const MAX_PAGE_BYTES = 1024 * 1024;

export interface ErrorPageRequest {
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface ErrorPage {
  readonly status: number;
  readonly statusMessage: string;
  /** The default backend's fields, hop-by-hop and framing ones removed. */
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'te', 'trailer', 'upgrade']);

export function fetchErrorPage(o: ErrorPageRequest): Promise<ErrorPage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.endpoint.address, port: o.endpoint.port, method: o.method, path: '/', headers: o.headers, agent: false, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PAGE_BYTES) req.destroy(new Error('default backend response over 1 MiB'));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const fields: Array<readonly [string, string]> = [];
        const raw = res.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) if (!DROPPED.has(raw[i]!.toLowerCase())) fields.push([raw[i]!, raw[i + 1]!]);
        resolve({ status: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', fields, body: Buffer.concat(chunks) });
      });
    });
    req.on('timeout', () => req.destroy(new Error('default backend timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * custom-http-errors applies to this upstream status: the route lists it, has a default backend
 * (its own or the controller's), and the whole request body went upstream (else the upstream's
 * answer is relayed: the request cannot be answered while it is still being sent).
 */
export function interceptsStatus(policies: RoutePolicies | undefined, status: number, bodyDone: boolean): boolean {
  const listed = policies?.customHttpErrors;
  return listed !== undefined && bodyDone && policies!.defaultBackend !== undefined && listed.includes(status);
}

/** What the default backend is told of the request it answers for (whatever the client's HTTP version). */
export interface ErrorPageOrigin {
  /** The upstream's status (X-Code). */
  readonly status: number;
  readonly method: string;
  /** The client's Host ('' when it sent none: the default backend's endpoint then). */
  readonly host: string;
  /** The client's Accept (X-Format), if any. */
  readonly accept: string | undefined;
  /** The request target as the client sent it, origin-form (X-Original-URI). */
  readonly originalUri: string;
  /** The route (X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port). */
  readonly match: RouteMatch;
  readonly requestId: string;
  /** The client (X-Forwarded-For): the peer, or the real IP behind trusted proxies. */
  readonly clientAddress: string;
}

export type ErrorPageStart =
  | { readonly endpoint: Endpoint; readonly page: Promise<ErrorPage> }
  /** No endpoint to ask: the client gets 503 with this code. */
  | { readonly endpoint: undefined; readonly code: ErrorCode };

/** The fields of the request to the default backend (ingress-nginx's error_page location). */
export function errorPageHeaders(origin: ErrorPageOrigin, endpoint: Endpoint): Record<string, string> {
  const { match } = origin;
  const slash = match.ingress.indexOf('/');
  return {
    host: origin.host || endpoint.key,
    'x-code': String(origin.status),
    ...(origin.accept !== undefined && { 'x-format': origin.accept }),
    'x-original-uri': origin.originalUri,
    'x-namespace': match.ingress.slice(0, slash),
    'x-ingress-name': match.ingress.slice(slash + 1),
    'x-service-name': match.backend.service,
    'x-service-port': String(match.backend.port),
    'x-request-id': origin.requestId,
    'x-forwarded-for': origin.clientAddress,
  };
}

/** Asks the route's default backend (policies.defaultBackend, which interceptsStatus checked) for the page. */
export function startErrorPage(origin: ErrorPageOrigin, backends: BackendRegistry, timeoutMs: number): ErrorPageStart {
  const fallback = origin.match.route?.policies?.defaultBackend;
  const backend = fallback === undefined ? undefined : backends.get(fallback.key);
  const endpoint = backend === undefined || backend.current.problem !== undefined ? undefined : backend.balancer.pick();
  if (endpoint === undefined) return { endpoint: undefined, code: backend?.current.problem?.code ?? 'PORTICO_ERR_BACKEND_NO_ENDPOINTS' };
  return { endpoint, page: fetchErrorPage({ endpoint, method: origin.method, headers: errorPageHeaders(origin, endpoint), timeoutMs }) };
}
