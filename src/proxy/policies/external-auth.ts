// auth-url: nginx's auth_request. Before the request goes upstream, a subrequest (auth-method,
// GET by default; no body) carries the client's header fields, Host set to the auth service's, and
// the X-Original-* fields ingress-nginx sends. 2xx: on with the auth-response-headers the service
// returned (the client's fields of those names are dropped: a client cannot forge them); 401: 401
// (with the service's WWW-Authenticate) or, with auth-signin, a 302 there carrying the original URL;
// 403: 403; anything else, a connect error or a timeout: 500.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ExternalAuthPolicy } from '../../model/route-model.js';
import { expandVariables } from './redirect.js';
import type { RequestStep, StepAnswer, StepRequest, StepResult } from './step.js';

const FAILED: StepAnswer = Object.freeze({ kind: 'error', status: 500, code: 'PORTICO_ERR_PROXY_AUTH_FAILED' });
const FORBIDDEN: StepAnswer = Object.freeze({ kind: 'error', status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
/** Fields of the client's request the subrequest never carries (its own framing and hop-by-hop ones). */
const NOT_FORWARDED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-connection']);
const AUTH_TIMEOUT_MS = 5_000;

export function externalAuthStep(policy: ExternalAuthPolicy | 'refused'): RequestStep {
  if (policy === 'refused') return { name: 'external-auth', run: () => FAILED };
  return {
    name: 'external-auth',
    run: (request, edits) =>
      new Promise<StepResult>((resolve) => {
        const originalUrl = `${request.proto}://${request.host}${request.target}`;
        let url: URL;
        try {
          url = new URL(expandVariables(policy.url, request));
        } catch {
          resolve(FAILED);
          return;
        }
        const headers: Array<[string, string]> = [];
        for (const [name, value] of request.fields()) if (!NOT_FORWARDED.has(name.toLowerCase())) headers.push([name, value]);
        headers.push(
          ['Host', url.host],
          ['X-Original-URL', originalUrl],
          ['X-Original-Method', request.method],
          ['X-Auth-Request-Redirect', request.target],
          ['X-Sent-From', 'nginx-ingress-controller'],
          ['X-Real-IP', request.clientAddress],
          ['X-Forwarded-For', request.clientAddress],
          ['X-Forwarded-Host', request.host],
          ['X-Forwarded-Proto', request.proto],
        );
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const sub = send(url, { method: policy.method, headers: headers.flat(), timeout: AUTH_TIMEOUT_MS, ...(url.protocol === 'https:' && { rejectUnauthorized: false }) }, (res: IncomingMessage) => {
          res.resume(); // the body is not used
          const status = res.statusCode ?? 500;
          if (status >= 200 && status < 300) {
            for (const name of policy.responseHeaders) {
              edits.dropHeaders.push(name);
              const value = res.headers[name];
              const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
              for (const v of values) if (/^[\x20-\x7e\t]*$/.test(v)) edits.headers.push([name, v]);
            }
            resolve(undefined);
          } else if (status === 401) {
            if (policy.signin !== undefined) resolve({ kind: 'redirect', status: 302, location: signinLocation(policy, request, originalUrl) });
            else {
              const challenge = res.headers['www-authenticate'];
              resolve({ kind: 'error', status: 401, code: 'PORTICO_ERR_PROXY_UNAUTHORIZED', ...(typeof challenge === 'string' && /^[\x20-\x7e]+$/.test(challenge) && { headers: [['WWW-Authenticate', challenge]] as const }) });
            }
          } else resolve(status === 403 ? FORBIDDEN : FAILED);
        });
        sub.on('timeout', () => sub.destroy(new Error('auth-url timed out')));
        sub.on('error', () => resolve(FAILED));
        sub.end();
      }),
  };
}

function signinLocation(policy: ExternalAuthPolicy, request: StepRequest, originalUrl: string): string {
  const signin = expandVariables(policy.signin!, request);
  const param = policy.signinParam ?? 'rd';
  if (new RegExp(`[?&]${param}=`).test(signin)) return signin;
  return `${signin}${signin.includes('?') ? '&' : '?'}${param}=${encodeURIComponent(originalUrl)}`;
}
