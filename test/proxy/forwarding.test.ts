// What reaches the upstream and what comes back: target, Host, bodies, headers, hop-by-hop, X-Forwarded-*.
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/echo/echo-server.js';
import { endpointOf, headerValues, rawExchange, send, startEchos, startProxy, TEST_DATA_PLANE } from './proxy-fixture.js';
import type { EchoJson, ProxyHarness } from './proxy-fixture.js';

let echo: EchoServer;
let h: ProxyHarness;

beforeAll(async () => {
  [echo] = (await startEchos(1)) as [EchoServer];
  h = await startProxy({ endpoints: [endpointOf(echo, 'echo-0')] });
});

afterAll(async () => {
  await h?.close();
  await echo?.close();
});

describe('request target and method', () => {
  it.each([
    ['GET', '/a%20b?x=1&y=%2F&z'],
    ['POST', '/caf%C3%A9/x?a=b=c&&'],
    ['PUT', '//double//slash/?'],
    ['DELETE', '/~user/x;param?q=%zz'],
    ['PATCH', '/'],
    ['OPTIONS', '/path?'],
    ['PROPFIND', '/dav/'],
  ])('%s %s arrives byte for byte', async (method, path) => {
    const reply = await send(h.port, { method, path });
    expect(reply.status).toBe(200);
    const echoed = reply.json();
    expect(echoed.method).toBe(method);
    expect(echoed.path).toBe(path);
  });

  // Routes match the raw path, so `/public/../admin` would route as /public while the backend serves
  // /admin: the engine refuses dot segments (400, as for other path confusion); the node data plane
  // forwards them unchanged.
  it.each(['/caf%C3%A9/%2e%2e/x', '/~user/./x', '/a/../b'])('%s: dot segments (node: forwarded as sent; engine: 400)', async (path) => {
    const reply = await send(h.port, { method: 'POST', path });
    if (TEST_DATA_PLANE === 'engine') expect(reply.status).toBe(400);
    else expect([reply.status, reply.json().path]).toEqual([200, path]);
  });

  it('strips the query (only) for the route lookup', async () => {
    const routes = h.proxy.routes as unknown as { calls: Array<[string | undefined, string]> };
    routes.calls.length = 0;
    await send(h.port, { path: '/look/up?x=/y', headers: { host: 'Lookup.Example:8080' } });
    expect(routes.calls).toEqual([['Lookup.Example:8080', '/look/up']]);
  });

  it('routes and forwards an absolute-form target by its path, with the authority as Host', async () => {
    const raw = await rawExchange(h.port, 'GET http://abs.example:81/abs/p?q=1 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { path: string; host: string };
    expect(body.path).toBe('/abs/p?q=1');
    expect(body.host).toBe('abs.example:81');
  });

  it('answers 400 to a target that is neither origin- nor absolute-form', async () => {
    const raw = await rawExchange(h.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('PORTICO_ERR_PROXY_BAD_REQUEST');
  });
});

describe('Host and headers', () => {
  it('keeps the Host header unchanged', async () => {
    const reply = await send(h.port, { headers: { host: 'Shop.Example.COM:8443' } });
    expect(reply.json().host).toBe('Shop.Example.COM:8443');
  });

  it('keeps duplicate headers and their order', async () => {
    const reply = await send(h.port, {
      headers: ['Host', 'dup.example', 'X-Dup', 'one', 'Cookie', 'a=1', 'X-Dup', 'two', 'Cookie', 'b=2', 'Accept', '*/*'],
    });
    const raw = reply.json().rawHeaders;
    expect(headerValues(raw, 'x-dup')).toEqual(['one', 'two']);
    expect(headerValues(raw, 'cookie')).toEqual(['a=1', 'b=2']);
    expect(headerValues(raw, 'accept')).toEqual(['*/*']);
  });

  it('removes hop-by-hop request headers, including those named in Connection', async () => {
    const raw = await rawExchange(
      h.port,
      [
        'POST /hop HTTP/1.1',
        'Host: hop.example',
        'Connection: keep-alive, X-Secret, x-other-secret',
        'X-Secret: hidden',
        'X-Other-Secret: hidden too',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Trailer: X-T',
        'Proxy-Connection: keep-alive',
        'Upgrade: foo/1',
        'Transfer-Encoding: chunked',
        'X-Kept: yes',
        '',
        '5\r\nhello\r\n0\r\nX-T: t\r\n\r\n',
      ].join('\r\n'),
      500,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    const echoed = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as EchoJson;
    const names = echoed.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const hop of ['x-secret', 'x-other-secret', 'keep-alive', 'te', 'trailer', 'proxy-connection', 'upgrade']) {
      expect(names).not.toContain(hop);
    }
    expect(names).toContain('x-kept');
    expect(echoed.body).toBe('hello');
    // The upstream gets the proxy's own framing (chunked, or a length when the body is already
    // complete) and connection handling, never the client's.
    expect(headerValues(echoed.rawHeaders, 'connection')).toEqual(['keep-alive']);
  });

  it('sets X-Forwarded-* and X-Real-IP, replacing client-supplied values', async () => {
    const reply = await send(h.port, {
      headers: {
        host: 'fwd.example',
        'x-forwarded-for': '1.2.3.4',
        'x-real-ip': '5.6.7.8',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-port': '1',
      },
    });
    const raw = reply.json().rawHeaders;
    expect(headerValues(raw, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(headerValues(raw, 'x-real-ip')).toEqual(['127.0.0.1']);
    expect(headerValues(raw, 'x-forwarded-host')).toEqual(['fwd.example']);
    expect(headerValues(raw, 'x-forwarded-port')).toEqual([String(h.port)]);
    expect(headerValues(raw, 'x-forwarded-proto')).toEqual(['http']);
  });

  it('removes hop-by-hop response headers (and those named in Connection), keeps duplicate Set-Cookie', async () => {
    const q = new URLSearchParams([
      ['connection', 'x-resp-secret'],
      ['x-resp-secret', '1'],
      ['keep-alive', 'timeout=99'],
      ['x-kept', 'yes'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; Path=/'],
    ]);
    const reply = await send(h.port, { path: `/response-headers?${q}` });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-resp-secret']).toBeUndefined();
    expect(reply.headers['keep-alive']).not.toBe('timeout=99');
    expect(reply.headers['x-kept']).toBe('yes');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('adds Server: portico only when the upstream sends none', async () => {
    const plain = await send(h.port);
    expect(headerValues(plain.rawHeaders, 'server')).toEqual(['portico']);
    const own = await send(h.port, { path: '/response-headers?server=echo-httpd' });
    expect(headerValues(own.rawHeaders, 'server')).toEqual(['echo-httpd']);
  });
});

describe('bodies', () => {
  const mib = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib.length; i++) mib[i] = 97 + (i % 26);

  it('streams a 1 MiB content-length body', async () => {
    const reply = await send(h.port, { method: 'POST', path: '/upload', body: mib });
    expect(reply.status).toBe(200);
    const echoed = reply.json();
    expect(echoed.body.length).toBe(mib.length);
    expect(echoed.body === mib.toString('utf8')).toBe(true);
    expect(echoed.headers['content-length']).toBe(String(mib.length));
  });

  it('streams a 1 MiB chunked body', async () => {
    const reply = await send(h.port, { method: 'PUT', path: '/upload', body: mib, chunked: true });
    expect(reply.status).toBe(200);
    const echoed = reply.json();
    expect(echoed.body === mib.toString('utf8')).toBe(true);
    expect(echoed.headers['transfer-encoding']).toBe('chunked');
  });

  it('sends no body (and no content-length) for a body-less GET', async () => {
    const reply = await send(h.port);
    expect(reply.json().headers['content-length']).toBeUndefined();
    expect(reply.json().headers['transfer-encoding']).toBeUndefined();
  });

  it('keeps Content-Length responses un-chunked on the wire', async () => {
    const raw = await rawExchange(h.port, 'GET /bytes/5000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toContain('content-length: 5000');
    expect(head).not.toContain('transfer-encoding');
    expect(raw.length - head.length - 4).toBe(5000);
  });

  it('re-chunks a chunked upstream response for HTTP/1.1 clients', async () => {
    const reply = await send(h.port, { path: '/chunked/100000' });
    expect(reply.body.length).toBe(100000);
    expect(reply.headers['transfer-encoding']).toBe('chunked');
  });

  it('handles HEAD, 204 and 304 without bodies on a kept-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const head = await send(h.port, { method: 'HEAD', path: '/bytes/100', agent });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('100');
      expect(head.body.length).toBe(0);
      const noContent = await send(h.port, { path: '/status/204', agent });
      expect(noContent.status).toBe(204);
      expect(noContent.body.length).toBe(0);
      const notModified = await send(h.port, { path: '/status/304', agent });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);
      const after = await send(h.port, { path: '/after', agent });
      expect(after.json().path).toBe('/after');
    } finally {
      agent.destroy();
    }
  });

  it('passes upstream error statuses through untouched', async () => {
    const reply = await send(h.port, { path: '/status/503' });
    expect(reply.status).toBe(503);
    expect(reply.json().pod).toBe('echo-0');
  });
});

describe('protocol corners', () => {
  it('answers Expect: 100-continue itself and forwards the body without Expect', async () => {
    const socket = connect({ host: '127.0.0.1', port: h.port });
    socket.write('POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.startsWith('HTTP/1.1 100') && !text.includes('hello')) socket.write('hello');
    });
    await new Promise((resolve) => socket.on('close', resolve));
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const body = JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4)) as EchoJson;
    expect(body.body).toBe('hello');
    expect(body.headers['expect']).toBeUndefined();
  });

  it('serves HTTP/1.0 clients (no Host needed)', async () => {
    const raw = await rawExchange(h.port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.toLowerCase()).toContain('content-length:');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).path).toBe('/old');
  });

  it('refuses CONNECT with 400', async () => {
    const raw = await rawExchange(h.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('relays a large response to a slow reader intact (backpressure)', async () => {
    const size = 24 * 1024 * 1024;
    const received = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: h.port, path: `/chunked/${size}`, agent: false }, (res) => {
        let n = 0;
        let sincePause = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          sincePause += c.length;
          if (sincePause > 4 * 1024 * 1024) {
            sincePause = 0;
            res.pause();
            setTimeout(() => res.resume(), 100);
          }
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(received).toBe(size);
  });
});

describe('upstream keep-alive', () => {
  it('reuses upstream connections across requests', async () => {
    const before = echo.connections;
    for (let i = 0; i < 30; i++) expect((await send(h.port)).status).toBe(200);
    // 30 sequential requests, each on a new client connection, share one upstream connection.
    expect(echo.connections - before).toBeLessThanOrEqual(1);
  });
});
