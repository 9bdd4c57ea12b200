// Ingress annotations are read here and nowhere else: one module per feature parses its keys into a
// typed, frozen policy (undefined when absent) and reports bad values as problems; this file
// composes them. Values are untrusted: a bad value is a diagnostic, never an exception.
import type { Ingress } from '../../model/k8s-objects.js';
import type { RoutePolicies } from '../../model/route-model.js';
import { APP_ROOT as APP_ROOT_KEY, parseAppRoot } from './app-root.js';
import { NGINX_PREFIX as PREFIX } from './keys.js';
import {
  parseRedirect,
  PERMANENT_REDIRECT as PERMANENT_REDIRECT_KEY,
  PERMANENT_REDIRECT_CODE as PERMANENT_REDIRECT_CODE_KEY,
  TEMPORAL_REDIRECT as TEMPORAL_REDIRECT_KEY,
  TEMPORAL_REDIRECT_CODE as TEMPORAL_REDIRECT_CODE_KEY,
} from './redirect.js';
import { ENABLE_ACCESS_LOG, parseAccessLog } from './access-log.js';
import { AFFINITY_KEYS, parseAffinity } from './affinity.js';
import { AUTH_BASIC_KEYS, parseBasicAuth, type BasicAuthRequest } from './auth-basic.js';
import { AUTH_URL_KEYS, parseExternalAuth } from './auth-url.js';
import { NEXT_UPSTREAM_KEYS, parseNextUpstream } from './next-upstream.js';
import { BACKEND_PROTOCOL, parseBackendProtocol, PROXY_SSL_KEYS, PROXY_SSL_VERIFY_DEPTH, type ProxySslRequest } from './backend-protocol.js';
import { parseBodySize, PROXY_BODY_SIZE } from './body-size.js';
import { parseProxyTimeouts, PROXY_CONNECT_TIMEOUT, PROXY_READ_TIMEOUT, PROXY_SEND_TIMEOUT } from './proxy-timeouts.js';
import { CANARY_KEYS, parseCanary, type CanaryRules } from './canary.js';
import { CORS_KEYS, parseCors } from './cors.js';
import { FROM_TO_WWW_REDIRECT, parseHostAliases, SERVER_ALIAS, type HostAliasAnnotations } from './host-aliases.js';
import { LIMIT_ALLOWLIST, LIMIT_BURST_MULTIPLIER, LIMIT_RPM, LIMIT_RPS, LIMIT_WHITELIST, parseRateLimit } from './rate-limit.js';
import { parseRewrite, REWRITE_TARGET as REWRITE_TARGET_KEY, USE_REGEX as USE_REGEX_KEY } from './rewrite.js';
import { ALLOWLIST_SOURCE_RANGE as ALLOWLIST_KEY, DENYLIST_SOURCE_RANGE as DENYLIST_KEY, parseSourceRange, WHITELIST_SOURCE_RANGE as WHITELIST_KEY } from './source-range.js';
import { FORCE_SSL_REDIRECT as FORCE_SSL_REDIRECT_KEY, parseSslRedirect, SSL_REDIRECT as SSL_REDIRECT_KEY, type SslRedirectAnnotations } from './ssl-redirect.js';
import { parseForwardedPrefix, parseUpstreamVhost, UPSTREAM_VHOST as UPSTREAM_VHOST_KEY, X_FORWARDED_PREFIX as X_FORWARDED_PREFIX_KEY } from './upstream-headers.js';
import { LIMIT_CONNECTIONS, parseConnectionLimit } from './connection-limit.js';
import { CUSTOM_HTTP_ERRORS, DEFAULT_BACKEND, parseDefaultBackend } from './default-backend.js';
import { parseServiceUpstream, SERVICE_UPSTREAM } from './service-upstream.js';
import { MIRROR_KEYS, MIRROR_TARGET, parseMirror } from './mirror.js';
import { LOAD_BALANCE, parseLoadBalance, parseUpstreamHashBy, UPSTREAM_HASH_BY } from './load-balance.js';
import type { AnnotationProblem } from './values.js';
import type { ResolvedControllerConfig } from '../configmap.js';

