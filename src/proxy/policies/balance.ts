// upstream-hash-by and load-balance: ewma: the steps leave a chooser in UpstreamEdits, and the
// data plane picks this request's endpoint with it (pickEndpoint) instead of the backend's round
// robin. An affinity cookie still wins when it names a current endpoint; retries after a failed
// connect go on with the round robin over the endpoints not tried yet.
import { pickByHash } from '../../balancer/consistent-hash.js';
import type { EwmaStore } from '../../balancer/ewma.js';
import type { RegisteredBackend } from '../../balancer/backend-registry.js';
import type { Endpoint } from '../../model/route-model.js';
import { pickSticky } from './affinity.js';
import { cookieValue } from './canary.js';
import { hostWithoutPort } from './ssl-redirect.js';
import type { EndpointChooser, RequestStep, StepRequest, UpstreamEdits } from './step.js';

/** The endpoint for a request: sticky cookie, else the steps' chooser, else the backend's balancer. */
export function pickEndpoint(backend: RegisteredBackend, edits: UpstreamEdits | undefined): Endpoint | undefined {
  if (edits === undefined) return backend.balancer.pick();
  const chooser = edits.chooser;
  const pick = chooser === undefined ? () => backend.balancer.pick() : () => chooser.pick(backend.current.endpoints);
  return edits.sticky === undefined ? pick() : pickSticky(edits.sticky, backend.current.endpoints, pick, edits);
}

/** `$name` (or `${name}`) in `template` expanded for `request`; an absent header, cookie or argument is empty (nginx). */
export function expandHashKey(template: string, request: StepRequest): string {
  return template.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const target = request.target;
    const query = target.indexOf('?');
    switch (name) {
      case 'request_uri':
        return target;
      case 'uri':
        return query < 0 ? target : target.slice(0, query);
      case 'args':
        return query < 0 ? '' : target.slice(query + 1);
      case 'host':
        return hostWithoutPort(request.host).toLowerCase();
      case 'scheme':
        return request.proto;
      case 'remote_addr':
        return request.clientAddress;
      case 'request_method':
        return request.method;
    }
    if (name.startsWith('http_')) return request.header(name.slice(5).toLowerCase().replaceAll('_', '-')) ?? '';
    if (name.startsWith('cookie_')) return cookieValue(request.header('cookie'), name.slice(7)) ?? '';
    if (name.startsWith('arg_')) return query < 0 ? '' : (argValue(target.slice(query + 1), name.slice(4)) ?? '');
    return whole;
  });
}

/** nginx's $arg_name: the first `name=` of the query, undecoded, the name compared case-insensitively. */
function argValue(query: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if ((eq < 0 ? part : part.slice(0, eq)).toLowerCase() === lower) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

export function hashByStep(template: string): RequestStep {
  return {
    name: 'upstream-hash-by',
    run: (request, edits) => {
      const key = expandHashKey(template, request);
      edits.chooser = { pick: (endpoints, exclude) => pickByHash(key, endpoints, exclude) };
      return undefined;
    },
  };
}

export function ewmaStep(store: EwmaStore): RequestStep {
  const chooser: EndpointChooser = {
    pick: (endpoints, exclude) => store.pick(endpoints, exclude),
    observe: (endpointKey, ms, ok) => store.observe(endpointKey, ms, ok),
  };
  return {
    name: 'load-balance-ewma',
    run: (_request, edits) => {
      edits.chooser = chooser;
      return undefined;
    },
  };
}
