// The routing model: what the pure compiler produces and the proxy consumes.
// Everything here is plain data, sorted, with stable keys, so it can be compared and golden-tested.
import type { ErrorCode } from '../lib/errors.js';
import type { RealIp, RealIpPolicy } from '../lib/real-ip.js';
import type { AccessLogField } from './access-log-fields.js';

/** A Service port referenced by an Ingress. `key` is `namespace/service/port` with the port as written. */
export interface BackendRef {
  readonly key: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: number | string;
  /** service-upstream: the one endpoint is the Service's ClusterIP and port (key ends in `#service-upstream`). */
  readonly serviceUpstream?: true;
}

export type PathType = 'Exact' | 'Prefix';

export interface Route {
  readonly pathType: PathType;
  /** The path as written in the Ingress (ImplementationSpecific is compiled to Prefix). */
  readonly path: string;
  readonly backend: BackendRef;
  /** `namespace/name` of the Ingress that owns this route. */
  readonly ingress: string;
  /** Plain-HTTP requests get a 308 to https (host has TLS, or force-ssl-redirect). Absent = false. */
  readonly sslRedirect?: boolean;
  /** Per-route features from the Ingress's annotations; absent when the Ingress sets none. */
  readonly policies?: RoutePolicies;
}

/**
 * Typed per-route policies, one field per feature, each undefined when off (Contour's route
 * policies). Plain data: the data plane composes them into the route's steps when its table is built.
 */
export interface RoutePolicies {
  /** whitelist-/allowlist-source-range, denylist-source-range: 403 on the connection's own address. */
  readonly sourceRange?: SourceRangePolicy;
  /** upstream-vhost: the Host header the backend gets. */
  readonly upstreamVhost?: string;
  /** x-forwarded-prefix: sent to the backend as X-Forwarded-Prefix. */
  readonly forwardedPrefix?: string;
  /** auth-url: a subrequest to the auth service decides; 'refused' (an unusable auth-url): every request 500. */
  readonly externalAuth?: ExternalAuthPolicy | 'refused';
  /** auth-type: basic: users from the auth-secret; no users refuses everyone. */
  readonly basicAuth?: BasicAuthPolicy;
  /** backend-protocol: HTTPS / GRPCS: TLS to the pod, SNI when named, proxy-ssl-* (verification, client certificate). */
  readonly upstreamTls?: UpstreamTlsPolicy;
  /** backend-protocol: GRPC / GRPCS: gRPC (HTTP/2) to the pod, over TLS with upstreamTls; served to HTTP/2 clients. */
  readonly grpc?: true;
  /** affinity: cookie: sticky sessions. */
  readonly affinity?: AffinityPolicy;
  /** enable-access-log: "false": no access-log line for these paths. */
  readonly accessLog?: false;
  /** proxy-next-upstream(-tries, -timeout): retries after a failed connect. */
  readonly nextUpstream?: NextUpstreamPolicy;
  /** proxy-connect-, proxy-read-, proxy-send-timeout. */
  readonly timeouts?: ProxyTimeouts;
  /** proxy-body-size: the largest request body, bytes (0: no limit); absent: the controller's default. */
  readonly maxBodySize?: number;
  /** A canary Ingress on the same host and path: which requests go to its backend. */
  readonly canary?: CanaryPolicy;
  /** enable-cors and cors-*: CORS headers on responses, preflights answered by the proxy. */
  readonly cors?: CorsPolicy;
  /** limit-rps / limit-rpm: per client address, per Ingress (the route's `ingress`). */
  readonly rateLimit?: RateLimitPolicy;
  /** rewrite-target: the path the backend gets, `$1`… from the route's path expression. */
  readonly rewriteTarget?: string;
  /** permanent-redirect / temporal-redirect: every request is answered with this redirect. */
  readonly redirect?: RedirectPolicy;
  /** app-root: a request for `/` gets a 302 to this path. */
  readonly appRoot?: string;
  /** upstream-hash-by: the endpoint is chosen by a consistent hash of this nginx-variable template. */
  readonly upstreamHashBy?: string;
  /** load-balance: ewma (round_robin, the default, leaves it absent). */
  readonly loadBalance?: 'ewma';
  /** limit-connections: requests in flight per client address, per Ingress. */
  readonly connectionLimit?: ConnectionLimitPolicy;
  /** default-backend: serves the route when its Service has no endpoints; port `*`: the Service's first. */
  readonly defaultBackend?: BackendRef;
  /** custom-http-errors (with defaultBackend): upstream statuses the default backend answers instead, sorted. */
  readonly customHttpErrors?: readonly number[];
  /** mirror-target: a copy of each request goes there, its response dropped. */
  readonly mirror?: MirrorPolicy;
  /** ConfigMap add-headers: set on the response to the client (replacing the backend's same-named fields). */
  readonly responseHeaders?: ReadonlyArray<readonly [string, string]>;
  /** ConfigMap proxy-set-headers: set on the upstream request (replacing the client's same-named fields). */
  readonly upstreamHeaders?: ReadonlyArray<readonly [string, string]>;
}

