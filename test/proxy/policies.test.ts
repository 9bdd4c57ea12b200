import { describe, expect, it } from 'vitest';
import { buildRoutePipeline, newUpstreamEdits, type StepRequest, type StepResult } from '../../src/proxy/policies/pipeline.js';
import type { CanaryPolicy } from '../../src/model/route-model.js';
import { affinityStep } from '../../src/proxy/policies/affinity.js';
import bcrypt from 'bcryptjs';
import { apr1, basicAuthStep, checkHash, parseBasicCredentials } from '../../src/proxy/policies/basic-auth.js';
import { canaryStep } from '../../src/proxy/policies/canary.js';
import { corsStep } from '../../src/proxy/policies/cors.js';
import { appRootStep, expandVariables, redirectStep } from '../../src/proxy/policies/redirect.js';
import { rateLimitStep, RateLimitStore, RateLimitZone } from '../../src/proxy/policies/rate-limit.js';
import { rewriteStep } from '../../src/proxy/policies/rewrite.js';
import { sourceRangeStep } from '../../src/proxy/policies/source-range.js';
import { sslRedirectStep } from '../../src/proxy/policies/ssl-redirect.js';
import { forwardedPrefixStep, responseHeadersStep, upstreamHeadersStep, upstreamVhostStep } from '../../src/proxy/policies/upstream-headers.js';

const request = (over: Partial<StepRequest> = {}): StepRequest => ({ method: 'GET', host: 'a.example', target: '/x?y=1', proto: 'http', clientAddress: '192.0.2.10', header: () => undefined, fields: () => [], ...over });

