// The one error catalog. Codes are stable: logs, diagnostics and users' alerts depend on them.
// Every code must be documented in README.md (test/lib/errors.test.ts enforces it).

export const ERROR_CATALOG = {
  PORTICO_ERR_CLI_FLAG: 'A command-line flag is unknown, missing its value, or has an invalid value.',
  PORTICO_ERR_MANIFEST_READ: 'A manifest file or directory could not be read.',
  PORTICO_ERR_MANIFEST_PARSE: 'A manifest file is not valid YAML/JSON; its last good objects keep serving.',
  PORTICO_ERR_MANIFEST_KIND: 'A manifest document has an unknown kind or apiVersion; it is skipped.',
  PORTICO_ERR_MANIFEST_INVALID: 'A manifest object lacks a required field or has a wrong type; it is skipped.',
  PORTICO_ERR_MANIFEST_DUPLICATE: 'The same object is defined in two files; the first file (by name) wins.',
  PORTICO_ERR_INGRESS_PATH_INVALID: 'An Ingress path is not absolute or contains //, /./, /../ or %2f; the path is skipped.',
  PORTICO_ERR_INGRESS_PATH_TYPE: 'An Ingress path has a missing or unknown pathType; the path is skipped.',
  PORTICO_ERR_INGRESS_HOST_INVALID: 'An Ingress rule host is not a valid DNS name or single-label wildcard; the rule is skipped.',
  PORTICO_ERR_INGRESS_BACKEND_INVALID: 'An Ingress backend names no Service or port (resource backends are unsupported); the path is skipped.',
  PORTICO_ERR_INGRESS_CONFLICT: 'Two Ingresses define the same host, path and pathType; the oldest Ingress wins.',
  PORTICO_ERR_INGRESS_DEFAULT_BACKEND_CONFLICT: 'Several owned Ingresses set spec.defaultBackend; the oldest wins.',
  PORTICO_ERR_INGRESS_ANNOTATION_INVALID: 'An Ingress annotation has a value Portico cannot use; its default applies.',
  PORTICO_ERR_INGRESS_TLS_CONFLICT: 'Two Ingresses name different Secrets for one TLS host; the oldest Ingress wins.',
  PORTICO_ERR_TLS_SECRET_MISSING: 'The TLS Secret an Ingress names does not exist; the host gets the default certificate.',
  PORTICO_ERR_TLS_SECRET_INVALID: 'The TLS Secret has no usable tls.crt/tls.key (unparsable PEM, or a key that does not match); the host gets the default certificate, or the last valid one if the Secret had one.',
  PORTICO_ERR_TLS_CERT_EXPIRED: 'The certificate has expired or is not valid yet; the host gets the default certificate.',
  PORTICO_ERR_TLS_CERT_HOST_MISMATCH: 'The certificate does not cover the host; the host gets the default certificate.',
  PORTICO_ERR_TLS_DEFAULT_CERT: 'The --default-ssl-certificate Secret is missing or invalid; the generated self-signed certificate is used.',
  PORTICO_ERR_BACKEND_SERVICE_MISSING: 'The Service a backend names does not exist; requests get 503.',
  PORTICO_ERR_BACKEND_PORT_UNKNOWN: 'The Service has no port with the number or name the backend gives; requests get 503.',
  PORTICO_ERR_BACKEND_NO_ENDPOINTS: 'The Service has no ready (or serving) endpoints; requests get 503.',
  PORTICO_ERR_PROXY_NO_ROUTE: 'No rule matches the request host and path; the controller answers 404.',
  PORTICO_ERR_PROXY_UPSTREAM: 'The upstream connection failed or broke; the controller answers 502.',
  PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT: 'The upstream did not answer in time; the controller answers 504.',
  PORTICO_ERR_PROXY_BAD_REQUEST: 'The request is malformed HTTP; the controller answers 400.',
  PORTICO_ERR_PROXY_HEADERS_TOO_LARGE: 'The request headers exceed the limit; the controller answers 431.',
  PORTICO_ERR_CNI_VERSION: 'portico-cni: the cniVersion is not supported, or too old for the command (CNI code 1).',
  PORTICO_ERR_CNI_UNSUPPORTED_FIELD: 'portico-cni: a config field is set to something portico-cni does not implement (CNI code 2).',
  PORTICO_ERR_CNI_UNKNOWN_CONTAINER: 'portico-cni: CHECK for a container the plugin holds no state for (CNI code 3).',
  PORTICO_ERR_CNI_ENV: 'portico-cni: a CNI_* environment variable is missing or invalid, or CNI_IFNAME already exists in the container (CNI code 4).',
  PORTICO_ERR_CNI_IO: 'portico-cni: reading stdin or a file the config names failed (CNI code 5).',
  PORTICO_ERR_CNI_DECODE: 'portico-cni: the network config on stdin is not JSON (CNI code 6).',
  PORTICO_ERR_CNI_CONFIG: 'portico-cni: the network config is invalid; the message names the field (CNI code 7).',
  PORTICO_ERR_CNI_NETNS: 'portico-cni: CNI_NETNS is not a network namespace, or is the plugin\'s own (CNI code 8).',
  PORTICO_ERR_CNI_TRY_AGAIN: 'portico-cni: timed out waiting for the IPAM lock; the runtime should retry (CNI code 11).',
  PORTICO_ERR_CNI_UNAVAILABLE: 'portico-cni STATUS: ADD cannot be served now, e.g. every address is taken (CNI code 50).',
  PORTICO_ERR_CNI_DEGRADED: 'portico-cni STATUS: ADD cannot be served and existing pods may have lost connectivity (CNI code 51).',
  PORTICO_ERR_CNI_IPAM_EXHAUSTED: 'portico-cni: a range set has no free address (CNI code 999).',
  PORTICO_ERR_CNI_IPAM_CONFLICT: 'portico-cni: a requested IP is taken, outside the ranges or the gateway, or the attachment already has an address (CNI code 999).',
  PORTICO_ERR_CNI_CHECK_FAILED: 'portico-cni CHECK: an interface, address, route, reservation or masquerade rule differs from the ADD result (CNI code 999).',
  PORTICO_ERR_CNI_HOST: 'portico-cni: an operation on the host failed (ip, nft, files); ADD rolled back what it did (CNI code 999).',
  PORTICO_ERR_CNI_INSTALL: 'portico cni install: the plugin or its conflist could not be installed.',
  PORTICO_ERR_SERVICE_PROXY_OBJECT: 'portico service-proxy: a Service or EndpointSlice field is invalid (the message names object and field); that Service (or address) is skipped, every other keeps working.',
  PORTICO_ERR_SERVICE_PROXY_NODE: 'portico service-proxy: a Node has no addresses; it is reported and ignored.',
  PORTICO_ERR_SERVICE_PROXY_SYNC: 'portico service-proxy: an nft transaction failed; the previous rules stay in place and a full sync is retried after --sync-period.',
  PORTICO_ERR_SERVICE_PROXY_CONNTRACK: 'portico service-proxy: conntrack could not clear stale UDP entries (is the conntrack tool installed?); the rules are applied regardless.',
  PORTICO_ERR_SERVICE_PROXY_NFT: 'portico service-proxy: nft is missing or not permitted (not root / no CAP_NET_ADMIN); the command exits 1.',
  PORTICO_ERR_DNS_OBJECT: 'portico dns: a Service field is invalid (not a DNS label, a bad clusterIP or externalName); that Service (or address) gets no record, every other keeps answering.',
  PORTICO_ERR_DNS_LISTEN: 'portico dns: the UDP or TCP listener could not bind --listen (in use, or port 53 without root / CAP_NET_BIND_SERVICE); the command exits 1.',
  PORTICO_ERR_DNS_UPSTREAM: 'portico dns: no upstream answered a forwarded query (refused, timed out or malformed reply); the client gets SERVFAIL.',
  PORTICO_ERR_DNS_RESOLV_CONF: 'portico dns: the resolv.conf given by --upstream-resolv-conf (default /etc/resolv.conf) cannot be read or names no nameserver; the command exits 1.',
  PORTICO_ERR_LB_POOL: 'portico lb-controller: a --pool range does not parse (the message names it); that range is skipped, the others are used.',
  PORTICO_ERR_LB_EXHAUSTED: 'portico lb-controller: no free address of the family a LoadBalancer Service needs is left in the pool; the Service gets none (Event on the Service).',
  PORTICO_ERR_LB_IP_UNAVAILABLE: 'portico lb-controller: the address a Service requests (spec.loadBalancerIP or portico.dev/loadbalancer-ips) is not an IP, is outside the pool, or is held by another Service; the Service gets no address (Event names Service and IP).',
  PORTICO_ERR_LB_IP_CONFLICT: 'portico lb-controller: two Services carry the same pool address in their status; the older (creationTimestamp, then name) keeps it, the other gets a new one.',
  PORTICO_ERR_LB_STATUS_WRITE: 'portico lb-controller: writing a Service status.loadBalancer failed; it is retried.',
  PORTICO_ERR_K8S_CONFIG: 'No usable Kubernetes client configuration (in-cluster, --kubeconfig or KUBECONFIG); the controller cannot start.',
  PORTICO_ERR_K8S_WATCH: 'A list or watch of the Kubernetes API failed; the informer restarts with capped, jittered backoff and the last good configuration keeps serving.',
  PORTICO_ERR_K8S_EXPIRED: 'A watch resourceVersion expired (410 Gone); the informer relists.',
  PORTICO_ERR_K8S_OBJECT_INVALID: 'An object from the Kubernetes API has an unexpected shape; it is reported and skipped.',
  PORTICO_ERR_K8S_STATUS_WRITE: 'Writing an Ingress status.loadBalancer failed; it is retried.',
  PORTICO_ERR_K8S_LEADER_ELECTION: 'Acquiring or renewing the leader-election Lease failed; status writing stops until leadership is regained.',
  PORTICO_ERR_K8S_EVENT_WRITE: 'Recording a Kubernetes Event failed or was rate-limited; it is dropped.',
  PORTICO_ERR_K8S_ACCESS_UNDECLARED: 'The controller tried an API call missing from REQUIRED_API_ACCESS (a bug: the RBAC manifests would deny it).',
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class PorticoError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PorticoError';
    this.code = code;
  }
}