/**
 * TLS to the pods (backend-protocol HTTPS / GRPCS) with the proxy-ssl-* annotations. Every field is
 * absent when off: `{}` is TLS unverified (ingress-nginx's proxy-ssl-verify off), no SNI.
 */
export interface UpstreamTlsPolicy {
  /** proxy-ssl-server-name on: the SNI sent (proxy-ssl-name). */
  readonly serverName?: string;
  /** proxy-ssl-verify on: the pod's chain is verified against `ca` and its name checked. */
  readonly verify?: UpstreamVerifyPolicy;
  /** proxy-ssl-secret's tls.crt / tls.key (PEM): presented to the pod when it asks (mTLS). */
  readonly clientCertificate?: { readonly cert: string; readonly key: string };
  /** proxy-ssl-protocols, as the lowest and highest version (absent: Node's TLSv1.2 … TLSv1.3, ingress-nginx's default). */
  readonly minVersion?: UpstreamTlsVersion;
  readonly maxVersion?: UpstreamTlsVersion;
  /** proxy-ssl-ciphers, an OpenSSL cipher list (absent: DEFAULT). */
  readonly ciphers?: string;
  /**
   * Set when the proxy-ssl-* annotations ask for something that cannot be done (a missing or
   * unusable proxy-ssl-secret, verify on without a CA, an invalid proxy-ssl-verify): every request
   * gets 502 PORTICO_ERR_PROXY_UPSTREAM_TLS rather than go to the pod unverified. The reason.
   */
  readonly refused?: string;
}

export type UpstreamTlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface UpstreamVerifyPolicy {
  /** proxy-ssl-secret's ca.crt (PEM, one or more certificates): the only trusted roots. */
  readonly ca: string;
  /** proxy-ssl-name: the name the certificate must carry; absent: the route's Service, `service.namespace.svc`. */
  readonly name?: string;
  /** proxy-ssl-verify-depth: the most intermediate CA certificates between the pod's and a trusted one (default 1). */
  readonly depth: number;
}

/** Strict-Transport-Security settings (the --hsts* flags, the ConfigMap's hsts* keys). */
export interface HstsSettings {
  readonly maxAge: number;
  readonly includeSubDomains: boolean;
  readonly preload?: boolean;
}

export interface MirrorPolicy {
  /** Absolute http(s) URL; may contain $request_uri, $uri, $args, $host, $scheme. */
  readonly url: string;
  /** mirror-request-body (default on). */
  readonly body: boolean;
  /** mirror-host: the Host the copy carries; absent: the URL's. */
  readonly host?: string;
}

export interface ConnectionLimitPolicy {
  /** Requests in flight per client address. */
  readonly max: number;
  /** CIDRs (normalised, sorted) never limited (limit-allowlist / limit-whitelist). */
  readonly exempt?: readonly string[];
  /** The status a refused request gets (ConfigMap limit-conn-status-code); absent: 503. */
  readonly status?: number;
}


export interface ExternalAuthPolicy {
  /** May contain $host, $request_uri, $escaped_request_uri, $scheme, $uri, $args. */
  readonly url: string;
  readonly method: string;
  /** Lower-case names copied from the auth response to the upstream request. */
  readonly responseHeaders: readonly string[];
  /** Where a 401 redirects (302), with the original URL in `signinParam`; absent: 401. */
  readonly signin?: string;
  readonly signinParam?: string;
}

