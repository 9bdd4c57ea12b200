// Traffic annotations end to end on both data planes, against real backends: upstream-hash-by
// keeps a key on one pod, load-balance: ewma moves traffic off a slow pod, limit-connections
// refuses a client's request over its in-flight limit.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/http.js';
import { rawExchange } from '../proxy/proxy-fixture.js';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';

const A = 'nginx.ingress.kubernetes.io/';

describe.each(DATA_PLANES)('traffic policies (data plane: %s)', (dataPlane) => {
  let harness: Harness;
  let pods: EchoPod[];
  let fast: EchoPod[];
  let slow: HttpServer;
  let slowRequests = 0;
  let pages: HttpServer;
  let mirror: HttpServer;
  const mirrored: Array<{ method?: string; url?: string; headers: Record<string, string | string[] | undefined>; body: string }> = [];
  const pagesSeen: Array<{ method?: string; url?: string; headers: Record<string, string | string[] | undefined> }> = [];

  // A Service whose "ClusterIP" (127.0.0.1, port = web-0's) reaches web-0 while its endpoints list web-1 only.
  const directService = () => {
    const [svc, ...slices] = serviceFor('shop/direct', [pods[1]!], { servicePort: pods[0]!.port });
    return [{ ...svc, spec: { ...svc.spec, clusterIP: '127.0.0.1' } }, ...slices];
  };
  const directPort = () => pods[0]!.port;

  beforeAll(async () => {
    pods = await startEchoPods('web', 3);
    fast = await startEchoPods('fast', 1);
    // A pod that answers every request after 300 ms.
    slow = createHttpServer((_req, res) => {
      slowRequests++;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pod: 'slow' })), 300);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowPort = (slow.address() as AddressInfo).port;
    // The default backend: the status it was told (X-Code), else 200; what it got, as JSON.
    pages = createHttpServer((req, res) => {
      pagesSeen.push({ method: req.method, url: req.url, headers: req.headers });
      const code = Number(req.headers['x-code'] ?? 200);
      res.writeHead(code, { 'content-type': 'application/json', 'x-page': 'yes' }).end(JSON.stringify({ page: true, path: req.url }));
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const pagesPort = (pages.address() as AddressInfo).port;
    // The mirror: records each copy; /hang/… never answers.
    mirror = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        mirrored.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (!req.url?.startsWith('/hang')) res.writeHead(500).end('mirror answers are dropped');
      });
    });
    await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
    const mirrorUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
    const deadPort = await new Promise<number>((resolve) => {
      const probe = createHttpServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    harness = await startHarness(
      {
        '00-class.yaml': [PORTICO_CLASS],
        'shop.yaml': [
          ...serviceFor('shop/web', pods),
          ...serviceFor('shop/mixed', [fast[0]!, { port: slowPort } as EchoPod]),
          ...serviceFor('shop/pages', [{ port: pagesPort } as EchoPod]),
          ...serviceFor('shop/empty', []),
          ingress('shop/errors', { className: 'portico', annotations: { [`${A}custom-http-errors`]: '404,503', [`${A}default-backend`]: 'pages' }, rules: [rule('errors.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/fallback', { className: 'portico', annotations: { [`${A}default-backend`]: 'pages' }, rules: [rule('fallback.example', [prefix('/', 'empty', 80)])] }),
          ...directService(),
          ingress('shop/mirrored', { className: 'portico', annotations: { [`${A}mirror-target`]: `${mirrorUrl}/copy$request_uri` }, rules: [rule('mirror.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/mirror-nobody', { className: 'portico', annotations: { [`${A}mirror-target`]: `${mirrorUrl}/nobody$uri`, [`${A}mirror-request-body`]: 'off', [`${A}mirror-host`]: 'shadow.internal' }, rules: [rule('mirror-nobody.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/mirror-hang', { className: 'portico', annotations: { [`${A}mirror-target`]: `${mirrorUrl}/hang` }, rules: [rule('mirror-hang.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/mirror-dead', { className: 'portico', annotations: { [`${A}mirror-target`]: `http://127.0.0.1:${deadPort}/` }, rules: [rule('mirror-dead.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/direct', { className: 'portico', annotations: { [`${A}service-upstream`]: 'true' }, rules: [rule('direct.example', [prefix('/', 'direct', pods[0]!.port)])] }),
          ingress('shop/via-pods', { className: 'portico', rules: [rule('via-pods.example', [prefix('/', 'direct', pods[0]!.port)])] }),
          ingress('shop/hashed', { className: 'portico', annotations: { [`${A}upstream-hash-by`]: '$arg_user' }, rules: [rule('hash.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/plain', { className: 'portico', rules: [rule('plain.example', [prefix('/', 'web', 80)])] }),
          ingress('shop/ewma', { className: 'portico', annotations: { [`${A}load-balance`]: 'ewma' }, rules: [rule('ewma.example', [prefix('/', 'mixed', 80)])] }),
          ingress('shop/limited', { className: 'portico', annotations: { [`${A}limit-connections`]: '1' }, rules: [rule('conn.example', [prefix('/', 'web', 80)])] }),
        ],
      },
      { dataPlane },
    );
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods);
    await closePods(fast);
    await new Promise((resolve) => slow.close(resolve));
    await new Promise((resolve) => pages.close(resolve));
    mirror.closeAllConnections();
    await new Promise((resolve) => mirror.close(resolve));
  });

  it.runIf(dataPlane === 'engine')('mirror-target: a copy of each request (method, headers, body) goes to the URL; the client gets the real answer, never the mirror’s', async () => {
    mirrored.length = 0;
    const res = await harness.get('mirror.example', '/orders?id=3', { method: 'POST', body: 'hello mirror', headers: { 'x-custom': 'kept', 'x-request-id': 'mirror-1' } });
    expect([res.status, res.json?.pod !== undefined, res.json?.body]).toEqual([200, true, 'hello mirror']);
    await eventually(async () => mirrored.length === 1, 3000, 'the mirror copy');
    expect(mirrored[0]).toMatchObject({ method: 'POST', url: '/copy/orders?id=3', body: 'hello mirror', headers: { host: expect.stringMatching(/^127\.0\.0\.1:\d+$/), 'x-custom': 'kept', 'x-original-uri': '/orders?id=3', 'x-request-id': 'mirror-1', 'x-forwarded-for': '127.0.0.1' } });
    // A chunked body is copied as it passes.
    const chunked = await rawExchange(harness.port, 'POST /c HTTP/1.1\r\nHost: mirror.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n');
    expect(chunked).toMatch(/^HTTP\/1\.1 200 /);
    await eventually(async () => mirrored.length === 2, 3000, 'the chunked copy');
    expect(mirrored[1]).toMatchObject({ url: '/copy/c', body: 'abcdefgh' });
  });

  it.runIf(dataPlane === 'engine')('mirror-request-body: off sends the copy without the body; mirror-host sets its Host', async () => {
    mirrored.length = 0;
    expect((await harness.get('mirror-nobody.example', '/up?x=1', { method: 'PUT', body: 'secret' })).json?.body).toBe('secret');
    await eventually(async () => mirrored.length === 1, 3000, 'the mirror copy');
    expect(mirrored[0]).toMatchObject({ method: 'PUT', url: '/nobody/up', body: '', headers: { host: 'shadow.internal', 'content-length': '0' } });
  });

  it('mirror-target: a mirror that never answers, or cannot be reached, changes nothing for the client', async () => {
    for (const host of ['mirror-hang.example', 'mirror-dead.example']) {
      for (let i = 0; i < 3; i++) {
        const res = await harness.get(host, `/r${i}`, { method: 'POST', body: 'b' });
        expect([res.status, res.json?.path], host).toEqual([200, `/r${i}`]);
      }
    }
  });

  it('service-upstream: the Ingress’s requests go to the Service’s ClusterIP:port, another Ingress of the Service keeps its endpoints', async () => {
    for (let i = 0; i < 3; i++) expect((await harness.get('direct.example', '/')).json?.pod).toBe('web-0');
    for (let i = 0; i < 3; i++) expect((await harness.get('via-pods.example', '/')).json?.pod).toBe('web-1');
    const mark = harness.log.lines.length;
    await harness.get('direct.example', '/logged');
    await eventually(async () => harness.log.lines.slice(mark).find((l) => l.log === 'access' && l.host === 'direct.example'), 3000, 'the access line');
    expect(harness.log.lines.slice(mark).find((l) => l.log === 'access' && l.host === 'direct.example')).toMatchObject({ upstream: `127.0.0.1:${directPort()}`, service: `shop/direct/${directPort()}#service-upstream` });
  });

  it('default-backend: a route whose Service has no endpoints is served by the default backend, request as sent', async () => {
    pagesSeen.length = 0;
    const res = await harness.get('fallback.example', '/some/where?x=1');
    expect([res.status, res.headers['x-page'], JSON.parse(res.body)]).toEqual([200, 'yes', { page: true, path: '/some/where?x=1' }]);
    expect(pagesSeen[0]!.headers['x-code']).toBeUndefined();
  });

  it.runIf(dataPlane === 'engine')('custom-http-errors: a listed upstream status is answered by the default backend (GET /, X-Code and the other fields, its status and body); others are relayed', async () => {
    pagesSeen.length = 0;
    const res = await harness.get('errors.example', '/status/404?a=1', { method: 'POST', body: 'payload', headers: { accept: 'text/html', 'x-request-id': 'req-42' } });
    expect([res.status, res.headers['x-page'], JSON.parse(res.body)]).toEqual([404, 'yes', { page: true, path: '/' }]);
    expect(pagesSeen).toHaveLength(1);
    expect(pagesSeen[0]).toMatchObject({
      method: 'POST',
      url: '/',
      headers: {
        host: 'errors.example',
        'x-code': '404',
        'x-format': 'text/html',
        'x-original-uri': '/status/404?a=1',
        'x-namespace': 'shop',
        'x-ingress-name': 'errors',
        'x-service-name': 'web',
        'x-service-port': '80',
        'x-request-id': 'req-42',
        'x-forwarded-for': '127.0.0.1',
      },
    });
    // Without the body (it went to the upstream): an empty one.
    expect([undefined, '0']).toContain(pagesSeen[0]!.headers['content-length']);
    // Not listed: the upstream's own answer. Listed 503 too; then a 200 on the same kind of route.
    const other = await harness.get('errors.example', '/status/500');
    expect([other.status, other.headers['x-page']]).toEqual([500, undefined]);
    expect((await harness.get('errors.example', '/status/503')).headers['x-page']).toBe('yes');
    expect((await harness.get('errors.example', '/ok')).json?.path).toBe('/ok');
  });

  it.runIf(dataPlane === 'engine')('custom-http-errors: the connection stays usable for the next request (keep-alive, pipelined)', async () => {
    const out = await rawExchange(harness.port, 'GET /status/404 HTTP/1.1\r\nHost: errors.example\r\n\r\nGET /after HTTP/1.1\r\nHost: errors.example\r\nConnection: close\r\n\r\n');
    const responses = out.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 404 [^]*x-page: yes[^]*\{"page":true,"path":"\/"\}$/i);
    expect(responses[1]).toMatch(/^HTTP\/1\.1 200 [^]*"path":"\/after"/);
  });

  it.runIf(dataPlane === 'node')('custom-http-errors are the engine’s: the node data plane relays the upstream’s answer', async () => {
    const res = await harness.get('errors.example', '/status/404');
    expect([res.status, res.headers['x-page']]).toEqual([404, undefined]);
  });

  it('upstream-hash-by: every request with the same key reaches the same pod; different keys spread over the pods', async () => {
    const podOf = async (user: string) => String((await harness.get('hash.example', `/p?user=${user}`)).json?.pod);
    const chosen = new Map<string, string>();
    // 11 keys: a round robin over 3 pods would shift every round (12 would repeat it).
    for (let u = 0; u < 11; u++) chosen.set(`u${u}`, await podOf(`u${u}`));
    for (let round = 0; round < 3; round++) for (const [user, pod] of chosen) expect(await podOf(user), user).toBe(pod);
    expect(new Set(chosen.values()).size).toBeGreaterThan(1);
    // A route without the annotation keeps the round robin: three requests, three pods.
    const rr = new Set<string>();
    for (let i = 0; i < 3; i++) rr.add(String((await harness.get('plain.example', '/p?user=u0')).json?.pod));
    expect(rr.size).toBe(3);
  });

  it('load-balance: ewma: once both pods are measured, requests go to the fast one (two endpoints: both are always compared)', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await harness.get('ewma.example', '/');
      expect(res.status).toBe(200);
      seen.push(String(res.json?.pod));
    }
    // Unmeasured pods score 0, so the slow pod gets at most one request before its 300 ms counts.
    expect(slowRequests).toBeLessThanOrEqual(1);
    expect(seen.filter((pod) => pod === 'fast-0').length).toBeGreaterThanOrEqual(9);
  });

  it('limit-connections: 1: a second request while the first is in flight gets 503 PORTICO_ERR_PROXY_CONNECTION_LIMITED; once it is over, the client is served again', async () => {
    const before = pods.reduce((n, pod) => n + pod.requests, 0);
    const first = harness.get('conn.example', '/delay/400');
    await eventually(async () => pods.reduce((n, pod) => n + pod.requests, 0) > before, 3000, 'the first request at a pod');
    const second = await harness.get('conn.example', '/');
    expect(second.status).toBe(503);
    expect(JSON.parse(second.body)).toMatchObject({ status: 503, code: 'PORTICO_ERR_PROXY_CONNECTION_LIMITED' });
    // Other Ingresses are not limited by it.
    expect((await harness.get('plain.example', '/')).status).toBe(200);
    expect((await first).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await harness.get('conn.example', '/')).status).toBe(200);
  });

  it.runIf(dataPlane === 'engine')('over HTTP/2 (h2c): limit-connections releases each stream’s slot, upstream-hash-by and the default backend apply', async () => {
    const { connect } = await import('node:http2');
    const session = connect(`http://127.0.0.1:${harness.port}`);
    const get = (authority: string, path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': path, ':authority': authority });
        let status = 0;
        let body = '';
        stream.on('response', (headers) => (status = Number(headers[':status'])));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
      });
    try {
      for (let i = 0; i < 3; i++) expect((await get('conn.example', '/')).status).toBe(200);
      const pod = JSON.parse((await get('hash.example', '/p?user=u3')).body).pod;
      for (let i = 0; i < 3; i++) expect(JSON.parse((await get('hash.example', '/p?user=u3')).body).pod).toBe(pod);
      expect(JSON.parse((await get('fallback.example', '/h2')).body)).toEqual({ page: true, path: '/h2' });
    } finally {
      session.close();
    }
  });

  it('limit-connections: a request whose client went away frees its slot (at the latest when its upstream answers: the engine serves half-closed clients)', async () => {
    const before = pods.reduce((n, pod) => n + pod.requests, 0);
    // The client gives up after 300 ms of silence and closes its connection.
    const abandoned = await harness.get('conn.example', '/delay/800', { timeoutMs: 300 }).catch((error: Error) => error);
    expect(abandoned).toBeInstanceOf(Error);
    expect(pods.reduce((n, pod) => n + pod.requests, 0)).toBeGreaterThan(before);
    await eventually(async () => (await harness.get('conn.example', '/')).status === 200, 3000, 'the slot freed');
  });
});