export { NGINX_PREFIX } from './keys.js';
export { FORCE_SSL_REDIRECT, SSL_REDIRECT } from './ssl-redirect.js';
export { ALLOWLIST_SOURCE_RANGE, DENYLIST_SOURCE_RANGE, WHITELIST_SOURCE_RANGE } from './source-range.js';
export { UPSTREAM_VHOST, X_FORWARDED_PREFIX } from './upstream-headers.js';
export { PERMANENT_REDIRECT, PERMANENT_REDIRECT_CODE, TEMPORAL_REDIRECT, TEMPORAL_REDIRECT_CODE } from './redirect.js';
export { APP_ROOT } from './app-root.js';
export { REWRITE_TARGET, USE_REGEX } from './rewrite.js';
export { CORS_ALLOW_CREDENTIALS, CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_ALLOW_ORIGIN, CORS_DEFAULTS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE, ENABLE_CORS } from './cors.js';
export { LIMIT_ALLOWLIST, LIMIT_BURST_MULTIPLIER, LIMIT_RPM, LIMIT_RPS, LIMIT_WHITELIST } from './rate-limit.js';
export type { AnnotationProblem } from './values.js';

export { FROM_TO_WWW_REDIRECT, SERVER_ALIAS } from './host-aliases.js';
export { AUTH_REALM, AUTH_SECRET, AUTH_SECRET_TYPE, AUTH_TYPE, type BasicAuthRequest } from './auth-basic.js';
export { parseNginxSize, PROXY_BODY_SIZE } from './body-size.js';
export { PROXY_CONNECT_TIMEOUT, PROXY_READ_TIMEOUT, PROXY_SEND_TIMEOUT } from './proxy-timeouts.js';
export { CANARY, CANARY_BY_COOKIE, CANARY_BY_HEADER, CANARY_BY_HEADER_PATTERN, CANARY_BY_HEADER_VALUE, CANARY_WEIGHT, CANARY_WEIGHT_TOTAL, type CanaryRules } from './canary.js';

export interface IngressAnnotations extends SslRedirectAnnotations, HostAliasAnnotations {
  /** What every route of this Ingress carries; undefined when no per-route feature is set. */
  readonly policies: RoutePolicies | undefined;
  /** auth-type: basic: the Secret to read (the compiler turns it into the basicAuth policy); 'refused': unusable, refuse everyone. */
  readonly basicAuth: BasicAuthRequest | 'refused' | undefined;
  /** proxy-ssl-secret / proxy-ssl-verify on: the Secret to read into policies.upstreamTls (the compiler does). */
  readonly proxySsl: ProxySslRequest | undefined;
  /** canary: "true": this Ingress's paths are canaries of the main Ingress's same paths. */
  readonly canary: CanaryRules | undefined;
  /** service-upstream: "true": the paths' backends are their Services' ClusterIPs. */
  readonly serviceUpstream: boolean;
  /** use-regex or rewrite-target: the paths are regular expressions, and their hosts in regex mode. */
  readonly regex: boolean;
  /** `nginx.ingress.kubernetes.io/*-snippet` keys present (raw nginx configuration: never executed). */
  readonly snippets: readonly string[];
  /** Other `nginx.ingress.kubernetes.io/*` keys Portico does not implement, sorted. */
  readonly unsupported: readonly string[];
}

/**
 * nginx buffer and temp-file tuning: Portico streams bodies with back-pressure and has none of
 * these buffers, so they change nothing here (migrate-check says so; no warning on the Ingress).
 */
const NO_EFFECT = 'no effect: Portico streams request and response bodies with back-pressure (a request body is read whole first only up to 64 KiB) and has no nginx buffers or temp files';
export const NO_EFFECT_ANNOTATIONS: Readonly<Record<string, string>> = Object.fromEntries(
  ['proxy-buffering', 'proxy-buffer-size', 'proxy-buffers-number', 'proxy-busy-buffers-size', 'proxy-max-temp-file-size', 'proxy-request-buffering', 'client-body-buffer-size', 'proxy-http-version'].map((name) => [
    `${PREFIX}${name}`,
    name === 'proxy-http-version' ? 'no effect: Portico always speaks HTTP/1.1 to backends (keep-alive)' : NO_EFFECT,
  ]),
);

