// The engine's first cut (src/engine), against real echo backends and raw upstreams on loopback:
// what engine-server.ts says it covers. Bounded by counts and events, never by elapsed time.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Agent } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BackendRegistry } from '../../src/balancer/backend-registry.js';
import { startEchoServer, type EchoServer } from '../../src/echo/echo-server.js';
import { EngineServer } from '../../src/engine/engine-server.js';
import { createLogger } from '../../src/lib/logger.js';
import type { RouteLookup } from '../../src/model/route-model.js';
import { withPipeline, type PipelineMatch, type RoutePipeline, type StepResult } from '../../src/proxy/policies/pipeline.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { eventually } from '../helpers/http.js';
import { backendEndpoints, backendRef, deadPort, endpoint, endpointOf, rawExchange, send } from '../proxy/proxy-fixture.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ref = backendRef();
const logger = createLogger({ level: 'silent' });

async function echo(pod = 'echo-1'): Promise<EchoServer> {
  const server = await startEchoServer({ podName: pod, serviceName: 'echo' });
  cleanups.push(() => server.close());
  return server;
}

async function engine(
  endpoints: ReturnType<typeof endpoint>[],
  routes?: RouteLookup,
  extra: Partial<ConstructorParameters<typeof EngineServer>[0]> = {},
): Promise<{ port: number; engine: EngineServer; registry: BackendRegistry }> {
  const registry = new BackendRegistry();
  registry.sync(new Map([[ref.key, backendEndpoints(ref, endpoints)]]));
  const server = new EngineServer({ backends: registry, routes: routes ?? { lookup: () => ({ backend: ref, ingress: 'default/echo' }) }, logger, pool: { connectTimeoutMs: 1000 }, ...extra });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    await server.close();
    await registry.close();
  });
  return { port: address.port, engine: server, registry };
}

