// The controller's own answers (404/503/502/504/400/431), retries, and surviving bad clients.
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/echo/echo-server.js';
import {
  backendEndpoints,
  backendRef,
  deadPort,
  endpoint,
  endpointOf,
  headerValues,
  noRoutes,
  rawExchange,
  routeByHost,
  send,
  startEchos,
  startProxy,
  trackedFixtures,
} from './proxy-fixture.js';
import type { ProxyHarness } from './proxy-fixture.js';
import { eventually } from '../helpers/http.js';

const { cleanups, echos, proxy } = trackedFixtures();

interface ErrorBody {
  status: number;
  code: string;
  message: string;
}

describe('404 and 503 from the controller', () => {
  it('answers 404 with its own body when no route matches', async () => {
    const h = await proxy({ endpoints: [], routes: noRoutes });
    const reply = await send(h.port, { path: '/nowhere?x=1', headers: { host: 'unknown.example' } });
    expect(reply.status).toBe(404);
    expect(headerValues(reply.rawHeaders, 'server')).toEqual(['portico']);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.json<ErrorBody>()).toMatchObject({ status: 404, code: 'PORTICO_ERR_PROXY_NO_ROUTE' });
  });

  it('answers 404 before any routes are set', async () => {
    const h = await proxy({ endpoints: [], proxy: {} });
    h.proxy.setRoutes(noRoutes);
    expect((await send(h.port)).status).toBe(404);
  });

  it('answers 503 when the backend is unknown to the registry', async () => {
    const h = await proxy({ endpoints: [], routes: routeByHost({ 'a.example': backendRef('default/missing/80') }) });
    const reply = await send(h.port, { headers: { host: 'a.example' } });
    expect(reply.status).toBe(503);
    expect(reply.json<ErrorBody>().code).toBe('PORTICO_ERR_BACKEND_NO_ENDPOINTS');
    expect(headerValues(reply.rawHeaders, 'server')).toEqual(['portico']);
  });

  it('answers 503 with the backend problem code', async () => {
    const h = await proxy({ endpoints: [] });
    h.registry.sync(
      new Map([
        [h.ref.key, backendEndpoints(h.ref, [], { code: 'PORTICO_ERR_BACKEND_SERVICE_MISSING', message: 'Service default/echo not found' })],
      ]),
    );
    const reply = await send(h.port);
    expect(reply.status).toBe(503);
    expect(reply.json<ErrorBody>().code).toBe('PORTICO_ERR_BACKEND_SERVICE_MISSING');
    expect(reply.json<ErrorBody>().message).toBe('The Service this route points at does not exist.');
  });

  it('says in the 503 body what its code says: an unknown port is not "no endpoints"', async () => {
    const h = await proxy({ endpoints: [] });
    h.registry.sync(new Map([[h.ref.key, backendEndpoints(h.ref, [], { code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: 'Service default/echo has no port 81' })]]));
    const reply = await send(h.port);
    expect(reply.json<ErrorBody>()).toMatchObject({ status: 503, code: 'PORTICO_ERR_BACKEND_PORT_UNKNOWN', message: expect.stringMatching(/no port/) });
    expect(reply.json<ErrorBody>().message).not.toMatch(/endpoints/);
  });

  it('answers 503 when the backend has no endpoints', async () => {
    const h = await proxy({ endpoints: [] });
    const reply = await send(h.port, { method: 'HEAD' });
    expect(reply.status).toBe(503);
    expect(reply.body.length).toBe(0);
  });
});