/** Every ingress-nginx annotation Portico reads (the others are reported, never silently dropped). */
export const SUPPORTED_ANNOTATIONS: ReadonlySet<string> = new Set([
  SSL_REDIRECT_KEY,
  FORCE_SSL_REDIRECT_KEY,
  WHITELIST_KEY,
  ALLOWLIST_KEY,
  DENYLIST_KEY,
  UPSTREAM_VHOST_KEY,
  X_FORWARDED_PREFIX_KEY,
  PERMANENT_REDIRECT_KEY,
  PERMANENT_REDIRECT_CODE_KEY,
  TEMPORAL_REDIRECT_KEY,
  TEMPORAL_REDIRECT_CODE_KEY,
  APP_ROOT_KEY,
  USE_REGEX_KEY,
  REWRITE_TARGET_KEY,
  LIMIT_RPS,
  LIMIT_RPM,
  LIMIT_BURST_MULTIPLIER,
  LIMIT_WHITELIST,
  LIMIT_ALLOWLIST,
  ...CORS_KEYS,
  SERVER_ALIAS,
  FROM_TO_WWW_REDIRECT,
  ...CANARY_KEYS,
  PROXY_BODY_SIZE,
  PROXY_CONNECT_TIMEOUT,
  PROXY_READ_TIMEOUT,
  PROXY_SEND_TIMEOUT,
  ENABLE_ACCESS_LOG,
  ...AFFINITY_KEYS,
  BACKEND_PROTOCOL,
  ...PROXY_SSL_KEYS,
  ...AUTH_BASIC_KEYS,
  ...AUTH_URL_KEYS,
  ...NEXT_UPSTREAM_KEYS,
  ...Object.keys(NO_EFFECT_ANNOTATIONS),
  UPSTREAM_HASH_BY,
  LOAD_BALANCE,
  LIMIT_CONNECTIONS,
  DEFAULT_BACKEND,
  CUSTOM_HTTP_ERRORS,
  SERVICE_UPSTREAM,
  ...MIRROR_KEYS,
]);

export const isSnippet = (key: string): boolean => key.endsWith('-snippet');

export { PROXY_SSL_CIPHERS, PROXY_SSL_NAME, PROXY_SSL_PROTOCOLS, PROXY_SSL_SECRET, PROXY_SSL_SERVER_NAME, PROXY_SSL_VERIFY, PROXY_SSL_VERIFY_DEPTH, type ProxySslRequest } from './backend-protocol.js';

