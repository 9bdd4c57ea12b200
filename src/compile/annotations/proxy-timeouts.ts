// proxy-connect-timeout, proxy-read-timeout, proxy-send-timeout: seconds, as ingress-nginx (a bare
// number; `s` accepted). The upstream connection's inactivity limit is the larger of read and send
// (one socket timer serves both directions).
import type { ProxyTimeouts } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const PROXY_CONNECT_TIMEOUT = `${NGINX_PREFIX}proxy-connect-timeout`;
export const PROXY_READ_TIMEOUT = `${NGINX_PREFIX}proxy-read-timeout`;
export const PROXY_SEND_TIMEOUT = `${NGINX_PREFIX}proxy-send-timeout`;

export function parseProxyTimeouts(raw: Annotations, problems: AnnotationProblem[]): ProxyTimeouts | undefined {
  const connectMs = readSeconds(raw, PROXY_CONNECT_TIMEOUT, problems);
  const readMs = readSeconds(raw, PROXY_READ_TIMEOUT, problems);
  const sendMs = readSeconds(raw, PROXY_SEND_TIMEOUT, problems);
  if (connectMs === undefined && readMs === undefined && sendMs === undefined) return undefined;
  return Object.freeze({ ...(connectMs !== undefined && { connectMs }), ...(readMs !== undefined && { readMs }), ...(sendMs !== undefined && { sendMs }) });
}

function readSeconds(raw: Annotations, key: string, problems: AnnotationProblem[]): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const match = /^\s*(\d{1,7})s?\s*$/.exec(value);
  // At most what a timer can hold (2^31−1 ms, ~24.8 days): a longer one would fire at once.
  if (match !== null && Number(match[1]) > 0 && Number(match[1]) * 1000 <= 2_147_483_647) return Number(match[1]) * 1000;
  problems.push({ key, severity: 'warning', message: `annotation ${key} must be a whole number of seconds from 1 to 2147483, got ${JSON.stringify(value)}; the default applies` });
  return undefined;
}
