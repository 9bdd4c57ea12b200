// affinity: cookie: the step reads the client's cookie; the data plane, when it picks the endpoint,
// keeps the client on the endpoint the cookie names while that endpoint may take traffic, else uses
// the balancer's pick and sets the cookie to it. The cookie value is a hash of the endpoint's key
// (address:port), so it survives reloads and names no address.
import { createHash } from 'node:crypto';
import type { AffinityPolicy, Endpoint } from '../../model/route-model.js';
import { cookieValue } from './canary.js';
import type { RequestStep, StickyChoice, UpstreamEdits } from './step.js';

export function affinityStep(policy: AffinityPolicy, routePath: string): RequestStep {
  // The route's path, unless it is an expression (use-regex): then `/`, as a Path must be literal.
  // A Path attribute must be cookie-safe: `;` in an Ingress path (which the API allows) would add attributes.
  const path = policy.path ?? (/^\/[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/.test(routePath) && !/[()|*+?[\]{}$^]/.test(routePath) ? routePath : '/');
  return {
    name: 'affinity',
    run: (request, edits) => {
      edits.sticky = { policy, path, value: cookieValue(request.header('cookie'), policy.cookie), https: request.proto === 'https' };
      return undefined;
    },
  };
}

const hashes = new Map<string, string>();
/** The cookie value naming an endpoint (cached: one hash per endpoint key, bounded). */
export function endpointCookie(endpoint: Endpoint): string {
  let value = hashes.get(endpoint.key);
  if (value === undefined) {
    value = createHash('sha1').update(endpoint.key).digest('hex');
    if (hashes.size >= 65_536) hashes.clear();
    hashes.set(endpoint.key, value);
  }
  return value;
}

/**
 * The endpoint for a sticky request: the cookie's, when it is among `endpoints` (those traffic may
 * go to), else `pick()`'s, with a Set-Cookie for it added to the response.
 */
export function pickSticky(sticky: StickyChoice, endpoints: readonly Endpoint[], pick: () => Endpoint | undefined, edits: UpstreamEdits, now: () => number = Date.now): Endpoint | undefined {
  if (sticky.value !== undefined) {
    for (const endpoint of endpoints) if (endpointCookie(endpoint) === sticky.value) return endpoint;
  }
  const endpoint = pick();
  if (endpoint !== undefined) edits.responseHeaders.push(['Set-Cookie', renderCookie(sticky, endpointCookie(endpoint), now)]);
  return endpoint;
}

function renderCookie(sticky: StickyChoice, value: string, now: () => number): string {
  const p = sticky.policy;
  let cookie = `${p.cookie}=${value}; Path=${sticky.path}`;
  if (p.domain !== undefined) cookie += `; Domain=${p.domain}`;
  if (p.expires !== undefined) cookie += `; Expires=${new Date(now() + p.expires * 1000).toUTCString()}`;
  if (p.maxAge !== undefined) cookie += `; Max-Age=${p.maxAge}`;
  if (p.secure || sticky.https) cookie += '; Secure';
  cookie += '; HttpOnly';
  if (p.sameSite !== undefined) cookie += `; SameSite=${p.sameSite}`;
  return cookie;
}