/** Where a supported annotation behaves differently from ingress-nginx (migrate-check and the README say so). */
export const ANNOTATION_DIFFERENCES: Readonly<Record<string, string>> = {
  [WHITELIST_KEY]: 'checked before redirects; an unreadable list answers 403 to everyone',
  [ALLOWLIST_KEY]: 'checked before redirects; an unreadable list answers 403 to everyone',
  [DENYLIST_KEY]: 'checked before redirects; an unreadable list answers 403 to everyone',
  [LIMIT_RPS]: 'counted per worker process with --workers N (nginx shares one zone)',
  [LIMIT_RPM]: 'counted per worker process with --workers N (nginx shares one zone)',
  [USE_REGEX_KEY]: 'JavaScript regular expressions on a linear-time engine: lookarounds and backreferences are refused; paths match with only unreserved characters percent-decoded',
  [REWRITE_TARGET_KEY]: 'JavaScript regular expressions; only $1…$9 in the target',
  [PERMANENT_REDIRECT_KEY]: 'only $request_uri, $uri, $args, $host, $scheme are expanded',
  [TEMPORAL_REDIRECT_KEY]: 'only $request_uri, $uri, $args, $host, $scheme are expanded',
  [PROXY_BODY_SIZE]: 'a chunked body is counted with its chunk framing; past the limit mid-upload (beyond the first 64 KiB) the upstream request is cut and the client gets 413; the node data plane checks only Content-Length',
  [PROXY_READ_TIMEOUT]: 'read and send share one inactivity timer: the larger of the two applies to both',
  [PROXY_SEND_TIMEOUT]: 'read and send share one inactivity timer: the larger of the two applies to both',
  [PROXY_CONNECT_TIMEOUT]: 'the node data plane keeps its pool-wide connect timeout',
  [`${PREFIX}affinity-mode`]: 'balanced behaves as persistent: a client stays on its endpoint while it is there',
  [BACKEND_PROTOCOL]: 'HTTP, HTTPS, GRPC, GRPCS (FCGI is an error); HTTPS and gRPC on the engine data plane only (the node plane answers 502); gRPC only for HTTP/2 clients (an HTTP/1.1 request to a gRPC route gets 502)',
  [`${PREFIX}proxy-ssl-verify`]: 'on needs proxy-ssl-secret with ca.crt (ingress-nginx then silently does not verify): without it, or with a value other than on / off, the routes answer 502; without proxy-ssl-name the certificate must name the route\'s Service, service.namespace.svc (nginx checks $proxy_host, "upstream_balancer"); engine data plane only',
  [`${PREFIX}proxy-ssl-secret`]: 'a missing or unusable Secret answers 502 PORTICO_ERR_PROXY_UPSTREAM_TLS (ingress-nginx denies the location: 503); a name without namespace/ is the Ingress\'s namespace; engine data plane only',
  [`${PREFIX}proxy-ssl-protocols`]: 'a contiguous range of TLSv1 … TLSv1.3 (Node TLS takes a lowest and a highest version); SSLv2 / SSLv3 are refused (warning, default applies)',
  [`${PREFIX}proxy-ssl-ciphers`]: 'only the syntax is checked when compiling; a list OpenSSL does not take answers 502 (nginx refuses the configuration)',
  [PROXY_SSL_VERIFY_DEPTH]: 'counts the intermediate CA certificates between the pod\'s certificate and the trusted one in the verified chain, as OpenSSL\'s verify depth',
  ...NO_EFFECT_ANNOTATIONS,
  [`${PREFIX}proxy-next-upstream`]: 'only failed connects are retried (error, timeout); the http_* and invalid_header conditions are not; the node data plane keeps its own retries',
  [SERVER_ALIAS]: 'an alias gets a certificate only through some Ingress’s spec.tls',
  [`${PREFIX}canary-by-header-pattern`]: 'a JavaScript regular expression',
  [UPSTREAM_HASH_BY]: 'rendezvous hashing over the endpoints (nginx: a ketama ring), so the endpoint a key maps to differs from ingress-nginx’s (the consistency is the same); variables: $request_uri, $uri, $args, $host, $scheme, $remote_addr, $request_method, $http_*, $cookie_*, $arg_*; retries after a failed connect use round robin; upstream-hash-by-subset is not implemented',
  [LOAD_BALANCE]: 'ewma: per worker process with --workers N (nginx shares it between workers); retries after a failed connect use round robin',
  [DEFAULT_BACKEND]: 'the Service’s first port; the node data plane uses it only when the Service has no endpoints (custom-http-errors are the engine’s)',
  [CUSTOM_HTTP_ERRORS]: 'needs default-backend or --default-backend-service; engine data plane, HTTP/1.1 clients only; the default backend gets the original method at `/` without the request body; its response is read whole (up to 1 MiB, else 502); only when the request body was complete before the upstream answered',
  [MIRROR_TARGET]: 'engine data plane only (HTTP/1.1 clients); only $request_uri, $uri, $args, $host, $scheme are expanded; the copy is cut when it falls 1 MiB behind the client, and skipped beyond 256 copies in flight per process',
  [SERVICE_UPSTREAM]: 'a headless Service (no ClusterIP) keeps its pod endpoints; the route’s retries and affinity see one endpoint',
  [LIMIT_CONNECTIONS]: 'counts the Ingress’s requests in flight per client address (a proxy routing per request cannot count connections per Ingress), per worker process with --workers N',
};

/**
 * `defaults`: the controller ConfigMap's settings (--configmap); an annotation beats them, and
 * they beat Portico's defaults.
 */
