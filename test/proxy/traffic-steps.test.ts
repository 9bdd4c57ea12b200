import { describe, expect, it } from 'vitest';
import type { BackendEndpoints, Endpoint, Route } from '../../src/model/route-model.js';
import { buildRoutePipeline, ConnectionLimitStore, EwmaStore, newUpstreamEdits, pickEndpoint, RateLimitStore, type StepRequest } from '../../src/proxy/policies/pipeline.js';
import { expandHashKey, hashByStep } from '../../src/proxy/policies/balance.js';
import { connectionLimitStep } from '../../src/proxy/policies/connection-limit.js';
import { pickByHash } from '../../src/balancer/consistent-hash.js';
import { RoundRobin } from '../../src/balancer/round-robin.js';
import type { RegisteredBackend } from '../../src/balancer/backend-registry.js';

const request = (over: Partial<StepRequest> & { headers?: Record<string, string> } = {}): StepRequest => {
  const { headers = {}, ...rest } = over;
  return { method: 'GET', host: 'A.example:8080', target: '/x/y?id=7&Lang=de&flag', proto: 'http', clientAddress: '192.0.2.10', header: (name) => headers[name], fields: () => Object.entries(headers), ...rest };
};
const ep = (i: number): Endpoint => ({ key: `10.0.0.${i}:80`, address: `10.0.0.${i}`, port: 80, ready: true, serving: true, terminating: false });
const backendOf = (endpoints: Endpoint[]): RegisteredBackend => {
  const current: BackendEndpoints = { backend: { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 }, endpoints };
  return { key: current.backend.key, current, balancer: new RoundRobin(endpoints) };
};
const route = (policies: Route['policies']): Route => ({ pathType: 'Prefix', path: '/', backend: { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 }, ingress: 'shop/a', policies });

