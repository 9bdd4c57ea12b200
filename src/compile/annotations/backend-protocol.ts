// backend-protocol (HTTP, HTTPS, GRPC, GRPCS) with the proxy-ssl-* annotations: how Portico talks to
// the pods. HTTPS is TLS, by default without verifying the pod's certificate (ingress-nginx's
// proxy-ssl-verify off); SNI is sent only with proxy-ssl-server-name "on", naming proxy-ssl-name.
// proxy-ssl-secret (a Secret with ca.crt and / or tls.crt + tls.key) gives the CAs proxy-ssl-verify
// "on" trusts and the client certificate presented to the pod; the compiler reads it
// (compile/proxy-ssl-secret.ts). Whatever asks for verification and cannot have it refuses the
// route (every request 502) rather than send it unverified.
// GRPC and GRPCS: gRPC over HTTP/2 to the pod (cleartext h2c, or TLS as HTTPS), for HTTP/2 clients.
// FCGI is not served: an error diagnostic, and the route speaks HTTP/1.1.
import type { UpstreamTlsPolicy, UpstreamTlsVersion } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const BACKEND_PROTOCOL = `${NGINX_PREFIX}backend-protocol`;
export const PROXY_SSL_NAME = `${NGINX_PREFIX}proxy-ssl-name`;
export const PROXY_SSL_SERVER_NAME = `${NGINX_PREFIX}proxy-ssl-server-name`;
export const PROXY_SSL_SECRET = `${NGINX_PREFIX}proxy-ssl-secret`;
export const PROXY_SSL_VERIFY = `${NGINX_PREFIX}proxy-ssl-verify`;
export const PROXY_SSL_VERIFY_DEPTH = `${NGINX_PREFIX}proxy-ssl-verify-depth`;
export const PROXY_SSL_PROTOCOLS = `${NGINX_PREFIX}proxy-ssl-protocols`;
export const PROXY_SSL_CIPHERS = `${NGINX_PREFIX}proxy-ssl-ciphers`;
export const PROXY_SSL_KEYS = [PROXY_SSL_NAME, PROXY_SSL_SERVER_NAME, PROXY_SSL_SECRET, PROXY_SSL_VERIFY, PROXY_SSL_VERIFY_DEPTH, PROXY_SSL_PROTOCOLS, PROXY_SSL_CIPHERS] as const;

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-.]*[A-Za-z0-9])?$/;
const NAME = /^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$/;
const VERSIONS: readonly UpstreamTlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
// OpenSSL cipher-list syntax: names, and the : , ! + - @ = separators and operators.
const CIPHERS = /^[A-Za-z0-9_.=@+!:,-]+$/;

/** proxy-ssl-secret and what it must give: the compiler reads the Secret and completes the policy. */
export interface ProxySslRequest {
  /** `namespace/name`; undefined when proxy-ssl-secret is not set. */
  readonly secret: string | undefined;
  /** proxy-ssl-verify on: the name to check (undefined: the route's Service) and the depth. */
  readonly verify: { readonly name?: string; readonly depth: number } | undefined;
}

/** How the route talks to its pods: gRPC (HTTP/2) or HTTP/1.1, over TLS when `tls` is set. */
export interface BackendProtocol {
  readonly grpc: boolean;
  /** Without the Secret's contents: `proxySsl` says what the compiler adds. */
  readonly tls: UpstreamTlsPolicy | undefined;
  readonly proxySsl: ProxySslRequest | undefined;
}