export function parseIngressAnnotations(ingress: Ingress, defaults: ResolvedControllerConfig = {}): { annotations: IngressAnnotations; problems: AnnotationProblem[] } {
  const raw = ingress.metadata.annotations ?? {};
  const problems: AnnotationProblem[] = [];
  const sslRedirect = parseSslRedirect(raw, problems, defaults);
  const sourceRange = parseSourceRange(raw, problems);
  const upstreamVhost = parseUpstreamVhost(raw, problems);
  const forwardedPrefix = parseForwardedPrefix(raw, problems);
  const redirect = parseRedirect(raw, problems);
  const appRoot = parseAppRoot(raw, problems);
  const rewrite = parseRewrite(raw, problems);
  const cors = parseCors(raw, problems);
  const hostAliases = parseHostAliases(raw, problems);
  const canary = parseCanary(raw, problems);
  const maxBodySize = parseBodySize(raw, problems) ?? defaults.maxBodySize;
  const ownTimeouts = parseProxyTimeouts(raw, problems);
  const timeouts = defaults.timeouts === undefined ? ownTimeouts : Object.freeze({ ...defaults.timeouts, ...ownTimeouts });
  // enable-access-log: "true" on the Ingress beats the ConfigMap's disable-access-log.
  const accessLog = parseAccessLog(raw, problems) ?? (defaults.accessLog === false && raw[ENABLE_ACCESS_LOG] === undefined ? false : undefined);
  const ownRateLimit = parseRateLimit(raw, problems);
  const rateLimit = ownRateLimit && defaults.rateLimitStatus !== undefined ? Object.freeze({ ...ownRateLimit, status: defaults.rateLimitStatus }) : ownRateLimit;
  const affinity = parseAffinity(raw, problems);
  const backendProtocol = parseBackendProtocol(raw, ingress.metadata.namespace ?? 'default', problems);
  const basicAuth = parseBasicAuth(raw, ingress.metadata.namespace ?? 'default', problems);
  const externalAuth = parseExternalAuth(raw, problems);
  const nextUpstream = parseNextUpstream(raw, problems);
  const upstreamHashBy = parseUpstreamHashBy(raw, problems);
  // An Ingress saying round_robin keeps it over the ConfigMap's ewma.
  const loadBalance = parseLoadBalance(raw, problems) ?? (raw[LOAD_BALANCE] === undefined ? defaults.loadBalance : undefined);
  const ownConnectionLimit = parseConnectionLimit(raw, problems);
  const connectionLimit = ownConnectionLimit && defaults.connectionLimitStatus !== undefined ? Object.freeze({ ...ownConnectionLimit, status: defaults.connectionLimitStatus }) : ownConnectionLimit;
  const fallback = parseDefaultBackend(raw, ingress.metadata.namespace ?? 'default', problems, defaults);
  const mirror = parseMirror(raw, problems);
  const policies: RoutePolicies = {
    ...(sourceRange && { sourceRange }),
    ...(upstreamVhost !== undefined && { upstreamVhost }),
    ...(forwardedPrefix !== undefined && { forwardedPrefix }),
    ...(redirect && { redirect }),
    ...(appRoot !== undefined && { appRoot }),
    ...(rewrite.rewriteTarget !== undefined && { rewriteTarget: rewrite.rewriteTarget }),
    ...(rateLimit && { rateLimit }),
    ...(cors && { cors }),
    ...(maxBodySize !== undefined && { maxBodySize }),
    ...(timeouts && { timeouts }),
    ...(accessLog === false && { accessLog }),
    ...(affinity && { affinity }),
    ...(backendProtocol?.tls && { upstreamTls: backendProtocol.tls }),
    ...(backendProtocol?.grpc && { grpc: true as const }),
    ...(externalAuth !== undefined && { externalAuth }),
    ...(nextUpstream && { nextUpstream }),
    ...(upstreamHashBy !== undefined && { upstreamHashBy }),
    ...(loadBalance !== undefined && { loadBalance }),
    ...(connectionLimit && { connectionLimit }),
    ...fallback,
    ...(mirror && { mirror }),
    ...(defaults.responseHeaders && { responseHeaders: defaults.responseHeaders }),
    ...(defaults.upstreamHeaders && { upstreamHeaders: defaults.upstreamHeaders }),
  };
  const nginxKeys = Object.keys(raw).filter((key) => key.startsWith(PREFIX)).sort();
  return {
    annotations: {
      ...sslRedirect,
      ...hostAliases,
      policies: Object.keys(policies).length > 0 ? Object.freeze(policies) : undefined,
      regex: rewrite.regex,
      serviceUpstream: parseServiceUpstream(raw, problems),
      canary,
      basicAuth,
      proxySsl: backendProtocol?.proxySsl,
      snippets: nginxKeys.filter(isSnippet),
      unsupported: nginxKeys.filter((key) => !isSnippet(key) && !SUPPORTED_ANNOTATIONS.has(key)),
    },
    problems,
  };
}