describe('route steps', () => {
  it('source range: deny first, then allow; no allow list admits the rest; IPv6; an unparsable peer is refused', () => {
    const step = sourceRangeStep({ allow: ['192.0.2.0/24', '2001:db8::/32'], deny: ['192.0.2.10/32'] });
    const verdict = (clientAddress: string) => step.run(request({ clientAddress }), newUpstreamEdits());
    expect(verdict('192.0.2.10')).toMatchObject({ status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
    expect(verdict('192.0.2.11')).toBeUndefined();
    expect(verdict('198.51.100.1')).toMatchObject({ status: 403 });
    expect(verdict('2001:db8::5')).toBeUndefined();
    expect(verdict('2001:db9::5')).toMatchObject({ status: 403 });
    expect(verdict('')).toMatchObject({ status: 403 });
    // The cached verdict is the same verdict.
    expect(verdict('192.0.2.10')).toMatchObject({ status: 403 });
    const denyOnly = sourceRangeStep({ deny: ['10.0.0.0/8'] });
    expect(denyOnly.run(request({ clientAddress: '10.2.3.4' }), newUpstreamEdits())).toMatchObject({ status: 403 });
    expect(denyOnly.run(request({ clientAddress: '11.2.3.4' }), newUpstreamEdits())).toBeUndefined();
    expect(sourceRangeStep({ allow: [] }).run(request(), newUpstreamEdits())).toMatchObject({ status: 403 });
  });

  it('ssl-redirect: only plain HTTP, to https on the same host without its port, target kept', () => {
    const step = sslRedirectStep();
    expect(step.run(request({ host: 'Shop.example:8080' }), newUpstreamEdits())).toEqual({ kind: 'redirect', status: 308, location: 'https://Shop.example/x?y=1' });
    expect(step.run(request({ host: '[2001:db8::1]:80' }), newUpstreamEdits())).toMatchObject({ location: 'https://[2001:db8::1]/x?y=1' });
    expect(step.run(request({ proto: 'https' }), newUpstreamEdits())).toBeUndefined();
  });

  it('upstream-vhost and x-forwarded-prefix edit the upstream request and never answer', () => {
    const edits = newUpstreamEdits();
    expect(upstreamVhostStep('in.svc:8080').run(request(), edits)).toBeUndefined();
    expect(forwardedPrefixStep('/shop').run(request(), edits)).toBeUndefined();
    expect(edits).toEqual({ target: undefined, host: 'in.svc:8080', headers: [['X-Forwarded-Prefix', '/shop']], dropHeaders: [], responseHeaders: [] });
  });

  it('redirect: a fixed URL is one frozen answer; variables expand per request ($host lower-case without port, $uri/$args split at ?)', () => {
    const fixed = redirectStep({ url: 'https://new.example/', status: 301 });
    expect(fixed.run(request(), newUpstreamEdits())).toBe(fixed.run(request({ target: '/other' }), newUpstreamEdits()));
    const r = request({ host: 'Shop.Example:8080', target: '/p/q?a=1&b=2', proto: 'https' });
    expect(expandVariables('$scheme://$host$request_uri|$uri|$args', r)).toBe('https://shop.example/p/q?a=1&b=2|/p/q|a=1&b=2');
    expect(expandVariables('x$urix', r)).toBe('x$urix'); // not a variable boundary: left alone
    expect(expandVariables('$args', request({ target: '/no-query' }))).toBe('');
  });

  it('app-root: only exactly / (with or without a query)', () => {
    const step = appRootStep('/app');
    expect(step.run(request({ target: '/' }), newUpstreamEdits())).toEqual({ kind: 'redirect', status: 302, location: 'http://a.example/app' });
    expect(step.run(request({ target: '/?x=1', proto: 'https' }), newUpstreamEdits())).toMatchObject({ location: 'https://a.example/app' });
    expect(step.run(request({ target: '/a' }), newUpstreamEdits())).toBeUndefined();
    expect(step.run(request({ target: '//' }), newUpstreamEdits())).toBeUndefined();
  });

  it('composes a route\'s steps in one fixed order whatever the policies, and none for a route without any', () => {
    const backend = { key: 's/w/80', namespace: 's', service: 'w', port: 80 };
    const route = { pathType: 'Prefix' as const, path: '/', backend, ingress: 's/a' };
    expect(buildRoutePipeline(route)).toBeUndefined();
    const all = buildRoutePipeline({
      ...route,
      sslRedirect: true,
      policies: { forwardedPrefix: '/p', upstreamVhost: 'v', redirect: { url: 'https://x.example/', status: 301 }, appRoot: '/app', sourceRange: { deny: ['10.0.0.0/8'] } },
    });
    expect(all?.steps).toEqual(['source-range', 'app-root', 'redirect', 'ssl-redirect', 'upstream-vhost', 'x-forwarded-prefix']);
    // A CORS preflight is answered before the ssl-redirect (browsers do not follow redirects on preflights).
    const cors = buildRoutePipeline({ ...route, sslRedirect: true, policies: { cors: { origins: ['*'], methods: 'GET', headers: 'X', credentials: false, maxAge: 1 } } });
    expect(cors?.steps).toEqual(['cors', 'ssl-redirect']);
    expect(cors?.request(request({ method: 'OPTIONS' }), newUpstreamEdits())).toMatchObject({ kind: 'respond', status: 204 });
    // A refused client gets 403, not the redirect.
    expect(all?.request(request({ clientAddress: '10.1.1.1', target: '/' }), newUpstreamEdits())).toMatchObject({ status: 403 });
    expect(all?.request(request({ target: '/' }), newUpstreamEdits())).toMatchObject({ status: 302, location: 'http://a.example/app' });
    expect(all?.request(request({ target: '/b' }), newUpstreamEdits())).toMatchObject({ status: 301 });
  });

  it('rewrite: the whole path becomes the target with its captures; the query is appended unless the target ends with ?', () => {
    const step = rewriteStep('/something(/|$)(.*)', '/$2');
    const target = (t: string, s = step) => {
      const edits = newUpstreamEdits();
      expect(s.run(request({ target: t }), edits)).toBeUndefined();
      return edits.target;
    };
    expect(target('/something')).toBe('/');
    expect(target('/something/')).toBe('/');
    expect(target('/something/new?a=1')).toBe('/new?a=1');
    expect(target('/SomeThing/x')).toBe('/x'); // (?i), as ingress-nginx
    expect(target('/other')).toBeUndefined(); // no match: no rewrite
    expect(target('/something/x?a=1', rewriteStep('/something(/|$)(.*)', '/$2?'))).toBe('/x');
    expect(target('/something/x?a=1', rewriteStep('/something(/|$)(.*)', '/r?b=2'))).toBe('/r?b=2&a=1');
    expect(target('/p/q', rewriteStep('/p/(.*)', '/$1/$3'))).toBe('/q/'); // a group that does not exist is empty
    expect(target('/%73omething/new')).toBe('/new'); // the form routing matched (unreserved characters decoded)
  });

  it('rate limit: nginx limit_req with burst and nodelay per client address; a refused request counts nothing; the bucket drains at the rate', () => {
    let now = 0;
    const store = new RateLimitStore({ now: () => now });
    const step = rateLimitStep({ rps: 2, burstMultiplier: 2 }, 'shop/a', store); // burst 4
    const from = (clientAddress: string) => (step.run(request({ clientAddress }), newUpstreamEdits()) as StepResult)?.kind ?? 'ok';
    expect(Array.from({ length: 7 }, () => from('192.0.2.1'))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'error', 'error']); // burst + 1 at once
    expect(step.run(request({ clientAddress: '192.0.2.1' }), newUpstreamEdits())).toMatchObject({ status: 503, code: 'PORTICO_ERR_PROXY_RATE_LIMITED' });
    expect(from('192.0.2.2')).toBe('ok'); // per client
    now += 500; // one request drained at 2/s
    expect([from('192.0.2.1'), from('192.0.2.1')]).toEqual(['ok', 'error']);
    now += 10_000; // fully drained
    expect(Array.from({ length: 5 }, () => from('192.0.2.1'))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    // The same Ingress and limits in the next build share the zone: no fresh burst on a configuration change.
    const rebuilt = rateLimitStep({ rps: 2, burstMultiplier: 2 }, 'shop/a', store);
    expect(rebuilt.run(request({ clientAddress: '192.0.2.1' }), newUpstreamEdits())).toMatchObject({ status: 503 });
  });

  it('rate limit: rps and rpm both apply; exempt addresses are never limited', () => {
    let now = 0;
    const store = new RateLimitStore({ now: () => now });
    const step = rateLimitStep({ rps: 100, rpm: 2, burstMultiplier: 1, exempt: ['10.0.0.0/8'] }, 'shop/b', store);
    const from = (clientAddress: string) => (step.run(request({ clientAddress }), newUpstreamEdits()) as StepResult)?.kind ?? 'ok';
    expect([from('192.0.2.1'), from('192.0.2.1'), from('192.0.2.1'), from('192.0.2.1')]).toEqual(['ok', 'ok', 'ok', 'error']); // rpm burst 2
    now += 100;
    expect(from('192.0.2.1')).toBe('error');
    expect(Array.from({ length: 50 }, () => from('10.1.2.3')).every((v) => v === 'ok')).toBe(true);
  });

  it('rate limit: the ConfigMap\'s limit-req-status-code is the refusal\'s status', () => {
    const step = rateLimitStep({ rps: 1, burstMultiplier: 1, status: 429 }, 'shop/c', new RateLimitStore({ now: () => 0 }));
    const results = Array.from({ length: 3 }, () => step.run(request(), newUpstreamEdits()));
    expect(results[2]).toEqual({ kind: 'error', status: 429, code: 'PORTICO_ERR_PROXY_RATE_LIMITED' });
  });

  it('ConfigMap proxy-set-headers replace the client\'s same-named fields upstream; add-headers set response fields', () => {
    const edits = newUpstreamEdits();
    expect(upstreamHeadersStep([['X-Team', 'shop']]).run(request(), edits)).toBeUndefined();
    expect(responseHeadersStep([['X-Frame-Options', 'DENY']]).run(request(), edits)).toBeUndefined();
    expect(edits.headers).toEqual([['X-Team', 'shop']]);
    expect(edits.dropHeaders).toEqual(['x-team']);
    expect(edits.responseHeaders).toEqual([['X-Frame-Options', 'DENY']]);
    const pipeline = buildRoutePipeline({ pathType: 'Prefix', path: '/', backend: { key: 'a/b/80', namespace: 'a', service: 'b', port: 80 }, ingress: 'a/i', policies: { upstreamHeaders: [['X-A', '1']], responseHeaders: [['X-B', '2']] } });
    expect(pipeline?.steps).toEqual(['proxy-set-headers', 'add-headers']);
  });

  it('rate limit zones hold at most maxClients addresses, dropping the longest idle first', () => {
    const zone = new RateLimitZone({ perSecond: 1, burst: 0, maxClients: 2 });
    expect([zone.admit('a', 0), zone.admit('b', 0), zone.admit('a', 0)]).toEqual([true, true, false]);
    expect(zone.admit('b', 0)).toBe(false);
    expect(zone.admit('c', 0)).toBe(true); // full: a, accepted longest ago (refusals do not count), is dropped
    expect(zone.size).toBe(2);
    expect(zone.admit('a', 0)).toBe(true); // a starts over; b is still limited
    expect(zone.admit('c', 0)).toBe(false);
  });

  it('cors: a wildcard entry admits exactly one label; matching ignores case, the Origin is echoed as sent', () => {
    const step = corsStep({ origins: ['https://*.shop.example', 'https://app.example'], methods: 'GET', headers: 'X-A', credentials: true, maxAge: 5 });
    const run = (origin: string | undefined, method = 'GET') => {
      const edits = newUpstreamEdits();
      const answer = step.run(request({ method, header: (n) => (n === 'origin' ? origin : undefined) }), edits) as StepResult;
      return { answer, fields: Object.fromEntries(edits.responseHeaders) };
    };
    expect(run('https://A1.Shop.Example').fields['Access-Control-Allow-Origin']).toBe('https://A1.Shop.Example');
    expect(run('https://shop.example').fields).toEqual({});
    expect(run('https://a.b.shop.example').fields).toEqual({});
    expect(run('https://a_b.shop.example').fields).toEqual({});
    expect(run(undefined).fields).toEqual({});
    expect(run('https://app.example', 'OPTIONS').answer).toMatchObject({ kind: 'respond', status: 204, headers: expect.arrayContaining([['Access-Control-Allow-Origin', 'https://app.example'], ['Access-Control-Max-Age', '5']]) });
  });

  it('canary: header (value, pattern, always/never) before cookie before weight; never ends on the main backend', () => {
    const canaryBackend = { key: 's/c/80', namespace: 's', service: 'c', port: 80 };
    let dice = 0.5;
    const pick = (policy: Partial<CanaryPolicy>, headers: Record<string, string>) => {
      const step = canaryStep({ backend: canaryBackend, ingress: 's/canary', weight: 0, weightTotal: 100, ...policy }, () => dice);
      const edits = newUpstreamEdits();
      step.run(request({ header: (n) => headers[n] }), edits);
      return edits.backend === undefined ? 'main' : 'canary';
    };
    expect(pick({ header: 'x-c' }, { 'x-c': 'always' })).toBe('canary');
    expect(pick({ header: 'x-c', cookie: 'c' }, { 'x-c': 'never', cookie: 'c=always' })).toBe('main');
    expect(pick({ header: 'x-c', cookie: 'c' }, { 'x-c': 'maybe', cookie: 'a=1; c=always' })).toBe('canary');
    expect(pick({ header: 'x-c', headerValue: 'v2' }, { 'x-c': 'v2' })).toBe('canary');
    expect(pick({ header: 'x-c', headerValue: 'v2' }, { 'x-c': 'always' })).toBe('main'); // with a value, always is just another value
    expect(pick({ header: 'x-c', headerPattern: '^beta-' }, { 'x-c': 'beta-7' })).toBe('canary');
    expect(pick({ header: 'x-c', headerPattern: '^beta-' }, { 'x-c': 'Beta-7' })).toBe('main'); // case-sensitive, as ngx.re.match
    expect(pick({ weight: 30 }, {})).toBe('main'); // 0.5 × 100 = 50 ≥ 30
    dice = 0.29;
    expect(pick({ weight: 30 }, {})).toBe('canary');
    expect(pick({ weight: 30, cookie: 'c' }, { cookie: 'c=never' })).toBe('main');
    dice = 0.999;
    expect(pick({ weight: 100 }, {})).toBe('canary');
    expect(pick({ weight: 0 }, {})).toBe('main');
  });

  it('affinity: the cookie Path is the route path only when it is cookie-safe and literal', () => {
    const policy = { cookie: 'C', mode: 'balanced' as const, secure: false };
    const pathOf = (routePath: string) => {
      const edits = newUpstreamEdits();
      affinityStep(policy, routePath).run(request(), edits);
      return edits.sticky?.path;
    };
    expect([pathOf('/app'), pathOf('/a;Domain=evil.example'), pathOf('/v(1|2)/.*'), pathOf('/a b')]).toEqual(['/app', '/', '/', '/']);
  });

  it('basic auth: credentials parsed strictly; {PLAIN}, {SHA} and apr1 (htpasswd -m / openssl passwd -apr1) checked; 401 names the realm', async () => {
    expect(parseBasicCredentials(`Basic ${Buffer.from('a:b:c').toString('base64')}`)).toEqual({ user: 'a', password: 'b:c' });
    expect([parseBasicCredentials('Bearer x'), parseBasicCredentials('Basic bm9jb2xvbg=='), parseBasicCredentials(undefined)]).toEqual([undefined, undefined, undefined]);
    expect(apr1('secret', 'abcdefgh')).toBe('$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/'); // openssl passwd -apr1 -salt abcdefgh secret
    expect([checkHash('secret', '$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/'), checkHash('Secret', '$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/')]).toEqual([true, false]);
    expect([checkHash('pw', '{PLAIN}pw'), checkHash('pw', '{SHA}' + 'x'.repeat(27) + '='), checkHash('pw', 'abJnggxhB/yWI')]).toEqual([true, false, false]);
    const step = basicAuthStep({ realm: 'R', users: [['u', '{PLAIN}p']] });
    const run = (authorization?: string) => step.run(request({ header: (n) => (n === 'authorization' ? authorization : undefined) }), newUpstreamEdits());
    expect(run()).toEqual({ kind: 'error', status: 401, code: 'PORTICO_ERR_PROXY_UNAUTHORIZED', headers: [['WWW-Authenticate', 'Basic realm="R"']] });
    expect(run(`Basic ${Buffer.from('u:p').toString('base64')}`)).toBeUndefined();
    expect(run(`Basic ${Buffer.from('u:p').toString('base64')}`)).toBeUndefined(); // cached verdict
    expect(run(`Basic ${Buffer.from('u:q').toString('base64')}`)).toMatchObject({ status: 401 });
  });

  it('basic auth with bcrypt: concurrent requests with the same credentials share one bcrypt run; then the verdict is cached (synchronous)', async () => {
    const hash = bcrypt.hashSync('pw', 4);
    const step = basicAuthStep({ realm: 'R', users: [['u', hash]] });
    const run = (password: string) => step.run(request({ header: (n) => (n === 'authorization' ? `Basic ${Buffer.from(`u:${password}`).toString('base64')}` : undefined) }), newUpstreamEdits());
    const first = run('pw');
    const second = run('pw');
    const wrong = run('nope');
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect(wrong).not.toBe(first);
    expect(await first).toBeUndefined();
    expect(await wrong).toMatchObject({ status: 401 });
    expect(run('pw')).toBeUndefined();
  });
});