describe('upstream failures', () => {
  it('answers 502 when every endpoint refuses connections (each tried once, then a bounded wait)', async () => {
    const h = await proxy({ endpoints: [endpoint(await deadPort()), endpoint(await deadPort())], proxy: { endpointWaitMs: 20 } });
    const reply = await send(h.port, { method: 'POST', body: 'payload' });
    expect(reply.status).toBe(502);
    expect(reply.json<ErrorBody>().code).toBe('PORTICO_ERR_PROXY_UPSTREAM');
    expect(h.log.lines.filter((l) => l['msg'] === 'upstream connect failed; retrying on another endpoint')).toHaveLength(1);
    expect(h.log.lines.filter((l) => l['msg'] === 'every known endpoint failed to connect; waiting for a newer endpoint set')).toHaveLength(1);
  });

  it('tries every endpoint once before giving up on connect failures', async () => {
    const [live] = (await echos(1)) as [EchoServer];
    const dead = [endpoint(await deadPort()), endpoint(await deadPort()), endpoint(await deadPort())];
    const h = await proxy({ endpoints: [...dead, endpointOf(live)], proxy: { endpointWaitMs: 0 } });
    for (let i = 0; i < 8; i++) expect((await send(h.port, { path: `/r${i}` })).status).toBe(200);
  });

  it('re-resolves against the newest endpoint set when every known endpoint failed (the source lags a stopped pod)', async () => {
    const [live] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpoint(await deadPort())], proxy: { endpointWaitMs: 60_000 } });
    const pending = send(h.port, { method: 'POST', path: '/late', body: 'payload' });
    while (!h.log.lines.some((l) => l['msg'] === 'every known endpoint failed to connect; waiting for a newer endpoint set')) await new Promise((r) => setTimeout(r, 5));
    // An unrelated sync that still lists only the dead endpoint keeps the request waiting.
    h.registry.sync(new Map([[h.ref.key, backendEndpoints(h.ref, [endpoint(1)])]]));
    h.registry.sync(new Map([[h.ref.key, backendEndpoints(h.ref, [endpointOf(live)])]]));
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ path: '/late', body: 'payload' });
  });

  it('answers 502 with a single dead endpoint (nothing to retry on)', async () => {
    const h = await proxy({ endpoints: [endpoint(await deadPort())] });
    expect((await send(h.port)).status).toBe(502);
  });

  it('answers 504 when the upstream is slower than the headers timeout', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)], pool: { headersTimeout: 200 } });
    const reply = await send(h.port, { path: '/delay/3000' });
    // A 504 at all means the timeout fired: the upstream itself would have answered 200.
    expect(reply.status).toBe(504);
    expect(reply.json<ErrorBody>().code).toBe('PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT');
  });

  it('answers 502 when the upstream resets a connection before answering', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    expect((await send(h.port, { path: '/reset' })).status).toBe(502);
    expect((await send(h.port, { path: '/fine' })).status).toBe(200);
  });

  it('retries a connect failure once on another endpoint: every request succeeds', async () => {
    const [live] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpoint(await deadPort()), endpointOf(live)] });
    const bodies = ['', 'x'.repeat(70_000)];
    for (let i = 0; i < 20; i++) {
      const body = bodies[i % 2]!;
      const reply = await send(h.port, i % 2 ? { method: 'POST', path: `/r${i}`, body } : { path: `/r${i}` });
      expect(reply.status).toBe(200);
      expect(reply.json().path).toBe(`/r${i}`);
      expect(reply.json().body).toBe(body);
    }
  });

  it('does not resend a non-idempotent request whose upstream connection broke after sending', async () => {
    const [a, b] = (await echos(2)) as [EchoServer, EchoServer];
    const h = await proxy({ endpoints: [endpointOf(a), endpointOf(b)] });
    const seen = (): number => a.requests + b.requests;
    let before = seen();
    const post = await send(h.port, { method: 'POST', path: '/reset' });
    expect(post.status).toBe(502);
    expect(seen() - before).toBe(1); // sent once: the upstream may have acted on it
    before = seen();
    const get = await send(h.port, { path: '/reset' });
    expect(get.status).toBe(502);
    expect(seen() - before).toBe(2); // idempotent and body-less: resent once to the other endpoint
  });
});

describe('failures after the response started', () => {
  it('cuts the client connection when the upstream dies mid-body', async () => {
    const upstream = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789');
        setTimeout(() => socket.destroy(), 50);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const h = await proxy({ endpoints: [endpoint((upstream.address() as AddressInfo).port)] });
    const raw = await rawExchange(h.port, 'GET /partial HTTP/1.1\r\nHost: x\r\n\r\n', 2_000);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.endsWith('0123456789')).toBe(true);
    expect(await h.accessLog.waitFor((l) => l['path'] === '/partial')).toMatchObject({ status: 200, aborted: true, bytes: 10 });
  });
});

describe('bad clients', () => {
  it('answers malformed requests with 400 and keeps serving', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    const raw = await rawExchange(h.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.toLowerCase()).toContain('server: portico');
    expect(raw).toContain('PORTICO_ERR_PROXY_BAD_REQUEST');
    const garbage = await rawExchange(h.port, '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect((await send(h.port)).status).toBe(200);
  });

  it('answers an HTTP/1.1 request without Host with 400', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    const raw = await rawExchange(h.port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('PORTICO_ERR_PROXY_BAD_REQUEST');
  });

  it('answers oversized headers with 431 and keeps serving', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)], proxy: { maxHeaderSize: 8 * 1024 } });
    const raw = await rawExchange(h.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(raw).toContain('PORTICO_ERR_PROXY_HEADERS_TOO_LARGE');
    expect((await send(h.port)).status).toBe(200);
  });

  it('survives clients that abort while waiting, while uploading and while downloading', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });

    // Waiting for a slow upstream.
    const waiting = connect({ host: '127.0.0.1', port: h.port });
    waiting.on('error', () => undefined);
    waiting.write('GET /delay/5000 HTTP/1.1\r\nHost: x\r\n\r\n');
    // Half-way through an upload.
    const uploading = connect({ host: '127.0.0.1', port: h.port });
    uploading.on('error', () => undefined);
    // More than the engine reads before it connects upstream (64 KiB), so the upload is under way.
    uploading.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(100_000)}`);
    // Half-way through a large download.
    const downloading = connect({ host: '127.0.0.1', port: h.port });
    downloading.on('error', () => undefined);
    downloading.write('GET /bytes/50000000 HTTP/1.1\r\nHost: x\r\n\r\n');
    // It stops reading after the first bytes, so the download is still in flight when it goes away.
    await new Promise<void>((resolve) => downloading.once('data', () => (downloading.pause(), resolve())));

    // Every request reached the upstream (one connection each) before the clients go away.
    await eventually(async () => echo.connections >= 3, 10_000, 'three upstream connections');
    // The waiting client resets its connection (a FIN after a complete request is a half-close, still answered).
    waiting.resetAndDestroy();
    uploading.destroy();
    downloading.destroy();
    const aborted = (): Array<Record<string, unknown>> => h.accessLog.lines.filter((l) => l['aborted'] === true);
    await h.accessLog.waitFor(() => aborted().length >= 3);

    expect((await send(h.port)).status).toBe(200);
    expect(aborted().map((l) => l['path']).sort()).toEqual(['/bytes/50000000', '/delay/5000', '/up']);
    expect(aborted().find((l) => l['path'] === '/delay/5000')?.['status']).toBe(499);
  });
});
