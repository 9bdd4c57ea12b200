// The access log's field names (src/proxy/access-log.ts writes the lines), and ingress-nginx's
// log-format variables that map onto them: plain data the compiler can read (the ConfigMap's
// log-format-upstream) without reaching the data plane.

export type AccessLogField =
  | 'client'
  | 'method'
  | 'host'
  | 'path'
  | 'status'
  | 'bytes'
  | 'requestBytes'
  | 'durationMs'
  | 'upstream'
  | 'upstreamMs'
  | 'upstreamStatus'
  | 'ingress'
  | 'service'
  | 'requestId'
  | 'userAgent'
  | 'referer'
  | 'aborted';

/** Every field, in the order a line lists them; the default. */
export const ACCESS_LOG_FIELDS: readonly AccessLogField[] = [
  'client',
  'method',
  'host',
  'path',
  'status',
  'bytes',
  'requestBytes',
  'durationMs',
  'upstream',
  'upstreamMs',
  'upstreamStatus',
  'ingress',
  'service',
  'requestId',
  'userAgent',
  'referer',
  'aborted',
];

/** ingress-nginx `log-format-upstream` variables that map onto a field (units stay Portico's: ms). */
export const NGINX_LOG_VARIABLES: Readonly<Record<string, AccessLogField>> = {
  $remote_addr: 'client',
  $request_method: 'method',
  $host: 'host',
  $request_uri: 'path',
  $status: 'status',
  $body_bytes_sent: 'bytes',
  $request_length: 'requestBytes',
  $request_time: 'durationMs',
  $upstream_addr: 'upstream',
  $upstream_response_time: 'upstreamMs',
  $upstream_status: 'upstreamStatus',
  $ingress_name: 'ingress',
  $service_name: 'service',
  $proxy_upstream_name: 'service',
  $req_id: 'requestId',
  $http_user_agent: 'userAgent',
  $http_referer: 'referer',
};

/**
 * ingress-nginx's `log-format-upstream` (an nginx log_format string) → the fields its variables
 * name, in order; `unknown` lists the variables Portico has no field for. Lines stay JSON.
 */
export function fieldsOfNginxLogFormat(format: string): { readonly fields: AccessLogField[]; readonly unknown: string[] } {
  const fields: AccessLogField[] = [];
  const unknown: string[] = [];
  for (const [variable] of format.matchAll(/\$[A-Za-z_][A-Za-z0-9_]*/g)) {
    const field = NGINX_LOG_VARIABLES[variable];
    if (field === undefined) {
      if (!unknown.includes(variable)) unknown.push(variable);
    } else if (!fields.includes(field)) fields.push(field);
  }
  return { fields, unknown };
}