export interface BasicAuthPolicy {
  readonly realm: string;
  /** [user, hash] sorted by user; hashes bcrypt, $apr1$, {SHA} or {PLAIN}. */
  readonly users: ReadonlyArray<readonly [string, string]>;
}

export interface AffinityPolicy {
  /** Cookie name (INGRESSCOOKIE). */
  readonly cookie: string;
  /** balanced (ingress-nginx's default) or persistent: both keep a client on its endpoint here. */
  readonly mode: 'balanced' | 'persistent';
  /** Cookie Path; absent: the route's path (a regex path: `/`). */
  readonly path?: string;
  readonly domain?: string;
  readonly sameSite?: 'None' | 'Lax' | 'Strict';
  /** Secure even over plain HTTP (it is always set over HTTPS). */
  readonly secure: boolean;
  /** Seconds. */
  readonly maxAge?: number;
  /** Seconds from the response. */
  readonly expires?: number;
}

export interface NextUpstreamPolicy {
  /** No retry at all (proxy-next-upstream off, or without error/timeout). */
  readonly off: boolean;
  /** Attempts in all, the first included. */
  readonly tries?: number;
  /** Time spent trying, ms. */
  readonly timeoutMs?: number;
}

export interface ProxyTimeouts {
  readonly connectMs?: number;
  readonly readMs?: number;
  readonly sendMs?: number;
}

export interface CanaryPolicy {
  readonly backend: BackendRef;
  /** `namespace/name` of the canary Ingress. */
  readonly ingress: string;
  /** Lower-case header name: `always` / `never`, or headerValue / headerPattern. */
  readonly header?: string;
  readonly headerValue?: string;
  readonly headerPattern?: string;
  /** Cookie name: `always` / `never`. */
  readonly cookie?: string;
  /** Out of weightTotal. */
  readonly weight: number;
  readonly weightTotal: number;
}

export interface CorsPolicy {
  /** `['*']`, or lower-case origins (`https://a.example`, `https://*.example.com`), sorted. */
  readonly origins: readonly string[];
  readonly methods: string;
  readonly headers: string;
  /** Access-Control-Expose-Headers; absent: not sent. */
  readonly expose?: string;
  readonly credentials: boolean;
  /** Seconds. */
  readonly maxAge: number;
}

export interface RateLimitPolicy {
  /** Requests per second per client address. */
  readonly rps?: number;
  /** Requests per minute per client address. */
  readonly rpm?: number;
  /** burst = rate × this (ingress-nginx's default 5). */
  readonly burstMultiplier: number;
  /** CIDRs (normalised, sorted) never limited. */
  readonly exempt?: readonly string[];
  /** The status a limited request gets (ConfigMap limit-req-status-code); absent: 503. */
  readonly status?: number;
}

export interface RedirectPolicy {
  /** Absolute URL; may contain $request_uri, $uri, $args, $host, $scheme. */
  readonly url: string;
  /** 300–308. */
  readonly status: number;
}

export interface SourceRangePolicy {
  /** CIDRs (normalised, sorted); when set, only these clients are served. */
  readonly allow?: readonly string[];
  /** CIDRs (normalised, sorted); these clients are refused (checked first). */
  readonly deny?: readonly string[];
}

/** A host that Ingress `spec.tls` says is served over TLS. */
export interface TlsHost {
  /** Lower-case host, exact or `*.example.com`. */
  readonly host: string;
  /** `namespace/name` of the kubernetes.io/tls Secret; undefined = the default certificate. */
  readonly secret?: string;
  /** The Ingress that claimed the host (the oldest one). */
  readonly ingress: string;
}

export interface VirtualHost {
  /** Lower-case host: `foo.example.com` or a wildcard `*.example.com`. */
  readonly host: string;
  readonly routes: readonly Route[];
  /**
   * ingress-nginx's regex mode (an Ingress on the host sets use-regex or rewrite-target): every path
   * is a case-insensitive regex prefix (`^path`), tried in the order of `routes` (longest first).
   */
  readonly regex?: true;
}

export interface DefaultRoute {
  readonly backend: BackendRef;
  readonly ingress: string;
}