/** A raw upstream: answers each connection's requests with `respond(requestText)`. */
async function rawUpstream(respond: (request: string, socket: Socket) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    let buffer = '';
    socket.on('data', (c: Buffer) => {
      buffer += c.toString('latin1');
      while (buffer.includes('\r\n\r\n')) {
        const end = buffer.indexOf('\r\n\r\n') + 4;
        const request = buffer.slice(0, end);
        buffer = buffer.slice(end);
        respond(request, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('engine: forwarding', () => {
  it('forwards method, path and query byte for byte with X-Forwarded-* and X-Request-ID, and adds Server', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const reply = await send(port, { path: '/a/b?x=1&y=%20', headers: { host: 'shop.example', 'x-forwarded-for': '6.6.6.6', 'x-request-id': 'abc-123' } });
    expect(reply.status).toBe(200);
    const seen = reply.json();
    expect(seen.path).toBe('/a/b?x=1&y=%20');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-real-ip']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe('shop.example');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-port']).toBe(String(port));
    expect(seen.headers['x-request-id']).toBe('abc-123');
    expect(reply.headers['server']).toBeDefined();
  });

  it('keeps the client connection alive and reuses one upstream connection for sequential requests', async () => {
    const backend = await echo();
    const { port, engine: server } = await engine([endpointOf(backend)]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    for (let i = 0; i < 20; i++) expect((await send(port, { path: `/${i}`, agent })).json().path).toBe(`/${i}`);
    expect(backend.connections).toBe(1);
    expect(backend.requests).toBe(20);
    expect(server.pool.openConnections).toBe(1);
  });

  it('answers pipelined requests in order on one connection', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const text = ['/one', '/two', '/three'].map((p) => `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('') + 'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const out = await rawExchange(port, text);
    const paths = [...out.matchAll(/"path":"([^"]+)"/g)].map((m) => m[1]);
    expect(paths).toEqual(['/one', '/two', '/three', '/last']);
  });

  it('forwards Content-Length and chunked request bodies, then the next request on the same connection', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const text =
      'POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
      'GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const out = await rawExchange(port, text);
    expect([...out.matchAll(/"path":"([^"]+)"/g)].map((m) => m[1])).toEqual(['/cl', '/te', '/after']);
    expect([...out.matchAll(/"body":"([^"]*)"/g)].map((m) => m[1])).toEqual(['hello', 'abcde', '']);
  });

  it('answers Expect: 100-continue itself, then forwards the body', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const socket = connect({ host: '127.0.0.1', port });
    cleanups.push(() => void socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    while (!text.includes('100 Continue')) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.write('data');
    while (!text.includes('"body":"data"')) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200')).toBe(true);
  });

  it('relays chunked and close-delimited responses, HEAD without a body, and 103 before the final response', async () => {
    const upstream = await rawUpstream((request, socket) => {
      if (request.startsWith('GET /chunked')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n');
      else if (request.startsWith('GET /hints')) socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else if (request.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
    });
    const { port } = await engine([endpoint(upstream.port)]);
    const chunked = await rawExchange(port, 'GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(chunked).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(chunked).toContain('Transfer-Encoding: chunked\r\n');
    expect(chunked.endsWith('4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n')).toBe(true);
    const hints = await rawExchange(port, 'GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(hints).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    const head = await rawExchange(port, 'HEAD /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(head).toContain('Content-Length: 1000\r\n');
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    const closeDelimited = await rawExchange(port, 'GET /close HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(closeDelimited.endsWith('\r\n\r\nuntil the end')).toBe(true);
    expect(closeDelimited).toContain('Connection: close\r\n');
  });

  it('keeps the response header case and drops hop-by-hop response headers', async () => {
    const upstream = await rawUpstream((_request, socket) => socket.write('HTTP/1.1 200 OK\r\nX-MiXeD-Case: 1\r\nKeep-Alive: timeout=5\r\nConnection: X-Secret\r\nX-Secret: no\r\nContent-Length: 0\r\n\r\n'));
    const { port } = await engine([endpoint(upstream.port)]);
    const out = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(out).toContain('X-MiXeD-Case: 1\r\n');
    expect(out).not.toMatch(/keep-alive: timeout|x-secret/i);
  });
});

describe('engine: Portico answers', () => {
  it('404 and 503 JSON on a connection that stays open', async () => {
    const { port, registry } = await engine([], { lookup: (host) => (host === 'known' ? { backend: ref, ingress: 'default/echo' } : undefined) });
    void registry;
    const text = 'GET /x HTTP/1.1\r\nHost: unknown\r\n\r\nGET /y HTTP/1.1\r\nHost: known\r\nConnection: close\r\n\r\n';
    const out = await rawExchange(port, text);
    expect(out).toMatch(/^HTTP\/1\.1 404 Not Found\r\n[\s\S]*"code":"PORTICO_ERR_PROXY_NO_ROUTE"[\s\S]*HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*"code":"PORTICO_ERR_BACKEND_NO_ENDPOINTS"/);
  });

  it('a malformed request after a valid one: the first is answered, then 400, then the connection closes', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const out = await rawExchange(port, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\nPOST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(out.indexOf('"path":"/first"')).toBeGreaterThan(0);
    expect(out.indexOf('HTTP/1.1 400')).toBeGreaterThan(out.indexOf('"path":"/first"'));
    expect(backend.requests).toBe(1);
  });

  it('rejects the smuggling and Host classes with 400, never forwarding', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    for (const text of [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc',
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: probe test/<"x">\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n',
    ]) {
      expect(await rawExchange(port, text)).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(backend.requests).toBe(0);
  });

  it('431 for a head over 16 KiB', async () => {
    const { port } = await engine([]);
    const out = await rawExchange(port, `GET / HTTP/1.1\r\nHost: a\r\n${'X-Big: y\r\n'.repeat(1800)}\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('a refused connect goes to another endpoint; with none left, 502', async () => {
    const backend = await echo();
    const dead = await deadPort();
    const { port, registry } = await engine([endpoint(dead), endpointOf(backend)]);
    for (let i = 0; i < 4; i++) expect((await send(port)).status).toBe(200);
    registry.sync(new Map([[ref.key, backendEndpoints(ref, [endpoint(dead)])]]));
    const reply = await send(port);
    expect(reply.status).toBe(502);
    expect(reply.json<{ code: string }>().code).toBe('PORTICO_ERR_PROXY_UPSTREAM');
  });

  it('resends a GET once when a kept-alive upstream connection turns out closed', async () => {
    let answered = 0;
    const upstream = await rawUpstream((_request, socket) => {
      answered++;
      // Answers, then closes without saying so: the next request on it finds it dead.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', () => setImmediate(() => socket.destroy()));
    });
    const { port } = await engine([endpoint(upstream.port)]);
    expect((await send(port)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await send(port)).status).toBe(200);
    expect(answered).toBe(2);
    expect(upstream.connections()).toBe(2);
  });

  it('a client that goes away mid-response leaves the engine serving', async () => {
    const upstream = await rawUpstream((_request, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    const backend = await echo();
    const { port, registry } = await engine([endpoint(upstream.port)]);
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();
    registry.sync(new Map([[ref.key, backendEndpoints(ref, [endpointOf(backend)])]]));
    expect((await send(port)).status).toBe(200);
  });
});

describe('engine: HTTP/1.0 and resets', () => {
  it('serves an HTTP/1.0 request without Host (the upstream request gets one)', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const out = await rawExchange(port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)).host).toBe(`127.0.0.1:${backend.port}`);
  });

  it('a reset before the response: a GET is resent once to the other endpoint, a POST never', async () => {
    const resets = await rawUpstream((_request, socket) => socket.destroy());
    const other = await rawUpstream((_request, socket) => socket.destroy());
    const { port } = await engine([endpoint(resets.port), endpoint(other.port)]);
    expect((await send(port)).status).toBe(502);
    expect(resets.connections() + other.connections()).toBe(2);
    expect(resets.connections()).toBe(1);
    expect((await send(port, { method: 'POST', body: 'x' })).status).toBe(502);
    expect(resets.connections() + other.connections()).toBe(3);
  });
});

describe('engine: upgrades', () => {
  it('tunnels a WebSocket to the endpoint: the 101 and every message pass both ways', async () => {
    const backend = await echo('ws-pod');
    const { port } = await engine([endpointOf(backend)]);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    cleanups.push(() => ws.terminate());
    const upgraded = await new Promise<string | string[] | undefined>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers['x-echo-pod']));
      ws.once('error', reject);
    });
    expect(upgraded).toBe('ws-pod');
    await new Promise<void>((resolve) => (ws.readyState === ws.OPEN ? resolve() : ws.once('open', () => resolve())));
    for (const text of ['one', 'two']) {
      const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
      ws.send(text);
      expect(await reply).toBe(text);
    }
  });

  it('a tunnel that carries messages stays open; one left idle for the upstream timeout is closed (nginx: proxy_read_timeout)', async () => {
    const backend = await echo('ws-pod');
    const { port } = await engine([endpointOf(backend)], undefined, { upstreamTimeoutMs: 300 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    cleanups.push(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let closed = false;
    ws.once('close', () => (closed = true));
    // Busy for several timeouts: a message every 100 ms keeps it open.
    for (let i = 0; i < 10; i++) {
      const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
      ws.send(`m${i}`);
      expect(await reply).toBe(`m${i}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(closed).toBe(false);
    // Then idle: closed by the engine.
    await eventually(async () => closed || undefined, 5_000, 'the idle tunnel closed');
  });

  it('an upgrade to a host with ssl-redirect gets the same 308 as a plain request (one pipeline)', async () => {
    const backend = await echo();
    const match = withPipeline({ backend: ref, ingress: 'default/tls', route: { pathType: 'Prefix', path: '/', backend: ref, ingress: 'default/tls', sslRedirect: true } });
    const redirecting: RouteLookup = { lookup: () => match };
    const { port } = await engine([endpointOf(backend)], redirecting);
    const out = await rawExchange(port, 'GET /ws HTTP/1.1\r\nHost: secure.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 308 Permanent Redirect\r\n/);
    expect(out).toContain('location: https://secure.example/ws\r\n');
    expect(backend.connections).toBe(0);
  });
});

describe('engine: timeouts (configured short; the tests assert outcomes, not durations)', () => {
  it('504 when the upstream sends nothing, and that upstream connection is not reused', async () => {
    const upstream = await rawUpstream(() => undefined);
    const { port, engine: server } = await engine([endpoint(upstream.port)], undefined, { upstreamTimeoutMs: 100 });
    const reply = await send(port);
    expect(reply.status).toBe(504);
    expect(reply.json<{ code: string }>().code).toBe('PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.pool.openConnections).toBe(0);
  });

  it('408 for a head that stops halfway, and for a body that stalls; an idle keep-alive connection just closes', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)], undefined, { clientTimeoutMs: 100, keepAliveTimeoutMs: 150 });
    expect(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Half:', 3000)).toMatch(/^HTTP\/1\.1 408 /);
    expect(await rawExchange(port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b', 3000)).toMatch(/^HTTP\/1\.1 408 /);
    // The start of the HTTP/2 preface, then nothing: waited for within the same head timeout.
    expect(await rawExchange(port, 'PRI * HTTP/2', 3000)).toMatch(/^HTTP\/1\.1 408 /);
    const idle = await rawExchange(port, 'GET /one HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
    expect(idle).toMatch(/^HTTP\/1\.1 200 /);
    // Not toContain('408'): the echoed X-Forwarded-Port may hold those digits.
    expect(idle).not.toMatch(/HTTP\/1\.1 408 /);
  });
});

describe('engine: access log and the endpoint wait', () => {
  it('writes one line per request with the documented fields, in order, for forwarded requests and its own answers', async () => {
    const backend = await echo('log-pod');
    const access = captureLogger('info');
    const { port } = await engine([endpointOf(backend)], { lookup: (host) => (host === 'known' ? { backend: ref, ingress: 'default/web' } : undefined) }, { accessLog: access.logger });
    await send(port, { method: 'POST', path: '/p?q=1', body: 'abc', headers: { host: 'known', 'user-agent': 'ua/1', 'x-request-id': 'rid-1' } });
    await send(port, { path: '/nowhere', headers: { host: 'unknown' } });
    const [forwarded, own] = [await access.waitFor((l) => l['path'] === '/p?q=1'), await access.waitFor((l) => l['path'] === '/nowhere')];
    expect(Object.keys(forwarded).filter((k) => !['level', 'time'].includes(k))).toEqual(['client', 'method', 'host', 'path', 'status', 'bytes', 'requestBytes', 'durationMs', 'upstream', 'upstreamMs', 'upstreamStatus', 'ingress', 'service', 'requestId', 'userAgent']);
    expect(forwarded).toMatchObject({ client: '127.0.0.1', method: 'POST', host: 'known', status: 200, upstream: `127.0.0.1:${backend.port}`, upstreamStatus: 200, ingress: 'default/web', service: ref.key, requestId: 'rid-1', userAgent: 'ua/1' });
    expect(forwarded['bytes']).toBeGreaterThan(0);
    expect(own).toMatchObject({ status: 404, host: 'unknown' });
    expect(own['upstream']).toBeUndefined();
  });

  it('every known endpoint refused: waits for a newer endpoint set and goes on there', async () => {
    const backend = await echo('new-pod');
    const { port, registry } = await engine([endpoint(await deadPort())], undefined, { endpointWaitMs: 10_000 });
    const pending = send(port);
    await new Promise((resolve) => setTimeout(resolve, 50));
    registry.sync(new Map([[ref.key, backendEndpoints(ref, [endpointOf(backend)])]]));
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.json().pod).toBe('new-pod');
  });
});

describe('engine: hostile clients and upstreams (review findings)', () => {
  it('thousands of pipelined requests answered by Portico itself: all answered, in order, no stack overflow', async () => {
    const { port } = await engine([], { lookup: () => undefined });
    const n = 3000;
    const out = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(n - 1) + 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 20_000);
    expect(out.split('HTTP/1.1 404 Not Found').length - 1).toBe(n);
  });

  it('bytes after an upgrade the upstream refuses never reach it (no smuggling past routing)', async () => {
    const requests: string[] = [];
    const upstream = await rawUpstream((request, socket) => {
      requests.push(request.split('\r\n')[0]!);
      socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    const { port } = await engine([endpoint(upstream.port)]);
    const out = await rawExchange(port, 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal\r\nX-Real-IP: 10.0.0.1\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(requests).toEqual(['GET /ws HTTP/1.1']);
  });

  it('an upstream that sends bytes after a body-less response is not reused for the next client', async () => {
    const upstream = await rawUpstream((request, socket) => {
      if (request.startsWith('HEAD')) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON'), 20);
      } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean');
    });
    const { port } = await engine([endpoint(upstream.port)]);
    expect((await send(port, { method: 'HEAD' })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const next = await send(port);
    expect(next.body.toString()).toBe('clean');
  });

  it('a client that half-closes after its request still gets the response' /* a reset is an abort: test/proxy/errors.test.ts */, async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)]);
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    cleanups.push(() => void socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.end('GET /half HTTP/1.1\r\nHost: a\r\n\r\n');
    await ended;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);

  });

  it('an HTTP/1.0 client never gets a chunked response (the upstream is asked in HTTP/1.0)', async () => {
    const seen: string[] = [];
    const upstream = await rawUpstream((request, socket) => {
      seen.push(request.split('\r\n')[0]!);
      if (request.includes('HTTP/1.1\r\n')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
      else socket.end('HTTP/1.0 200 OK\r\n\r\nok');
    });
    const { port } = await engine([endpoint(upstream.port)]);
    const out = await rawExchange(port, 'GET /old HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(seen).toEqual(['GET /old HTTP/1.0']);
    expect(out).not.toMatch(/transfer-encoding/i);
    expect(out.endsWith('\r\n\r\nok')).toBe(true);
  });

  it('a client that does not read: the upstream is paused, not buffered in memory', async () => {
    let accepted = 0;
    const server = createServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\n\r\n');
        const block = Buffer.alloc(1024 * 1024);
        const pump = () => {
          while (accepted < 268_435_456) {
            accepted += block.length;
            if (!socket.write(block)) return void socket.once('drain', pump);
          }
        };
        pump();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = await engine([endpoint((server.address() as AddressInfo).port)]);
    const client = connect({ host: '127.0.0.1', port });
    cleanups.push(() => void client.destroy());
    client.write('GET /huge HTTP/1.1\r\nHost: a\r\n\r\n');
    client.pause();
    // Let the pipe fill: the upstream keeps writing only as far as socket buffers and our pause allow.
    let last = -1;
    for (let i = 0; i < 100 && accepted !== last; i++) {
      last = accepted;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(accepted).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('engine: upstream connections read into one shared buffer (upstream-pool.ts)', () => {
  /** Body byte i of the response to /<size>/<seed>: every response's bytes differ from every other's. */
  const patternByte = (seed: number, i: number): number => (seed * 31 + i * 7 + (i >> 8)) & 0xff;
  const pattern = (size: number, seed: number): Buffer => {
    const body = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) body[i] = patternByte(seed, i);
    return body;
  };

  /** Reads one response (Content-Length or chunked framing, decoded) from a keep-alive client socket, pausing `stallMs` after its first bytes. */
  function readResponse(socket: Socket, stallMs: number): Promise<{ head: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      let head: string | undefined;
      let bodyAt = 0;
      let length = -1;
      let stalled = false;
      const done = (body: Buffer) => {
        socket.removeListener('data', onData);
        resolve({ head: head!, body });
      };
      const onData = (c: Buffer) => {
        chunks.push(c);
        bytes += c.length;
        if (!stalled && stallMs > 0) {
          // A client that stops reading: the engine's writes to it stay pending while other connections read.
          stalled = true;
          socket.pause();
          setTimeout(() => socket.resume(), stallMs);
        }
        if (head === undefined) {
          const all = Buffer.concat(chunks);
          chunks.splice(0, chunks.length, all);
          const end = all.indexOf('\r\n\r\n');
          if (end === -1) return;
          head = all.subarray(0, end).toString('latin1');
          bodyAt = end + 4;
          const match = /content-length: (\d+)/i.exec(head);
          if (match !== null) length = Number(match[1]);
        }
        if (length >= 0) {
          if (bytes - bodyAt >= length) done(Buffer.concat(chunks).subarray(bodyAt, bodyAt + length));
          return;
        }
        // Chunked: complete once the last chunk is in (no test body holds CR LF: its bytes step by 7 or 8).
        const rest = Buffer.concat(chunks).subarray(bodyAt);
        if (!rest.includes('\r\n0\r\n\r\n')) return;
        const parts: Buffer[] = [];
        let at = 0;
        for (;;) {
          const lineEnd = rest.indexOf('\r\n', at);
          const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
          if (size === 0) break;
          parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          at = lineEnd + 2 + size + 2;
        }
        done(Buffer.concat(parts));
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  }

  /** Answers GET /<size>/<seed>[/chunked] with pattern(size, seed): the body comes in pieces, so large ones span many reads. */
  const patternUpstream = () =>
    rawUpstream((request, socket) => {
      const [, size, seed, chunked] = /^GET \/(\d+)\/(\d+)(\/chunked)? /.exec(request)!;
      const body = pattern(Number(size), Number(seed));
      if (chunked === undefined) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
        // Pieces between 4 and 16 KiB, spaced out: the engine's reads are that small too, and a write
        // of one to a stalled client stays pending without pausing the upstream.
        let at = 0;
        const pump = (): void => {
          if (socket.destroyed) return;
          for (let n = 0; n < 8 && at < body.length; n++, at += 9_000) socket.write(body.subarray(at, at + 9_000));
          if (at < body.length) setImmediate(pump);
        };
        pump();
      } else {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let at = 0; at < body.length; at += 3_000) {
          const part = body.subarray(at, at + 3_000);
          socket.write(`${part.length.toString(16)}\r\n`);
          socket.write(part);
          socket.write('\r\n');
        }
        socket.write('0\r\n\r\n');
      }
    });

  it('every response arrives intact, of every size and framing, while other clients stall and their writes stay pending', async () => {
    const upstream = await patternUpstream();
    const { port } = await engine([endpoint(upstream.port)]);
    const client = async (sizes: number[], seedBase: number, stallMs: number): Promise<string[]> => {
      const socket = connect({ host: '127.0.0.1', port });
      cleanups.push(() => void socket.destroy());
      await new Promise((resolve) => socket.once('connect', resolve));
      const failures: string[] = [];
      for (let r = 0; r < sizes.length; r++) {
        const size = sizes[r]!;
        const seed = seedBase + r;
        const chunked = size <= 300_000 && (seedBase + r) % 3 === 0 ? '/chunked' : '';
        const reply = readResponse(socket, stallMs);
        socket.write(`GET /${size}/${seed}${chunked} HTTP/1.1\r\nHost: a\r\n\r\n`);
        const { head, body } = await reply;
        if (!head.startsWith('HTTP/1.1 200')) failures.push(`${size}/${seed}: ${head.split('\r\n')[0]}`);
        else if (!body.equals(pattern(size, seed))) failures.push(`${size}/${seed}${chunked}: body differs`);
      }
      return failures;
    };
    // Two clients stall on bodies larger than what the kernel's socket buffers absorb (the engine's
    // writes to them stay pending, holding upstream bytes), while four others keep reading into the pool's buffer.
    const clients = [
      client([12_000_000, 100, 12_000_000], 1, 300),
      client([5_000, 12_000_000, 70_000], 11, 300),
      ...[21, 31, 41, 51].map((seed) => client([100, 5_000, 70_000, 300_000, 1_000, 300_000, 4_000, 9_000, 200_000, 64 * 1024, 65 * 1024, 2], seed, 0)),
    ];
    expect((await Promise.all(clients)).flat()).toEqual([]);
  });
  it('over HTTP/2 (h2c) too: large bodies on concurrent streams arrive intact while one stream stops reading', async () => {
    const upstream = await patternUpstream();
    const { port } = await engine([endpoint(upstream.port)]);
    const session = http2Connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    const fetch = (size: number, seed: number, stallMs: number): Promise<string | undefined> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': `/${size}/${seed}`, ':authority': 'a' });
        const parts: Buffer[] = [];
        let stalled = false;
        stream.on('data', (c: Buffer) => {
          parts.push(c);
          if (!stalled && stallMs > 0) {
            // Flow control holds the engine's writes to this stream while the others go on.
            stalled = true;
            stream.pause();
            setTimeout(() => stream.resume(), stallMs);
          }
        });
        stream.on('end', () => resolve(Buffer.concat(parts).equals(pattern(size, seed)) ? undefined : `${size}/${seed}: body differs`));
        stream.on('error', reject);
      });
    const results = await Promise.all([fetch(3_000_000, 61, 300), fetch(3_000_000, 62, 0), fetch(200_000, 63, 0), fetch(70_000, 64, 300), fetch(3_000_000, 65, 0)]);
    expect(results.filter((r) => r !== undefined)).toEqual([]);
  });
});

describe('engine: route steps', () => {
  /** A route whose one request step waits until the test settles it (as external auth will). */
  function deferredRoute(): { routes: RouteLookup; calls: string[]; settle: (result: StepResult | Error) => void; called: Promise<void> } {
    const calls: string[] = [];
    let settle: (result: StepResult | Error) => void = () => undefined;
    let markCalled: () => void = () => undefined;
    const called = new Promise<void>((resolve) => (markCalled = resolve));
    const pipeline: RoutePipeline = {
      steps: ['deferred'],
      request: (request, edits) => {
        calls.push(`${request.method} ${request.target} from ${request.clientAddress}`);
        if (request.target !== '/wait') return undefined;
        edits.headers.push(['X-Step', 'ran']);
        markCalled();
        return new Promise<StepResult>((resolve, reject) => (settle = (r) => (r instanceof Error ? reject(r) : resolve(r))));
      },
      response: undefined,
    };
    const match: PipelineMatch = { backend: ref, ingress: 'default/echo', pipeline };
    return { routes: { lookup: () => match }, calls, settle: (r) => settle(r), called };
  }

  it('an asynchronous step holds the request; its body, sent meanwhile, and the next pipelined request follow in order', async () => {
    const backend = await echo();
    const route = deferredRoute();
    const { port } = await engine([endpointOf(backend)], route.routes);
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('POST /wait HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhe');
    await route.called;
    socket.write('llo');
    socket.write('GET /next HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    // Nothing reaches the backend while the step is pending.
    await new Promise((resolve) => setImmediate(resolve));
    expect(backend.requests).toBe(0);
    route.settle(undefined);
    await closed;
    const out = Buffer.concat(chunks).toString('latin1');
    const bodies = out.split('\r\n\r\n').filter((part) => part.startsWith('{')).map((part) => JSON.parse(part.slice(0, part.lastIndexOf('}') + 1)) as { path: string; body: string; headers: Record<string, string> });
    expect(bodies.map((b) => [b.path, b.body])).toEqual([['/wait', 'hello'], ['/next', '']]);
    expect(bodies[0]!.headers['x-step']).toBe('ran');
    expect(route.calls).toEqual(['POST /wait from 127.0.0.1', 'GET /next from 127.0.0.1']);
  });

  it('an asynchronous answer is sent in its place, then the next request is served; a failing step answers 500', async () => {
    const backend = await echo();
    const route = deferredRoute();
    const { port } = await engine([endpointOf(backend)], route.routes);
    const answered = rawExchange(port, 'GET /wait HTTP/1.1\r\nHost: a.example\r\n\r\nGET /next HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    await route.called;
    route.settle({ kind: 'error', status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
    const out = await answered;
    expect(out.match(/^HTTP\/1\.1 \d+/gm)).toEqual(['HTTP/1.1 403', 'HTTP/1.1 200']);
    expect(backend.requests).toBe(1);

    const again = deferredRoute();
    const second = await engine([endpointOf(backend)], again.routes);
    const failed = rawExchange(second.port, 'GET /wait HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    await again.called;
    again.settle(new Error('auth backend exploded'));
    expect(await failed).toMatch(/^HTTP\/1\.1 500 [^\r]*\r\n[\s\S]*PORTICO_ERR_PROXY_STEP_FAILED/);
  });

  it('composes a route’s steps once at build time, access check first; a route without policies has no pipeline', () => {
    const route = { pathType: 'Prefix' as const, path: '/', backend: ref, ingress: 'default/a' };
    expect(withPipeline({ backend: ref, ingress: 'default/a', route }).pipeline).toBeUndefined();
    const full = withPipeline({
      backend: ref,
      ingress: 'default/a',
      route: { ...route, sslRedirect: true, policies: { sourceRange: { allow: ['10.0.0.0/8'] }, upstreamVhost: 'in.svc', forwardedPrefix: '/p' } },
    });
    expect(full.pipeline?.steps).toEqual(['source-range', 'ssl-redirect', 'upstream-vhost', 'x-forwarded-prefix']);
  });
});

/** Raw client: connects, writes, collects what comes back. */
function rawClient(port: number): { socket: Socket; text: () => string; closed: Promise<void>; until: (re: RegExp) => Promise<string> } {
  const socket = connect({ host: '127.0.0.1', port });
  cleanups.push(() => void socket.destroy());
  let text = '';
  const waiters = new Set<() => void>();
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    for (const wake of [...waiters]) wake();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const until = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (re.test(text)) {
          waiters.delete(check);
          resolve(text);
        }
      };
      waiters.add(check);
      socket.once('close', () => (re.test(text) ? resolve(text) : reject(new Error(`closed before ${re}: ${JSON.stringify(text.slice(0, 200))}`))));
      check();
    });
  return { socket, text: () => text, closed, until };
}

describe('engine: an upstream connection only when there is something to send (issue 13)', () => {
  it('stalled uploads take no upstream connection; a GET to the same Service is served meanwhile; the stalls get 408', async () => {
    const requests: string[] = [];
    const upstream = await rawUpstream((request, socket) => {
      requests.push(request.split('\r\n')[0]!);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { port, engine: server } = await engine([endpoint(upstream.port)], undefined, { clientTimeoutMs: 300 });
    const stalled = Array.from({ length: 40 }, () => rawClient(port));
    // Expect: 100-continue tells when the engine has parsed each head (and created its exchange).
    for (const c of stalled) c.socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\nonly ten b');
    await Promise.all(stalled.map((c) => c.until(/100 Continue/)));
    expect(upstream.connections()).toBe(0);
    expect(server.pool.openConnections).toBe(0);
    const reply = await send(port, { path: '/meanwhile' });
    expect(reply.status).toBe(200);
    expect(requests).toEqual(['GET /meanwhile HTTP/1.1']);
    const outs = await Promise.all(stalled.map((c) => c.until(/HTTP\/1\.1 408 /)));
    for (const out of outs) expect(out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 408 /);
    expect(requests).toEqual(['GET /meanwhile HTTP/1.1']);
    expect(upstream.connections()).toBe(1);
  });

  it('a body that completes goes upstream whole; a body over the buffer connects before it is complete and streams', async () => {
    const bodies: string[] = [];
    let heads = 0;
    const server = createServer((socket) => {
      let buffer = Buffer.alloc(0);
      socket.on('data', (c: Buffer) => {
        if (buffer.length === 0) heads++;
        buffer = Buffer.concat([buffer, c]);
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffer.subarray(0, headEnd).toString('latin1'))?.[1] ?? 0);
        if (buffer.length - headEnd - 4 < length) return;
        bodies.push(buffer.subarray(headEnd + 4, headEnd + 4 + length).toString('latin1'));
        buffer = Buffer.alloc(0);
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = await engine([endpoint((server.address() as AddressInfo).port)], undefined, { requestBufferSize: 1024 });
    // Small: sent in pieces, arrives upstream as one complete request.
    const small = rawClient(port);
    small.socket.write('POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(heads).toBe(0);
    small.socket.write('world');
    await small.until(/\r\n\r\nok$/);
    expect(bodies).toEqual(['helloworld']);
    // Large: 4 KiB of an 8 KiB body is over the 1 KiB buffer: the upstream gets the head and what came.
    const large = rawClient(port);
    large.socket.write(`POST /large HTTP/1.1\r\nHost: a\r\nContent-Length: 8192\r\n\r\n${'x'.repeat(4096)}`);
    for (let i = 0; i < 200 && heads < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heads).toBe(2);
    expect(bodies.length).toBe(1);
    large.socket.write('y'.repeat(4096));
    await large.until(/\r\n\r\nok$/);
    expect(bodies[1]).toBe('x'.repeat(4096) + 'y'.repeat(4096));
  });
});

describe('engine: per-client connection limit (issue 13)', () => {
  it('a connection over maxConnectionsPerClient gets 503 PORTICO_ERR_PROXY_CLIENT_LIMIT and is closed; counted; a freed slot serves again', async () => {
    const backend = await echo();
    const rejected: string[] = [];
    const observer = { observeRequest: () => undefined, connectionRejected: (reason: string) => void rejected.push(reason) };
    const { port, engine: server } = await engine([endpointOf(backend)], undefined, { maxConnectionsPerClient: 3, observer });
    const held = Array.from({ length: 3 }, () => rawClient(port));
    for (const [i, c] of held.entries()) {
      c.socket.write(`GET /held-${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await c.until(new RegExp(`"path":"/held-${i}"`));
    }
    const over = rawClient(port);
    over.socket.write('GET /over HTTP/1.1\r\nHost: a\r\n\r\n');
    await over.closed;
    expect(over.text()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(over.text()).toContain('"code":"PORTICO_ERR_PROXY_CLIENT_LIMIT"');
    expect(server.rejectedConnections).toBe(1);
    expect(rejected).toEqual(['client-limit']);
    expect(backend.requests).toBe(3);
    held[0]!.socket.destroy();
    await held[0]!.closed;
    // The engine sees the close on its next turn: retry until the freed slot is there (bounded).
    let out = '';
    for (let i = 0; i < 50 && !out.includes('"path":"/again"'); i++) {
      out = await rawExchange(port, 'GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      if (!out.includes('"path":"/again"')) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('0 means unlimited', async () => {
    const { port, engine: server } = await engine([], { lookup: () => undefined }, { maxConnectionsPerClient: 0 });
    const clients = Array.from({ length: 20 }, () => rawClient(port));
    for (const c of clients) c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await Promise.all(clients.map((c) => c.until(/HTTP\/1\.1 404 /)));
    expect(server.rejectedConnections).toBe(0);
  });
});

describe('engine: timeouts from the right moment (issue 13; short, asserting order and outcome)', () => {
  /** Writes `bytes` one at a time every `everyMs` until the connection closes; resolves with how many went out. */
  function trickle(c: ReturnType<typeof rawClient>, bytes: string, everyMs: number): Promise<number> {
    return new Promise((resolve) => {
      let i = 0;
      const timer = setInterval(() => {
        if (c.socket.destroyed || c.socket.writableEnded || i >= bytes.length) {
          clearInterval(timer);
          resolve(i);
          return;
        }
        c.socket.write(bytes[i++]!);
      }, everyMs);
      c.socket.once('close', () => {
        clearInterval(timer);
        resolve(i);
      });
    });
  }

  it('a head trickled a byte at a time still gets 408 at the head deadline (more bytes do not push it back)', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)], undefined, { clientTimeoutMs: 300 });
    const c = rawClient(port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    // 200 bytes at one per 30 ms would take 6 s: the 300 ms head deadline cuts it long before.
    const sent = await trickle(c, 'v'.repeat(200), 30);
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(200);
    expect(backend.requests).toBe(0);
  });

  it('a connection that sends nothing is closed at the head timeout without an answer', async () => {
    const { port } = await engine([], undefined, { clientTimeoutMs: 100, keepAliveTimeoutMs: 60_000 });
    const c = rawClient(port);
    await c.closed;
    expect(c.text()).toBe('');
  });

  it('a body that keeps arriving is not cut (the body timeout runs from the last byte); one that stops gets 408', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)], undefined, { clientTimeoutMs: 300 });
    const c = rawClient(port);
    c.socket.write('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n');
    // 12 bytes at one per 100 ms: 1.2 s in all, four times the timeout, never 300 ms without a byte.
    await trickle(c, 'abcdefghijkl', 100);
    const out = await c.until(/"body":"abcdefghijkl"/);
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    // The same connection, a body that stops: 408, and nothing more reached the backend.
    c.socket.write('POST /stops HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nabc');
    await c.closed;
    expect(c.text().slice(out.length)).toMatch(/^HTTP\/1\.1 408 /);
    expect(backend.requests).toBe(1);
  });

  it('an upstream body that keeps coming is relayed whole (upstream timeout from the last byte); one that stops mid-body cuts the client', async () => {
    const upstream = await rawUpstream((request, socket) => {
      const body = request.startsWith('GET /stops') ? 'abcd' : 'abcdefghijkl';
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n');
      let i = 0;
      const timer = setInterval(() => {
        if (i >= body.length || socket.destroyed) return void clearInterval(timer);
        socket.write(body[i++]!);
      }, 100);
    });
    const { port } = await engine([endpoint(upstream.port)], undefined, { upstreamTimeoutMs: 300 });
    const whole = await rawExchange(port, 'GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 10_000);
    expect(whole.endsWith('\r\n\r\nabcdefghijkl')).toBe(true);
    const cut = await rawExchange(port, 'GET /stops HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 10_000);
    expect(cut).toMatch(/^HTTP\/1\.1 200 /);
    expect(cut.endsWith('\r\n\r\nabcd')).toBe(true);
  });

  it('an upload streamed to the upstream for longer than the upstream timeout is not cut while its bytes flow', async () => {
    // The upstream reads the whole body, then answers with its length: no upstream byte until then.
    const server = createServer((socket) => {
      let seen = 0;
      let head = true;
      socket.on('data', (c: Buffer) => {
        if (head) {
          const end = c.indexOf('\r\n\r\n');
          if (end === -1) return;
          head = false;
          c = c.subarray(end + 4);
        }
        seen += c.length;
        if (seen >= 200_000) socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${String(seen).length}\r\nConnection: close\r\n\r\n${seen}`);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = await engine([endpoint((server.address() as AddressInfo).port)], undefined, { upstreamTimeoutMs: 200, requestBufferSize: 16 * 1024 });
    const client = connect({ host: '127.0.0.1', port });
    cleanups.push(() => void client.destroy());
    let reply = '';
    client.on('data', (c: Buffer) => (reply += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    client.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n');
    // 20 pieces, one every 60 ms: the upload outlasts the 200 ms upstream timeout many times over.
    for (let i = 0; i < 20; i++) {
      client.write(Buffer.alloc(10_000, 0x61));
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    // The answer (a 504 would close the connection; this one keeps it).
    await Promise.race([closed, eventually(async () => reply.endsWith('200000') || undefined, 5_000, 'the answer')]);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply.endsWith('\r\n\r\n200000')).toBe(true);
  });

  it('an idle keep-alive connection closes without an answer after its timeout, even with a long head timeout', async () => {
    const backend = await echo();
    const { port } = await engine([endpointOf(backend)], undefined, { clientTimeoutMs: 60_000, keepAliveTimeoutMs: 150 });
    const c = rawClient(port);
    c.socket.write('GET /one HTTP/1.1\r\nHost: a\r\n\r\n');
    const out = await c.until(/"path":"\/one"/);
    await c.closed;
    expect(c.text()).toBe(out);
  });
});
