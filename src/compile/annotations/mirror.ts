// mirror-target (an absolute http(s) URL; $request_uri, $uri, $args, $host, $scheme expanded),
// mirror-request-body (on by default), mirror-host (the copy's Host; default: the URL's).
import type { MirrorPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { ABSOLUTE_HTTP_URL, readHeaderValue, unknownVariables, type AnnotationProblem, type Annotations } from './values.js';

export const MIRROR_TARGET = `${NGINX_PREFIX}mirror-target`;
export const MIRROR_REQUEST_BODY = `${NGINX_PREFIX}mirror-request-body`;
export const MIRROR_HOST = `${NGINX_PREFIX}mirror-host`;
export const MIRROR_KEYS = [MIRROR_TARGET, MIRROR_REQUEST_BODY, MIRROR_HOST] as const;

const VARIABLES = ['request_uri', 'uri', 'args', 'host', 'scheme'];
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~]+)(?::\d{1,5})?$/;

export function parseMirror(raw: Annotations, problems: AnnotationProblem[]): MirrorPolicy | undefined {
  const url = raw[MIRROR_TARGET]?.trim();
  if (url === undefined || url === '') return undefined;
  const unknown = unknownVariables(url, VARIABLES);
  if (!ABSOLUTE_HTTP_URL.test(url) || unknown.length > 0) {
    const why = unknown.length > 0 ? `uses ${unknown.map((n) => `$${n}`).join(', ')}, which Portico does not expand` : 'is not an absolute http(s) URL';
    problems.push({ key: MIRROR_TARGET, severity: 'warning', message: `annotation ${MIRROR_TARGET}: ${JSON.stringify(url)} ${why}; no mirror` });
    return undefined;
  }
  let body = true;
  const bodyValue = raw[MIRROR_REQUEST_BODY]?.trim().toLowerCase();
  if (bodyValue === 'off' || bodyValue === 'false') body = false;
  else if (bodyValue !== undefined && bodyValue !== 'on' && bodyValue !== 'true') {
    problems.push({ key: MIRROR_REQUEST_BODY, severity: 'warning', message: `annotation ${MIRROR_REQUEST_BODY} must be "on" or "off", got ${JSON.stringify(raw[MIRROR_REQUEST_BODY])}; using on` });
  }
  const host = readHeaderValue(raw, MIRROR_HOST, problems, HOST_VALUE);
  return Object.freeze({ url, body, ...(host !== undefined && { host }) });
}