export interface DiagnosticObject {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly code: ErrorCode;
  readonly object: DiagnosticObject;
  /** JSON-path-like location inside the object, e.g. `spec.rules[0].http.paths[1].path`. */
  readonly field?: string;
  readonly message: string;
}

export interface RouteModel {
  /** Sorted by host. */
  readonly virtualHosts: readonly VirtualHost[];
  /** Routes from rules without a host; they apply to every host. */
  readonly hostless: readonly Route[];
  /** The hostless rules in regex mode (see VirtualHost.regex). */
  readonly hostlessRegex?: true;
  /** `namespace/name` of every Secret an auth annotation reads, sorted: a change to one rebuilds the routes. */
  readonly authSecrets?: readonly string[];
  /** `namespace/name` of every ConfigMap the compile read or looked for (--configmap and the header lists it names), sorted. */
  readonly configMaps?: readonly string[];
  /**
   * The Strict-Transport-Security value from the ConfigMap's hsts* keys; false: none. Absent: the
   * data plane's own (the --hsts* flags). The data planes read it from the route table they swap.
   */
  readonly hsts?: string | false;
  /** The ConfigMap's use-http2; absent: the data plane's own (--http2). Read per connection. */
  readonly http2?: boolean;
  /** The ConfigMap's forwarded-header keys (use-forwarded-headers, enable-real-ip …); absent: the connection's address is the client. */
  readonly realIp?: RealIpPolicy;
  /** The ConfigMap's log-format-upstream, as access-log fields; absent: the data plane's own (--access-log-fields). */
  readonly accessLogFields?: readonly AccessLogField[];
  readonly defaultBackend?: DefaultRoute;
  /** Every backend referenced by a route, unique, sorted by key. */
  readonly backends: readonly BackendRef[];
  /** Hosts with TLS from Ingress spec.tls, sorted by host; the oldest Ingress wins a host. */
  readonly tls: readonly TlsHost[];
  /** `namespace/name` of every Ingress this controller owns (class selection passed), sorted. */
  readonly ownedIngresses: readonly string[];
  readonly diagnostics: readonly Diagnostic[];
}

/** One upstream address of a backend. */
export interface Endpoint {
  /** `ip:port`, or `[ipv6]:port`. Stable identity for pools and balancer state. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** targetRef name (the pod), when the slice says. */
  readonly podName?: string;
}

/** Endpoints resolved for one BackendRef (the endpoint fast path output). */
export interface BackendEndpoints {
  readonly backend: BackendRef;
  /** The endpoints traffic may go to: ready ones, else serving+terminating ones. Sorted by key. */
  readonly endpoints: readonly Endpoint[];
  /** Why there is nothing to send traffic to (Service missing, port unknown, no endpoints). */
  readonly problem?: { readonly code: ErrorCode; readonly message: string };
}

/** Result of a route lookup; the proxy needs only this. */
export interface RouteMatch {
  readonly backend: BackendRef;
  readonly ingress: string;
  /** Undefined for the defaultBackend. */
  readonly route?: Route;
  /** The Ingress rule's host the route was matched under (`*.example.com` for a wildcard); undefined for hostless rules and the defaultBackend. */
  readonly host?: string;
}

/** What the proxy routes with; RouteTable implements it. */
export interface RouteLookup<M extends RouteMatch = RouteMatch> {
  lookup(host: string | undefined, path: string): M | undefined;
  /** RouteModel.hsts: undefined: the data plane's own setting applies. */
  readonly hsts?: string | false;
  /** RouteModel.http2: undefined: the data plane's own setting applies. */
  readonly http2?: boolean | undefined;
  /** RouteModel.realIp, ready to use; undefined: the connection's address is the client. */
  readonly realIp?: RealIp | undefined;
  /** RouteModel.accessLogFields: undefined: the data plane's own. */
  readonly accessLogFields?: readonly AccessLogField[] | undefined;
}

/** The three parts a build can recompile: routes (Ingress/IngressClass), certificates, endpoints. */
export type BuildPart = 'routes' | 'tls' | 'endpoints';
/** Which parts one build recompiled (the controller's observers, the workers' snapshots). */
export type BuildChanges = Readonly<Record<BuildPart, boolean>>;
