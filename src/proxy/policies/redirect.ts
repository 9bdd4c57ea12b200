// permanent-redirect / temporal-redirect and app-root: answers of Portico's own, nothing goes upstream.
import type { RedirectPolicy } from '../../model/route-model.js';
import { hostWithoutPort } from './ssl-redirect.js';
import type { RequestStep, StepAnswer, StepRequest } from './step.js';

/** Every request gets the redirect; nginx variables in the URL are expanded per request. */
export function redirectStep(policy: RedirectPolicy): RequestStep {
  if (!policy.url.includes('$')) {
    const answer: StepAnswer = Object.freeze({ kind: 'redirect', status: policy.status, location: policy.url });
    return { name: 'redirect', run: () => answer };
  }
  return { name: 'redirect', run: (request) => ({ kind: 'redirect', status: policy.status, location: expandVariables(policy.url, request) }) };
}

/** The nginx variables redirect, auth-url and auth-signin URLs may hold (each annotation's parser says which). */
export function expandVariables(url: string, request: StepRequest): string {
  const query = request.target.indexOf('?');
  return url.replace(/\$(escaped_request_uri|request_uri|uri|args|host|scheme)(?![A-Za-z0-9_])/g, (_, name: string) => {
    switch (name) {
      case 'escaped_request_uri':
        return encodeURIComponent(request.target);
      case 'request_uri':
        return request.target;
      case 'uri':
        return query < 0 ? request.target : request.target.slice(0, query);
      case 'args':
        return query < 0 ? '' : request.target.slice(query + 1);
      case 'host':
        // nginx's $host: without the port, lower-case.
        return hostWithoutPort(request.host).toLowerCase();
      default:
        return request.proto;
    }
  });
}

/** `/` (any query) → 302 to the application root on the same scheme and host (nginx's `$uri = /`). */
export function appRootStep(root: string): RequestStep {
  return {
    name: 'app-root',
    run: (request) => (request.target === '/' || request.target.startsWith('/?') ? { kind: 'redirect', status: 302, location: `${request.proto}://${request.host}${root}` } : undefined),
  };
}
