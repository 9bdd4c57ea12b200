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
  PORTICO_ERR_BACKEND_SERVICE_MISSING: 'The Service a backend names does not exist; requests get 503.',
  PORTICO_ERR_BACKEND_PORT_UNKNOWN: 'The Service has no port with the number or name the backend gives; requests get 503.',
  PORTICO_ERR_BACKEND_NO_ENDPOINTS: 'The Service has no ready (or serving) endpoints; requests get 503.',
  PORTICO_ERR_PROXY_NO_ROUTE: 'No rule matches the request host and path; the controller answers 404.',
  PORTICO_ERR_PROXY_UPSTREAM: 'The upstream connection failed or broke; the controller answers 502.',
  PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT: 'The upstream did not answer in time; the controller answers 504.',
  PORTICO_ERR_PROXY_BAD_REQUEST: 'The request is malformed HTTP; the controller answers 400.',
  PORTICO_ERR_PROXY_HEADERS_TOO_LARGE: 'The request headers exceed the limit; the controller answers 431.',
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
