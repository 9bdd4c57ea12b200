// One JSON line per request on the access logger (pino adds `time` and `level`).
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
  /** Request start → response finished or connection closed. */
  readonly durationMs: number;
  /** Endpoint (`ip:port`) of the last upstream attempt. */
  readonly upstream: string | undefined;
  /** Upstream dispatch → response headers (includes queueing, connect and a retry). */
  readonly upstreamMs: number | undefined;
  /** `namespace/name` of the Ingress that routed the request. */
  readonly ingress: string | undefined;
  /** Backend key `namespace/service/port`. */
  readonly service: string | undefined;
  /** The response did not complete (client abort or upstream failure mid-response). */
  readonly aborted?: boolean;
}

/** Milliseconds rounded to microseconds, for log lines. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Writes the entry as is (callers round times with roundMs; undefined fields are omitted). */
export function writeAccessLog(logger: Logger, entry: AccessLogEntry): void {
  logger.info(entry);
}
