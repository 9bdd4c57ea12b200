// Per-route features from annotations, end to end on both data planes: the source-range check on the
// connection's address, upstream-vhost and x-forwarded-prefix on the upstream request, an invalid
// access list failing closed, the redirects and app-root, snippets refused, unimplemented annotations
// reported, and an annotation change applied without a restart.
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import bcrypt from 'bcryptjs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apr1 } from '../../src/proxy/policies/basic-auth.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import { eventually } from '../helpers/http.js';
import { rawExchange } from '../proxy/proxy-fixture.js';
import { ingress, prefix, rule, secret } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';

const A = 'nginx.ingress.kubernetes.io/';

const policyIngress = (name: string, host: string, annotations: Record<string, string>) =>
  ingress(`shop/${name}`, { className: 'portico', annotations, rules: [rule(host, [prefix('/', 'web', 80)])] });

describe.each(DATA_PLANES)('route policies (data plane: %s)', (dataPlane) => {
  let harness: Harness;
  let pods: EchoPod[];
  let canaryPods: EchoPod[];
  let stickyPods: EchoPod[];
  let deadPorts: number[];
  let tlsBackend: Server;
  let authService: HttpServer;
  const authSeen: Array<Record<string, string | string[] | undefined>> = [];
  const authUrl = () => `http://127.0.0.1:${(authService.address() as AddressInfo).port}/check`;
  const htpasswd = (lines: string[]) => secret('shop/basic-auth', { auth: Buffer.from(`${lines.join('\n')}\n`).toString('base64') });
  const ALICE = `alice:{SHA}${createHash('sha1').update('alice-pw').digest('base64')}`;
  const BOB = `bob:${apr1('bob-pw', 'q1w2e3r4')}`;
  const CAROL = `carol:${bcrypt.hashSync('carol-pw', 4)}`;
  const tlsBackendPort = () => (tlsBackend.address() as AddressInfo).port;
  const ingresses = (allowed: string) => [
    ...serviceFor('shop/web', pods),
    ...serviceFor('shop/web-canary', canaryPods),
    ...serviceFor('shop/sticky', stickyPods),
    // Two endpoints that refuse connections and one that serves.
    ...serviceFor('shop/flaky', [...deadPorts.map((port) => ({ port }) as EchoPod), pods[0]!]),
    ingress('shop/retry-default', { className: 'portico', rules: [rule('retry-default.example', [prefix('/', 'flaky', 80)])] }),
    ingress('shop/retry-off', { className: 'portico', annotations: { [`${A}proxy-next-upstream`]: 'off' }, rules: [rule('retry-off.example', [prefix('/', 'flaky', 80)])] }),
    ingress('shop/retry-3', { className: 'portico', annotations: { [`${A}proxy-next-upstream-tries`]: '3' }, rules: [rule('retry-3.example', [prefix('/', 'flaky', 80)])] }),
    ...serviceFor('shop/secure', [{ port: tlsBackendPort() } as EchoPod]),
    htpasswd([ALICE, BOB, CAROL]),
    policyIngress('ext', 'ext.example', { [`${A}auth-url`]: authUrl(), [`${A}auth-response-headers`]: 'X-Auth-Request-User' }),
    policyIngress('ext-signin', 'ext-signin.example', { [`${A}auth-url`]: authUrl(), [`${A}auth-signin`]: 'https://$host/oauth2/start' }),
    policyIngress('auth', 'auth.example', { [`${A}auth-type`]: 'basic', [`${A}auth-secret`]: 'basic-auth', [`${A}auth-realm`]: 'Shop staff' }),
    ingress('shop/secure', { className: 'portico', annotations: { [`${A}backend-protocol`]: 'HTTPS', [`${A}proxy-ssl-server-name`]: 'on', [`${A}proxy-ssl-name`]: 'pod.internal' }, rules: [rule('secure.example', [prefix('/', 'secure', 80)])] }),
    ingress('shop/sticky', { className: 'portico', annotations: { [`${A}affinity`]: 'cookie', [`${A}session-cookie-max-age`]: '600', [`${A}session-cookie-samesite`]: 'lax' }, rules: [rule('sticky.example', [prefix('/app', 'sticky', 80), prefix('/response-headers', 'sticky', 80)])] }),
    policyIngress('main', 'canary.example', {}),
    ingress('shop/main-canary', {
      className: 'portico',
      annotations: { [`${A}canary`]: 'true', [`${A}canary-by-header`]: 'X-Canary', [`${A}canary-by-cookie`]: 'use_canary', [`${A}upstream-vhost`]: 'not-applied.svc' },
      rules: [rule('canary.example', [prefix('/', 'web-canary', 80)])],
    }),
    policyIngress('allowed', 'allowed.example', { [`${A}whitelist-source-range`]: allowed }),
    policyIngress('elsewhere', 'elsewhere.example', { [`${A}allowlist-source-range`]: '10.0.0.0/8, 192.0.2.7' }),
    policyIngress('denied', 'denied.example', { [`${A}denylist-source-range`]: '127.0.0.1' }),
    policyIngress('broken', 'broken.example', { [`${A}whitelist-source-range`]: '127.0.0.0/8, not-a-cidr' }),
    policyIngress('force', 'force.example', { [`${A}force-ssl-redirect`]: 'true' }),
    policyIngress('vhost', 'vhost.example', { [`${A}upstream-vhost`]: 'internal.svc:8080', [`${A}x-forwarded-prefix`]: '/shop' }),
    policyIngress('moved', 'moved.example', { [`${A}permanent-redirect`]: 'https://new.example$request_uri', [`${A}permanent-redirect-code`]: '308' }),
    policyIngress('temp', 'temp.example', { [`${A}temporal-redirect`]: 'https://$host.maintenance.example/?from=$uri', [`${A}permanent-redirect`]: 'https://never.example/' }),
    policyIngress('approot', 'approot.example', { [`${A}app-root`]: '/app1' }),
    policyIngress('snippet', 'snippet.example', { [`${A}configuration-snippet`]: 'more_set_headers "X-Evil: 1";' }),
    policyIngress('unknown', 'unknown.example', { [`${A}upstream-hash-by-subset`]: 'true' }),
    // ingress-nginx's rewrite example, and a plain Ingress on the same host that regex mode reaches.
    ingress('shop/rewrite', { className: 'portico', annotations: { [`${A}rewrite-target`]: '/$2' }, rules: [{ host: 'rw.example', http: { paths: [{ path: '/something(/|$)(.*)', pathType: 'ImplementationSpecific', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] }),
    ingress('shop/plain', { className: 'portico', rules: [rule('rw.example', [prefix('/Plain', 'web', 80)])] }),
    policyIngress('aliased', 'aliased.example', { [`${A}server-alias`]: 'other-name.example', [`${A}from-to-www-redirect`]: 'true' }),
    policyIngress('small', 'small.example', { [`${A}proxy-body-size`]: '1k' }),
    policyIngress('unlimited', 'unlimited.example', { [`${A}proxy-body-size`]: '0' }),
    policyIngress('impatient', 'impatient.example', { [`${A}proxy-read-timeout`]: '1', [`${A}proxy-connect-timeout`]: '2' }),
    policyIngress('quiet', 'quiet.example', { [`${A}enable-access-log`]: 'false' }),
    policyIngress('cors-any', 'cors-any.example', { [`${A}enable-cors`]: 'true' }),
    policyIngress('cors-list', 'cors-list.example', {
      [`${A}enable-cors`]: 'true',
      [`${A}cors-allow-origin`]: 'https://app.example, https://*.shop.example',
      [`${A}cors-allow-methods`]: 'GET, POST',
      [`${A}cors-allow-credentials`]: 'false',
      [`${A}cors-expose-headers`]: 'X-Total',
      [`${A}cors-max-age`]: '600',
    }),
    policyIngress('limited', 'limited.example', { [`${A}limit-rpm`]: '1', [`${A}limit-burst-multiplier`]: '1' }),
    policyIngress('exempt', 'exempt.example', { [`${A}limit-rpm`]: '1', [`${A}limit-burst-multiplier`]: '1', [`${A}limit-whitelist`]: '127.0.0.1' }),
  ];

  beforeAll(async () => {
    pods = await startEchoPods('web', 1);
    canaryPods = await startEchoPods('web-canary', 1);
    stickyPods = await startEchoPods('sticky', 2);
    deadPorts = [];
    for (let i = 0; i < 2; i++) {
      const probe = createHttpServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      deadPorts.push((probe.address() as AddressInfo).port);
      await new Promise((resolve) => probe.close(resolve));
    }
    const certificate = createDefaultCertificate();
    tlsBackend = createHttpsServer({ cert: certificate.certPem, key: certificate.keyPem }, (req, res) => {
      const socket = req.socket as TLSSocket;
      res.end(JSON.stringify({ tls: socket.encrypted === true, servername: (socket as TLSSocket & { servername?: string }).servername, path: req.url }));
    });
    await new Promise<void>((resolve) => tlsBackend.listen(0, '127.0.0.1', resolve));
    authService = createHttpServer((req, res) => {
      authSeen.push({ ...req.headers, ':method': req.method, ':path': req.url });
      const token = req.headers.authorization;
      if (token === 'Bearer good') res.writeHead(200, { 'x-auth-request-user': 'alice' }).end('ok');
      else if (token === 'Bearer banned') res.writeHead(403).end();
      else if (token === 'Bearer broken') res.writeHead(502).end();
      else res.writeHead(401, { 'www-authenticate': 'Bearer realm="shop"' }).end();
    });
    await new Promise<void>((resolve) => authService.listen(0, '127.0.0.1', resolve));
    harness = await startHarness({ '00-class.yaml': [PORTICO_CLASS], 'shop.yaml': ingresses('127.0.0.0/8') }, { dataPlane });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods);
    await closePods(canaryPods);
    await closePods(stickyPods);
    await new Promise((resolve) => tlsBackend.close(resolve));
    await new Promise((resolve) => authService.close(resolve));
  });

  it('serves a client inside the allowlist and refuses one outside it with 403, before any endpoint is asked', async () => {
    const served = pods[0]!.requests;
    expect((await harness.get('allowed.example', '/')).status).toBe(200);
    const refused = await harness.get('elsewhere.example', '/');
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
    expect((await harness.get('denied.example', '/')).status).toBe(403);
    // A forged X-Forwarded-For changes nothing: the check is on the connection's address.
    expect((await harness.get('elsewhere.example', '/', { headers: { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' } })).status).toBe(403);
    expect(pods[0]!.requests - served).toBe(1);
  });

  it('an unreadable access list fails closed (403 for everyone) and names the bad entry', async () => {
    expect((await harness.get('broken.example', '/')).status).toBe(403);
    const line = harness.log.lines.find((l) => l.code === 'PORTICO_ERR_INGRESS_ANNOTATION_INVALID' && String(l.object).includes('shop/broken'));
    expect(line).toMatchObject({ level: 'error', field: `metadata.annotations.${A}whitelist-source-range` });
    expect(String(line?.msg)).toContain('"not-a-cidr" is not an IP address or CIDR');
  });

  it('upstream-vhost replaces the Host the backend gets (X-Forwarded-Host keeps the client’s); x-forwarded-prefix is sent', async () => {
    const res = await harness.get('vhost.example', '/x');
    expect(res.status).toBe(200);
    expect(res.json?.host).toBe('internal.svc:8080');
    expect(res.json?.headers['x-forwarded-host']).toBe('vhost.example');
    expect(res.json?.headers['x-forwarded-prefix']).toBe('/shop');
  });

  it('an upgrade runs the same steps as a plain request: force-ssl-redirect answers both with 308', async () => {
    const served = pods[0]!.requests;
    expect((await harness.get('force.example', '/chat?room=1')).headers.location).toBe('https://force.example/chat?room=1');
    const out = await rawExchange(harness.port, 'GET /chat?room=1 HTTP/1.1\r\nHost: force.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 308 /);
    expect(out.toLowerCase()).toContain('location: https://force.example/chat?room=1\r\n');
    expect(pods[0]!.requests).toBe(served);
  });

  it('permanent-redirect and temporal-redirect answer every request themselves, with nginx variables expanded', async () => {
    const served = pods[0]!.requests;
    const moved = await harness.get('moved.example', '/a/b?c=1');
    expect([moved.status, moved.headers.location]).toEqual([308, 'https://new.example/a/b?c=1']);
    // temporal-redirect wins over permanent-redirect; $host is without the port, $uri without the query.
    const temp = await harness.get('temp.example:8080', '/x?y=2');
    expect([temp.status, temp.headers.location]).toEqual([302, 'https://temp.example.maintenance.example/?from=/x']);
    // An upgrade is redirected the same way.
    const out = await rawExchange(harness.port, 'GET /ws HTTP/1.1\r\nHost: moved.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 308 /);
    expect(pods[0]!.requests).toBe(served);
  });

  it('app-root: / (with any query) gets a 302 to the root on the same scheme and host; other paths are proxied', async () => {
    const root = await harness.get('approot.example', '/?x=1');
    expect([root.status, root.headers.location]).toEqual([302, 'http://approot.example/app1']);
    expect((await harness.get('approot.example', '/app1')).status).toBe(200);
    expect((await harness.get('approot.example', '/other')).status).toBe(200);
  });

  it('an Ingress with a snippet is not served (error naming it); an unimplemented annotation is a warning and the Ingress serves', async () => {
    expect((await harness.get('snippet.example', '/')).status).toBe(404);
    expect(harness.log.lines.find((l) => l.code === 'PORTICO_ERR_INGRESS_SNIPPET_REFUSED' && String(l.object).includes('shop/snippet'))).toMatchObject({ level: 'error', field: `metadata.annotations.${A}configuration-snippet` });
    expect((await harness.get('unknown.example', '/')).status).toBe(200);
    const warning = harness.log.lines.find((l) => l.code === 'PORTICO_ERR_INGRESS_ANNOTATION_UNSUPPORTED' && String(l.object).includes('shop/unknown'));
    expect(warning).toMatchObject({ level: 'warn' });
    expect(String(warning?.msg)).toContain(`${A}upstream-hash-by-subset`);
  });

  it('rewrite-target: the backend gets the capture-built path with the query; the host is in regex mode (case-insensitive prefixes)', async () => {
    const paths = async (host: string, path: string) => {
      const res = await harness.get(host, path);
      return [res.status, res.json?.path];
    };
    expect(await paths('rw.example', '/something')).toEqual([200, '/']);
    expect(await paths('rw.example', '/something/new/x?a=1')).toEqual([200, '/new/x?a=1']);
    expect(await paths('rw.example', '/SOMETHING/up')).toEqual([200, '/up']);
    // The other Ingress's literal /Plain is a case-insensitive regex prefix now, not rewritten.
    expect(await paths('rw.example', '/plainly')).toEqual([200, '/plainly']);
    expect((await harness.get('rw.example', '/else')).status).toBe(404);
  });

  it('enable-cors with ingress-nginx defaults: every OPTIONS answered 204 by the proxy, other responses carry the fields, replacing the backend’s', async () => {
    const served = pods[0]!.requests;
    const pre = await harness.get('cors-any.example', '/api', { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'PUT' } });
    expect(pre.status).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, PUT, POST, DELETE, PATCH, OPTIONS',
      'access-control-allow-headers': 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization',
      'access-control-max-age': '1728000',
      'content-type': 'text/plain charset=UTF-8',
    });
    expect(pods[0]!.requests).toBe(served);
    const get = await harness.get('cors-any.example', '/response-headers?access-control-allow-origin=https://evil.example&x-kept=1');
    expect(get.status).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBe('*');
    expect(get.headers['x-kept']).toBe('1');
    expect(get.headers['access-control-expose-headers']).toBeUndefined();
  });

  it('cors-allow-origin list: only a listed Origin (or one label under *.) gets the fields, echoed; other preflights go to the backend', async () => {
    const listed = await harness.get('cors-list.example', '/', { method: 'OPTIONS', headers: { origin: 'https://a1.shop.example' } });
    expect(listed.status).toBe(204);
    expect(listed.headers).toMatchObject({ 'access-control-allow-origin': 'https://a1.shop.example', 'access-control-allow-methods': 'GET, POST', 'access-control-expose-headers': 'X-Total', 'access-control-max-age': '600' });
    expect(listed.headers['access-control-allow-credentials']).toBeUndefined();
    const get = await harness.get('cors-list.example', '/', { headers: { origin: 'https://app.example' } });
    expect([get.status, get.headers['access-control-allow-origin']]).toEqual([200, 'https://app.example']);
    for (const origin of ['https://evil.example', 'https://a.b.shop.example', 'http://app.example']) {
      const other = await harness.get('cors-list.example', '/', { method: 'OPTIONS', headers: { origin } });
      expect([other.status, other.headers['access-control-allow-origin']], origin).toEqual([200, undefined]); // proxied: the echo answers
    }
  });

  it('server-alias serves the host’s routes under another name; from-to-www-redirect sends www. to the host with 308', async () => {
    const alias = await harness.get('other-name.example', '/x');
    expect([alias.status, alias.json?.host]).toEqual([200, 'other-name.example']);
    const www = await harness.get('www.aliased.example', '/p?q=1');
    expect([www.status, www.headers.location]).toEqual([308, 'http://aliased.example/p?q=1']);
  });

  it('canary: the header (always/never) before the cookie decides; without either, the main backend (weight 0); the canary’s own annotations do not apply', async () => {
    const pod = async (headers: Record<string, string> = {}) => {
      const res = await harness.get('canary.example', '/', { headers });
      return [res.status, res.json?.pod, res.json?.host];
    };
    expect(await pod()).toEqual([200, 'web-0', 'canary.example']);
    expect(await pod({ 'x-canary': 'always' })).toEqual([200, 'web-canary-0', 'canary.example']);
    expect(await pod({ 'x-canary': 'never', cookie: 'use_canary=always' })).toEqual([200, 'web-0', 'canary.example']);
    expect(await pod({ cookie: 'a=b; use_canary=always' })).toEqual([200, 'web-canary-0', 'canary.example']);
    expect(harness.log.lines.filter((l) => String(l.code ?? '').startsWith('PORTICO_ERR_INGRESS_CONFLICT') && String(l.object).includes('main-canary'))).toEqual([]);
  });

  it('proxy-body-size: a Content-Length over the route’s limit gets 413 before anything goes upstream; the default is 1m (ingress-nginx), 0 lifts it', async () => {
    const served = pods[0]!.requests;
    expect((await harness.get('small.example', '/', { method: 'POST', body: 'x'.repeat(1024) })).status).toBe(200);
    const over = await harness.get('small.example', '/', { method: 'POST', body: 'x'.repeat(1025) });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body)).toMatchObject({ status: 413, code: 'PORTICO_ERR_PROXY_BODY_TOO_LARGE' });
    // Only the head: the answer comes from the Content-Length alone.
    const head = (host: string, length: number) => `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${length}\r\n\r\n`;
    expect(await rawExchange(harness.port, head('allowed.example', 1024 * 1024 + 1))).toMatch(/^HTTP\/1\.1 413 /);
    expect(pods[0]!.requests - served).toBe(1);
    expect((await harness.get('allowed.example', '/', { method: 'POST', body: 'x'.repeat(64 * 1024) })).status).toBe(200);
    expect((await harness.get('unlimited.example', '/', { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1) })).status).toBe(200);
  });

  it.runIf(dataPlane === 'engine')('proxy-body-size: a chunked body is counted as it arrives; past the limit the client gets 413 and the backend nothing', async () => {
    const served = pods[0]!.requests;
    const chunk = 'x'.repeat(600);
    const chunked = (n: number) => `POST / HTTP/1.1\r\nHost: small.example\r\nTransfer-Encoding: chunked\r\n\r\n${`258\r\n${chunk}\r\n`.repeat(n)}0\r\n\r\n`;
    expect(await rawExchange(harness.port, chunked(2))).toMatch(/^HTTP\/1\.1 413 /);
    expect(pods[0]!.requests).toBe(served);
    expect(await rawExchange(harness.port, chunked(1).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))).toMatch(/^HTTP\/1\.1 200 /);
    // The head does not count: a body of 1,000 bytes on the wire after an 80-byte head is within 1k.
    const near = `POST / HTTP/1.1\r\nHost: small.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3d4\r\n${'y'.repeat(980)}\r\n0\r\n\r\n`;
    expect(await rawExchange(harness.port, near)).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('proxy-read-timeout: an upstream silent longer than the route allows gets 504; other routes keep the 60 s default', async () => {
    const slow = await harness.get('impatient.example', '/delay/1500');
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.body)).toMatchObject({ code: 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT' });
    expect((await harness.get('impatient.example', '/delay/10')).status).toBe(200);
    expect((await harness.get('allowed.example', '/delay/1500')).status).toBe(200);
  });

  it('enable-access-log: "false" writes no access-log line for the route; other routes still log', async () => {
    const mark = harness.log.lines.length;
    expect((await harness.get('quiet.example', '/q')).status).toBe(200);
    expect((await harness.get('allowed.example', '/loud')).status).toBe(200);
    await eventually(async () => harness.log.lines.slice(mark).some((l) => l.log === 'access' && l.host === 'allowed.example'), 3000, 'the other route’s line');
    expect(harness.log.lines.slice(mark).filter((l) => l.log === 'access' && l.host === 'quiet.example')).toEqual([]);
  });

  it('affinity: cookie: the first response sets INGRESSCOOKIE (Path = the route’s path, HttpOnly, the attributes asked for); with it, every request reaches the same pod', async () => {
    const first = await harness.get('sticky.example', '/app/x');
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{40}; Path=\/app; Max-Age=600; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';')[0]!;
    const pods = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await harness.get('sticky.example', '/app/x', { headers: { cookie: `other=1; ${cookie}` } });
      pods.add(String(res.json?.pod));
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect([...pods]).toEqual([first.json?.pod]);
    // Without the cookie the balancer spreads requests; a cookie for no current endpoint gets a new one.
    const spread = new Set<string>();
    for (let i = 0; i < 4; i++) spread.add(String((await harness.get('sticky.example', '/app')).json?.pod));
    expect(spread.size).toBe(2);
    expect(String((await harness.get('sticky.example', '/app', { headers: { cookie: 'INGRESSCOOKIE=stale' } })).headers['set-cookie'])).toMatch(/^INGRESSCOOKIE=[0-9a-f]{40};/);
    // The backend's own cookies stay: the affinity cookie goes beside them.
    const both = (await harness.get('sticky.example', '/response-headers?set-cookie=session%3Dabc')).headers['set-cookie'] as string[];
    expect(both).toEqual(['session=abc', expect.stringMatching(/^INGRESSCOOKIE=[0-9a-f]{40}; Path=\/response-headers;/)]);
  });

  it('backend-protocol HTTPS: TLS to the pod (SNI from proxy-ssl-name); the node data plane refuses with 502 rather than send plain HTTP', async () => {
    if (dataPlane === 'node') {
      expect((await harness.get('secure.example', '/')).status).toBe(502);
      return;
    }
    for (const path of ['/a', '/b?c=1']) {
      const res = await harness.get('secure.example', path);
      expect([res.status, JSON.parse(res.body)]).toEqual([200, { tls: true, servername: 'pod.internal', path }]);
    }
  });

  it('auth-type basic: 401 with WWW-Authenticate without valid credentials (nothing reaches the backend); {SHA}, apr1 and bcrypt users get in; a Secret change applies without a restart', async () => {
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    const served = pods[0]!.requests;
    const none = await harness.get('auth.example', '/');
    expect([none.status, none.headers['www-authenticate'], JSON.parse(none.body).code]).toEqual([401, 'Basic realm="Shop staff"', 'PORTICO_ERR_PROXY_UNAUTHORIZED']);
    expect((await harness.get('auth.example', '/', { headers: basic('alice', 'wrong') })).status).toBe(401);
    expect((await harness.get('auth.example', '/', { headers: basic('mallory', 'x') })).status).toBe(401);
    expect((await harness.get('auth.example', '/', { headers: { authorization: 'Basic !!!' } })).status).toBe(401);
    expect(pods[0]!.requests).toBe(served);
    for (const [user, password] of [['alice', 'alice-pw'], ['bob', 'bob-pw'], ['carol', 'carol-pw'], ['carol', 'carol-pw']]) {
      expect((await harness.get('auth.example', '/', { headers: basic(user!, password!) })).status, user).toBe(200);
    }
    await harness.write('auth-secret.yaml', [htpasswd([ALICE])]);
    await eventually(async () => (await harness.get('auth.example', '/', { headers: basic('bob', 'bob-pw') })).status === 401, 3000, 'bob removed');
    expect((await harness.get('auth.example', '/', { headers: basic('alice', 'alice-pw') })).status).toBe(200);
  });

  it('auth-url: the auth service decides; 2xx passes its auth-response-headers upstream (a forged one is dropped), 401 / 403 / other give 401 / 403 / 500', async () => {
    const served = pods[0]!.requests;
    authSeen.length = 0;
    const ok = await harness.get('ext.example', '/orders?x=1', { method: 'POST', body: 'data', headers: { authorization: 'Bearer good', 'x-auth-request-user': 'mallory' } });
    expect(ok.status).toBe(200);
    expect(ok.json?.headers['x-auth-request-user']).toBe('alice');
    expect(ok.json?.body).toBe('data');
    expect(authSeen[0]).toMatchObject({ ':method': 'GET', ':path': '/check', authorization: 'Bearer good', 'x-original-url': 'http://ext.example/orders?x=1', 'x-original-method': 'POST', 'x-auth-request-redirect': '/orders?x=1', 'x-forwarded-host': 'ext.example' });
    expect(authSeen[0]!['content-length']).toBeUndefined();
    const denied = await harness.get('ext.example', '/');
    expect([denied.status, denied.headers['www-authenticate']]).toEqual([401, 'Bearer realm="shop"']);
    expect((await harness.get('ext.example', '/', { headers: { authorization: 'Bearer banned' } })).status).toBe(403);
    expect((await harness.get('ext.example', '/', { headers: { authorization: 'Bearer broken' } })).status).toBe(500);
    expect(pods[0]!.requests - served).toBe(1);
    const signin = await harness.get('ext-signin.example', '/a?b=1');
    expect([signin.status, signin.headers.location]).toEqual([302, `https://ext-signin.example/oauth2/start?rd=${encodeURIComponent('http://ext-signin.example/a?b=1')}`]);
  });

  it.runIf(dataPlane === 'engine')('proxy-next-upstream: off gives a failed connect 502 at once; tries 3 or the default reach the endpoint that serves', async () => {
    const statuses = async (host: string) => {
      const out: number[] = [];
      for (let i = 0; i < 6; i++) out.push((await harness.get(host, '/')).status);
      return out;
    };
    expect(await statuses('retry-default.example')).toEqual(Array(6).fill(200));
    expect(await statuses('retry-3.example')).toEqual(Array(6).fill(200));
    const off = await statuses('retry-off.example');
    // Round robin over 2 refusing endpoints and 1 serving one: without retries most requests fail.
    expect(off.filter((s) => s === 502).length).toBeGreaterThanOrEqual(3);
    expect(off.every((s) => s === 502 || s === 200)).toBe(true);
  });

  it('limit-rpm: the burst, then 503 PORTICO_ERR_PROXY_RATE_LIMITED for that client, before any endpoint is asked; allowlisted clients are not limited', async () => {
    const served = pods[0]!.requests;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await harness.get('limited.example', '/')).status);
    // 1 request a minute, burst 1: the first two (nginx's burst + 1), then refused.
    expect(statuses).toEqual([200, 200, 503, 503]);
    expect(pods[0]!.requests - served).toBe(2);
    expect(JSON.parse((await harness.get('limited.example', '/')).body)).toMatchObject({ status: 503, code: 'PORTICO_ERR_PROXY_RATE_LIMITED' });
    for (let i = 0; i < 4; i++) expect((await harness.get('exempt.example', '/')).status).toBe(200);
  });

  it('an annotation change applies without a restart', async () => {
    await harness.write('shop.yaml', ingresses('10.9.0.0/16'));
    await eventually(async () => (await harness.get('allowed.example', '/')).status === 403, 3000, 'the new allowlist');
    await harness.write('shop.yaml', ingresses('127.0.0.1/32'));
    await eventually(async () => (await harness.get('allowed.example', '/')).status === 200, 3000, 'the allowlist back');
  });
});
