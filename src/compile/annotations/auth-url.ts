// auth-url (external authentication, nginx's auth_request), auth-method, auth-response-headers,
// auth-signin (+ auth-signin-redirect-param): every request is first checked by a subrequest to the
// auth service; 2xx lets it through (with the listed response headers copied upstream), 401 answers
// 401 (or redirects to auth-signin), 403 answers 403, anything else 500.
import type { ExternalAuthPolicy } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import { ABSOLUTE_HTTP_URL, HTTP_TOKEN, unknownVariables, type AnnotationProblem, type Annotations } from './values.js';

export const AUTH_URL = `${NGINX_PREFIX}auth-url`;
export const AUTH_METHOD = `${NGINX_PREFIX}auth-method`;
export const AUTH_RESPONSE_HEADERS = `${NGINX_PREFIX}auth-response-headers`;
export const AUTH_SIGNIN = `${NGINX_PREFIX}auth-signin`;
export const AUTH_SIGNIN_REDIRECT_PARAM = `${NGINX_PREFIX}auth-signin-redirect-param`;
export const AUTH_URL_KEYS = [AUTH_URL, AUTH_METHOD, AUTH_RESPONSE_HEADERS, AUTH_SIGNIN, AUTH_SIGNIN_REDIRECT_PARAM] as const;

const VARIABLES = ['host', 'request_uri', 'escaped_request_uri', 'scheme', 'uri', 'args'];

export function parseExternalAuth(raw: Annotations, problems: AnnotationProblem[]): ExternalAuthPolicy | 'refused' | undefined {
  const url = raw[AUTH_URL]?.trim();
  if (url === undefined || url === '') return undefined;
  const badUrl = (value: string) => !ABSOLUTE_HTTP_URL.test(value) || unknownVariables(value, VARIABLES).length > 0;
  if (badUrl(url)) {
    problems.push({ key: AUTH_URL, severity: 'error', message: `annotation ${AUTH_URL}: ${JSON.stringify(url)} is not an absolute http(s) URL (variables: ${VARIABLES.map((v) => `$${v}`).join(', ')}); every request to the Ingress's paths gets 500` });
    return 'refused';
  }
  const method = raw[AUTH_METHOD]?.trim().toUpperCase() || 'GET';
  if (!/^[A-Z]{1,16}$/.test(method)) {
    problems.push({ key: AUTH_METHOD, severity: 'error', message: `annotation ${AUTH_METHOD}: ${JSON.stringify(raw[AUTH_METHOD])} is not a method; every request gets 500` });
    return 'refused';
  }
  const responseHeaders = (raw[AUTH_RESPONSE_HEADERS] ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const badHeader = responseHeaders.find((h) => !HTTP_TOKEN.test(h));
  if (badHeader !== undefined) problems.push({ key: AUTH_RESPONSE_HEADERS, severity: 'warning', message: `annotation ${AUTH_RESPONSE_HEADERS}: ${JSON.stringify(badHeader)} is not a header name; skipped` });
  const signin = raw[AUTH_SIGNIN]?.trim();
  let signinOk = signin !== undefined && signin !== '';
  if (signinOk && badUrl(signin!)) {
    problems.push({ key: AUTH_SIGNIN, severity: 'warning', message: `annotation ${AUTH_SIGNIN}: ${JSON.stringify(signin)} is not an absolute http(s) URL; 401 is answered instead` });
    signinOk = false;
  }
  const param = raw[AUTH_SIGNIN_REDIRECT_PARAM]?.trim() || 'rd';
  return Object.freeze({
    url,
    method,
    responseHeaders: Object.freeze(responseHeaders.filter((h) => h !== badHeader).map((h) => h.toLowerCase())),
    ...(signinOk && { signin: signin!, signinParam: /^[A-Za-z0-9_-]+$/.test(param) ? param : 'rd' }),
  });
}