describe('upstream-hash-by step', () => {
  it('expands nginx variables: $request_uri, $uri, $args, $host, $remote_addr, $scheme, $http_*, $cookie_*, $arg_*, ${name}; absent values are empty', () => {
    const r = request({ headers: { 'x-user-id': 'u1', cookie: 'a=1; session=abc' } });
    expect(expandHashKey('$request_uri|$uri|$args|$host|$remote_addr|$scheme|$request_method', r)).toBe('/x/y?id=7&Lang=de&flag|/x/y|id=7&Lang=de&flag|a.example|192.0.2.10|http|GET');
    expect(expandHashKey('$http_x_user_id-$cookie_session-$arg_id-$arg_lang-$arg_flag-$arg_none-$http_absent', r)).toBe('u1-abc-7-de---');
    expect(expandHashKey('${host}${request_uri}', r)).toBe('a.example/x/y?id=7&Lang=de&flag');
    expect(expandHashKey('$arg_id', request({ target: '/plain' }))).toBe('');
  });

  it('leaves a chooser that picks by the hash of the expanded key: the same key, the same endpoint', () => {
    const endpoints = [1, 2, 3, 4].map(ep);
    const backend = backendOf(endpoints);
    const step = hashByStep('$http_x_user_id');
    const pickFor = (user: string) => {
      const edits = newUpstreamEdits();
      step.run(request({ headers: { 'x-user-id': user } }), edits);
      return pickEndpoint(backend, edits)!.key;
    };
    for (const user of ['alice', 'bob', 'carol']) {
      expect(pickFor(user)).toBe(pickByHash(user, endpoints)!.key);
      expect(pickFor(user)).toBe(pickFor(user));
    }
    // Without edits (a route with no steps) the round robin picks.
    expect([pickEndpoint(backend, undefined)!.key, pickEndpoint(backend, undefined)!.key]).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('a sticky cookie naming a current endpoint still wins; without one, the hash picks and the cookie is set', async () => {
    const endpoints = [1, 2, 3].map(ep);
    const backend = backendOf(endpoints);
    const pipeline = buildRoutePipeline(route({ affinity: { cookie: 'route', mode: 'balanced', secure: false }, upstreamHashBy: '$uri' }), { rateLimits: new RateLimitStore() })!;
    expect(pipeline.steps).toEqual(['affinity', 'upstream-hash-by']);
    const edits = newUpstreamEdits();
    pipeline.request(request(), edits);
    expect(pickEndpoint(backend, edits)!.key).toBe(pickByHash('/x/y', endpoints)!.key);
    expect(edits.responseHeaders[0]![0]).toBe('Set-Cookie');
  });

  it('upstream-hash-by wins over load-balance: ewma (one chooser), as ingress-nginx', () => {
    const both = buildRoutePipeline(route({ upstreamHashBy: '$uri', loadBalance: 'ewma' }), { rateLimits: new RateLimitStore() })!;
    expect(both.steps).toEqual(['upstream-hash-by']);
  });
});

describe('load-balance: ewma step', () => {
  it('picks with the context’s store and feeds it the response times', () => {
    let now = 0;
    const ewma = new EwmaStore({ now: () => now, random: () => 0 });
    const pipeline = buildRoutePipeline(route({ loadBalance: 'ewma' }), { rateLimits: new RateLimitStore(), ewma })!;
    expect(pipeline.steps).toEqual(['load-balance-ewma']);
    const endpoints = [1, 2].map(ep);
    const backend = backendOf(endpoints);
    const edits = newUpstreamEdits();
    pipeline.request(request(), edits);
    // random 0: the pair is (ep 1, ep 2); both unmeasured: the first.
    expect(pickEndpoint(backend, edits)!.key).toBe('10.0.0.1:80');
    edits.chooser!.observe!('10.0.0.1:80', 400, true);
    now += 1;
    edits.chooser!.observe!('10.0.0.2:80', 5, true);
    expect(pickEndpoint(backend, edits)!.key).toBe('10.0.0.2:80');
    expect(ewma.size).toBe(2);
  });
});

describe('limit-connections step', () => {
  it('admits up to the limit per client address and Ingress, answers 503 over it, and frees a slot on release (once)', () => {
    const store = new ConnectionLimitStore();
    const step = connectionLimitStep({ max: 2 }, 'shop/a', store);
    const run = (clientAddress = '192.0.2.10') => {
      const edits = newUpstreamEdits();
      return { answer: step.run(request({ clientAddress }), edits), edits };
    };
    const first = run();
    const second = run();
    expect([first.answer, second.answer]).toEqual([undefined, undefined]);
    expect(run().answer).toMatchObject({ kind: 'error', status: 503, code: 'PORTICO_ERR_PROXY_CONNECTION_LIMITED' });
    // Another client, and the same client on another Ingress, have their own counts.
    expect(run('192.0.2.11').answer).toBeUndefined();
    expect(connectionLimitStep({ max: 2 }, 'shop/b', store).run(request(), newUpstreamEdits())).toBeUndefined();
    first.edits.release!();
    first.edits.release!();
    expect(store.inFlight('shop/a', '192.0.2.10')).toBe(1);
    expect(run().answer).toBeUndefined();
  });

  it('answers with the ConfigMap’s limit-conn-status-code when one is set', () => {
    const step = connectionLimitStep({ max: 1, status: 429 }, 'shop/a', new ConnectionLimitStore());
    step.run(request(), newUpstreamEdits());
    expect(step.run(request(), newUpstreamEdits())).toMatchObject({ kind: 'error', status: 429, code: 'PORTICO_ERR_PROXY_CONNECTION_LIMITED' });
  });

  it('a zone is dropped when its last request is over; allowlisted clients are never counted', () => {
    const store = new ConnectionLimitStore();
    const step = connectionLimitStep({ max: 1, exempt: ['10.0.0.0/8'] }, 'shop/a', store);
    const edits = newUpstreamEdits();
    step.run(request(), edits);
    expect(store.zones).toBe(1);
    edits.release!();
    expect(store.zones).toBe(0);
    for (let i = 0; i < 3; i++) {
      const e = newUpstreamEdits();
      expect(step.run(request({ clientAddress: '10.1.2.3' }), e)).toBeUndefined();
      expect(e.release).toBeUndefined();
    }
  });

  it('runs after the rate limit in the pipeline, with the context’s store', () => {
    const connectionLimits = new ConnectionLimitStore();
    const pipeline = buildRoutePipeline(route({ rateLimit: { rps: 5, burstMultiplier: 5 }, connectionLimit: { max: 1 } }), { rateLimits: new RateLimitStore(), connectionLimits })!;
    expect(pipeline.steps).toEqual(['rate-limit', 'limit-connections']);
    pipeline.request(request(), newUpstreamEdits());
    expect(connectionLimits.inFlight('shop/a', '192.0.2.10')).toBe(1);
  });
});

describe('mirror-target step', () => {
  it('resolves the mirror URL per request (variables expanded), its Host (mirror-host or the URL’s) and the body choice', async () => {
    const { mirrorStep } = await import('../../src/proxy/policies/mirror.js');
    const edits = newUpstreamEdits();
    mirrorStep({ url: 'http://m.svc:8080/copy$request_uri', body: true }).run(request(), edits);
    expect([edits.mirror?.url.href, edits.mirror?.host, edits.mirror?.body]).toEqual(['http://m.svc:8080/copy/x/y?id=7&Lang=de&flag', 'm.svc:8080', true]);
    const fixed = newUpstreamEdits();
    mirrorStep({ url: 'https://m.svc/', body: false, host: 'shadow' }).run(request(), fixed);
    expect([fixed.mirror?.url.href, fixed.mirror?.host, fixed.mirror?.body]).toEqual(['https://m.svc/', 'shadow', false]);
    // A URL that does not parse once expanded: no mirror, the request goes on.
    const broken = newUpstreamEdits();
    expect(mirrorStep({ url: 'http://$host:99999/', body: true }).run(request(), broken)).toBeUndefined();
    expect(broken.mirror).toBeUndefined();
  });
});
