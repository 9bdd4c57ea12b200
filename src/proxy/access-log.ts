// One JSON line per request on the access logger (pino adds `time` and `level`). Which fields a line
// carries is chosen once (--access-log-fields) and compiled into the writer, not decided per request.
import { PorticoError } from '../lib/errors.js';
import { ACCESS_LOG_FIELDS, NGINX_LOG_VARIABLES, type AccessLogField } from '../model/access-log-fields.js';
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

export type { AccessLogField } from '../model/access-log-fields.js';
export { ACCESS_LOG_FIELDS, NGINX_LOG_VARIABLES, fieldsOfNginxLogFormat } from '../model/access-log-fields.js';
// Every field of an entry is a field a line may carry, and nothing else.
type _EveryField = [AccessLogField] extends [keyof AccessLogEntry] ? ([keyof AccessLogEntry] extends [AccessLogField] ? true : never) : never;
const _everyField: _EveryField = true;
void _everyField;

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
