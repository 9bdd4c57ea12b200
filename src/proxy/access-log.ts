// One JSON line per request on the access logger (pino adds `time` and `level`). Which fields a line
// carries is chosen once (--access-log-fields) and compiled into the writer, not decided per request.
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export interface AccessLogEntry {
  /** Client address (X-Real-IP value). */
  readonly client: string;
  readonly method: string;
  /** Host header as received. */
  readonly host: string | undefined;
  /** Request target as received (path and query). */
  readonly path: string;
  /** Status sent to the client; 499 when the client left before a response started. */
  readonly status: number;
  /** Response body bytes written to the client. */
  readonly bytes: number;
  /** Request line, headers and body bytes received from the client. */
  readonly requestBytes?: number | undefined;
  /** Request start → response finished or connection closed. */
  readonly durationMs: number;
  /** Endpoint (`ip:port`) of the last upstream attempt. */
  readonly upstream: string | undefined;
  /** Upstream dispatch → response headers (includes queueing, connect and a retry). */
  readonly upstreamMs: number | undefined;
  /** Status the upstream answered; absent when Portico answered itself (404, 502, 503 …). */
  readonly upstreamStatus?: number | undefined;
  /** `namespace/name` of the Ingress that routed the request. */
  readonly ingress: string | undefined;
  /** Backend key `namespace/service/port`. */
  readonly service: string | undefined;
  /** X-Request-ID as sent upstream (the client's, or generated). */
  readonly requestId?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly referer?: string | undefined;
  /** The response did not complete (client abort or upstream failure mid-response). */
  readonly aborted?: boolean;
}

export type AccessLogField = keyof AccessLogEntry;

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

/** Parses --access-log-fields: field names or ingress-nginx variables, separated by commas or spaces. */
export function parseAccessLogFields(text: string): AccessLogField[] {
  const fields: AccessLogField[] = [];
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const field = (ACCESS_LOG_FIELDS as readonly string[]).includes(word) ? (word as AccessLogField) : NGINX_LOG_VARIABLES[word];
    if (field === undefined) {
      throw new PorticoError(
        'PORTICO_ERR_CLI_FLAG',
        `--access-log-fields: unknown field ${JSON.stringify(word)}; fields are ${ACCESS_LOG_FIELDS.join(', ')} (or ingress-nginx variables: ${Object.keys(NGINX_LOG_VARIABLES).join(', ')})`,
      );
    }
    if (!fields.includes(field)) fields.push(field);
  }
  if (fields.length === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--access-log-fields names no field');
  return fields;
}

export type AccessLogWriter = (entry: AccessLogEntry) => void;

/** Milliseconds rounded to microseconds, for log lines. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The writer for one field list: the entry as is when every field is wanted, else only those
 * fields, in the order given (callers round times with roundMs; undefined fields are omitted).
 */
export function createAccessLogWriter(logger: Logger, fields: readonly AccessLogField[] = ACCESS_LOG_FIELDS): AccessLogWriter {
  if (ACCESS_LOG_FIELDS.every((field) => fields.includes(field))) return (entry) => logger.info(entry);
  const picked = [...fields];
  return (entry) => {
    const line: Record<string, unknown> = {};
    for (const field of picked) line[field] = entry[field];
    logger.info(line);
  };
}