export function parseBackendProtocol(raw: Annotations, namespace: string, problems: AnnotationProblem[]): BackendProtocol | undefined {
  const protocol = raw[BACKEND_PROTOCOL]?.trim().toUpperCase();
  const tlsKeys = PROXY_SSL_KEYS.filter((key) => raw[key] !== undefined && key !== PROXY_SSL_NAME && key !== PROXY_SSL_SERVER_NAME);
  const plain = (): undefined => {
    // As nginx: the proxy_ssl_* directives do nothing for a proxy_pass to http://.
    if (tlsKeys.length > 0) problems.push({ key: tlsKeys[0]!, severity: 'warning', message: `annotation ${tlsKeys.join(', ')}: no effect without backend-protocol HTTPS or GRPCS (the pods are spoken to in cleartext)` });
    return undefined;
  };
  if (protocol === undefined || protocol === '' || protocol === 'HTTP' || protocol === 'AUTO_HTTP') return plain();
  if (protocol === 'GRPC') {
    plain();
    return Object.freeze({ grpc: true, tls: undefined, proxySsl: undefined });
  }
  if (protocol !== 'HTTPS' && protocol !== 'GRPCS') {
    problems.push({ key: BACKEND_PROTOCOL, severity: 'error', message: `annotation ${BACKEND_PROTOCOL}: ${JSON.stringify(raw[BACKEND_PROTOCOL])} is not supported (HTTP, HTTPS, GRPC and GRPCS are); served over HTTP/1.1` });
    return plain();
  }
  const { tls, proxySsl } = parseProxySsl(raw, namespace, problems);
  return Object.freeze({ grpc: protocol === 'GRPCS', tls, proxySsl });
}

function parseProxySsl(raw: Annotations, namespace: string, problems: AnnotationProblem[]): { tls: UpstreamTlsPolicy; proxySsl: ProxySslRequest | undefined } {
  const refusals: string[] = [];
  // An error that leaves the route refused (never proxied unverified).
  const refuse = (key: string, why: string): void => {
    problems.push({ key, severity: 'error', message: `annotation ${key}: ${why}; every request to the Ingress's paths gets 502 rather than go to the pods without it` });
    refusals.push(`${key}: ${why}`);
  };
  const serverName = parseUpstreamSni(raw, problems);
  const name = serverNameOf(raw);

  const verifyRaw = raw[PROXY_SSL_VERIFY]?.trim().toLowerCase();
  // nginx's on / off only: anything else may have meant "on", so it is not taken as off.
  if (verifyRaw !== undefined && verifyRaw !== 'on' && verifyRaw !== 'off') refuse(PROXY_SSL_VERIFY, `must be "on" or "off", got ${JSON.stringify(raw[PROXY_SSL_VERIFY])}`);
  const verifyOn = verifyRaw === 'on';

  let depth = 1;
  const depthRaw = raw[PROXY_SSL_VERIFY_DEPTH]?.trim();
  if (depthRaw !== undefined) {
    if (/^\d{1,3}$/.test(depthRaw)) depth = Number(depthRaw);
    else problems.push({ key: PROXY_SSL_VERIFY_DEPTH, severity: 'warning', message: `annotation ${PROXY_SSL_VERIFY_DEPTH}: ${JSON.stringify(raw[PROXY_SSL_VERIFY_DEPTH])} is not a whole number 0…999; 1 (the default) applies` });
  }

  let secret: string | undefined;
  const ref = raw[PROXY_SSL_SECRET]?.trim();
  if (ref !== undefined) {
    const parts = ref.split('/');
    const [ns, secretName] = parts.length === 2 ? (parts as [string, string]) : parts.length === 1 ? [namespace, parts[0]!] : ['', ''];
    if (NAME.test(ns) && NAME.test(secretName)) secret = `${ns}/${secretName}`;
    else refuse(PROXY_SSL_SECRET, `${JSON.stringify(raw[PROXY_SSL_SECRET])} is not a Secret name or namespace/name`);
  }
  if (verifyOn && ref === undefined) refuse(PROXY_SSL_VERIFY, '"on" needs proxy-ssl-secret with a ca.crt to verify against');

  const versions = parseProtocols(raw, problems);
  const ciphersRaw = raw[PROXY_SSL_CIPHERS]?.trim();
  let ciphers: string | undefined;
  if (ciphersRaw !== undefined && ciphersRaw !== 'DEFAULT') {
    if (CIPHERS.test(ciphersRaw)) ciphers = ciphersRaw;
    else problems.push({ key: PROXY_SSL_CIPHERS, severity: 'warning', message: `annotation ${PROXY_SSL_CIPHERS}: ${JSON.stringify(raw[PROXY_SSL_CIPHERS])} is not an OpenSSL cipher list; DEFAULT applies` });
  }

  const tls: UpstreamTlsPolicy = Object.freeze({
    ...(serverName !== undefined && { serverName }),
    ...versions,
    ...(ciphers !== undefined && { ciphers }),
    ...(refusals.length > 0 && { refused: refusals.join('; ') }),
  });
  if (refusals.length > 0 || (secret === undefined && !verifyOn)) return { tls, proxySsl: undefined };
  return { tls, proxySsl: Object.freeze({ secret, verify: verifyOn ? Object.freeze({ ...(name !== undefined && { name }), depth }) : undefined }) };
}

