// backend-protocol (HTTP, HTTPS) with proxy-ssl-name / proxy-ssl-server-name: how Portico talks to
// the pods. HTTPS is TLS without verifying the pod's certificate, as ingress-nginx's default
// (proxy-ssl-verify off); SNI is sent only with proxy-ssl-server-name "on", naming proxy-ssl-name.
// GRPC and GRPCS: gRPC over HTTP/2 to the pod (cleartext h2c, or TLS as HTTPS), for HTTP/2 clients.
// FCGI is not served: an error diagnostic, and the route speaks HTTP/1.1.
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const BACKEND_PROTOCOL = `${NGINX_PREFIX}backend-protocol`;
export const PROXY_SSL_NAME = `${NGINX_PREFIX}proxy-ssl-name`;
export const PROXY_SSL_SERVER_NAME = `${NGINX_PREFIX}proxy-ssl-server-name`;

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-.]*[A-Za-z0-9])?$/;

/** How the route talks to its pods: gRPC (HTTP/2) or HTTP/1.1, over TLS when `tls` is set. */
export interface BackendProtocol {
  readonly grpc: boolean;
  readonly tls: { readonly serverName?: string } | undefined;
}

export function parseBackendProtocol(raw: Annotations, problems: AnnotationProblem[]): BackendProtocol | undefined {
  const protocol = raw[BACKEND_PROTOCOL]?.trim().toUpperCase();
  if (protocol === undefined || protocol === '' || protocol === 'HTTP' || protocol === 'AUTO_HTTP') return undefined;
  if (protocol === 'GRPC') return Object.freeze({ grpc: true, tls: undefined });
  if (protocol !== 'HTTPS' && protocol !== 'GRPCS') {
    problems.push({ key: BACKEND_PROTOCOL, severity: 'error', message: `annotation ${BACKEND_PROTOCOL}: ${JSON.stringify(raw[BACKEND_PROTOCOL])} is not supported (HTTP, HTTPS, GRPC and GRPCS are); served over HTTP/1.1` });
    return undefined;
  }
  return Object.freeze({ grpc: protocol === 'GRPCS', tls: parseUpstreamSni(raw, problems) });
}

function parseUpstreamSni(raw: Annotations, problems: AnnotationProblem[]): { readonly serverName?: string } {
  // nginx's on / off (true / false accepted too).
  const sni = raw[PROXY_SSL_SERVER_NAME]?.trim().toLowerCase();
  if (sni !== undefined && !['on', 'off', 'true', 'false'].includes(sni)) problems.push({ key: PROXY_SSL_SERVER_NAME, severity: 'warning', message: `annotation ${PROXY_SSL_SERVER_NAME} must be "on" or "off", got ${JSON.stringify(raw[PROXY_SSL_SERVER_NAME])}; off` });
  if (sni !== 'on' && sni !== 'true') return Object.freeze({});
  const name = raw[PROXY_SSL_NAME]?.trim();
  if (name === undefined || !HOST.test(name)) {
    if (name !== undefined) problems.push({ key: PROXY_SSL_NAME, severity: 'warning', message: `annotation ${PROXY_SSL_NAME}: ${JSON.stringify(name)} is not a host name; no SNI sent` });
    return Object.freeze({});
  }
  return Object.freeze({ serverName: name });
}
