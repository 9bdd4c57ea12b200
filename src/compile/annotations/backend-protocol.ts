// backend-protocol (HTTP, HTTPS) with proxy-ssl-name / proxy-ssl-server-name: how Portico talks to
// the pods. HTTPS is TLS without verifying the pod's certificate, as ingress-nginx's default
// (proxy-ssl-verify off); SNI is sent only with proxy-ssl-server-name "on", naming proxy-ssl-name.
// gRPC (GRPC, GRPCS) and FCGI are not served yet: such an Ingress is served over HTTP/1.1 with an
// error diagnostic, since a gRPC backend will refuse it.
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const BACKEND_PROTOCOL = `${NGINX_PREFIX}backend-protocol`;
export const PROXY_SSL_NAME = `${NGINX_PREFIX}proxy-ssl-name`;
export const PROXY_SSL_SERVER_NAME = `${NGINX_PREFIX}proxy-ssl-server-name`;

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-.]*[A-Za-z0-9])?$/;

export function parseBackendProtocol(raw: Annotations, problems: AnnotationProblem[]): { readonly serverName?: string } | undefined {
  const protocol = raw[BACKEND_PROTOCOL]?.trim().toUpperCase();
  if (protocol === undefined || protocol === '' || protocol === 'HTTP' || protocol === 'AUTO_HTTP') return undefined;
  if (protocol !== 'HTTPS') {
    problems.push({ key: BACKEND_PROTOCOL, severity: 'error', message: `annotation ${BACKEND_PROTOCOL}: ${JSON.stringify(raw[BACKEND_PROTOCOL])} is not supported yet (HTTP and HTTPS are); served over HTTP/1.1` });
    return undefined;
  }
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