/** proxy-ssl-protocols: nginx's space-separated list, as Node's lowest and highest version. */
function parseProtocols(raw: Annotations, problems: AnnotationProblem[]): { minVersion?: UpstreamTlsVersion; maxVersion?: UpstreamTlsVersion } {
  const value = raw[PROXY_SSL_PROTOCOLS]?.trim();
  if (value === undefined) return {};
  const bad = (why: string) => {
    problems.push({ key: PROXY_SSL_PROTOCOLS, severity: 'warning', message: `annotation ${PROXY_SSL_PROTOCOLS}: ${JSON.stringify(raw[PROXY_SSL_PROTOCOLS])} ${why}; TLSv1.2 TLSv1.3 (the default) applies` });
    return {};
  };
  const listed = value.split(/\s+/);
  const unknown = listed.filter((v) => !VERSIONS.includes(v as UpstreamTlsVersion));
  if (value === '' || unknown.length > 0) return bad(`${unknown.length > 0 ? `names ${unknown.join(', ')}, not one of` : 'is empty; list some of'} ${VERSIONS.join(' ')}`);
  const indexes = [...new Set(listed.map((v) => VERSIONS.indexOf(v as UpstreamTlsVersion)))].sort();
  const min = indexes[0]!;
  const max = indexes[indexes.length - 1]!;
  if (max - min + 1 !== indexes.length) return bad('is not a contiguous range of versions (Node TLS takes a lowest and a highest)');
  // The default range is left absent.
  if (min === 2 && max === 3) return {};
  return { minVersion: VERSIONS[min]!, maxVersion: VERSIONS[max]! };
}

function serverNameOf(raw: Annotations): string | undefined {
  const name = raw[PROXY_SSL_NAME]?.trim();
  return name !== undefined && HOST.test(name) ? name : undefined;
}

function parseUpstreamSni(raw: Annotations, problems: AnnotationProblem[]): string | undefined {
  const name = raw[PROXY_SSL_NAME]?.trim();
  if (name !== undefined && !HOST.test(name)) problems.push({ key: PROXY_SSL_NAME, severity: 'warning', message: `annotation ${PROXY_SSL_NAME}: ${JSON.stringify(name)} is not a host name; no SNI sent, and proxy-ssl-verify checks the Service's name` });
  // nginx's on / off (true / false accepted too).
  const sni = raw[PROXY_SSL_SERVER_NAME]?.trim().toLowerCase();
  if (sni !== undefined && !['on', 'off', 'true', 'false'].includes(sni)) problems.push({ key: PROXY_SSL_SERVER_NAME, severity: 'warning', message: `annotation ${PROXY_SSL_SERVER_NAME} must be "on" or "off", got ${JSON.stringify(raw[PROXY_SSL_SERVER_NAME])}; off` });
  if (sni !== 'on' && sni !== 'true') return undefined;
  return serverNameOf(raw);
}
