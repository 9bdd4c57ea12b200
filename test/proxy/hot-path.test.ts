// Behaviour kept by the hot-path optimisations (bench/README.md, "Profile and changes"): HSTS carried
// in the response header list instead of setHeader, and Content-Length bodies ended with their last
// chunk instead of write() + end().
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/echo/echo-server.js';
import { buildResponseHeaders } from '../../src/proxy/hop-by-hop.js';
import { endpointOf, send, startEchos, startProxy, type ProxyHarness } from './proxy-fixture.js';

const HSTS = 'max-age=31536000; includeSubDomains';

describe('buildResponseHeaders with HSTS', () => {
  it('appends HSTS when the upstream sends none', () => {
    expect(buildResponseHeaders({ 'content-type': 'text/plain' }, HSTS)).toEqual(['content-type', 'text/plain', 'server', 'portico', 'strict-transport-security', HSTS]);
  });

  it("keeps the upstream's own Strict-Transport-Security, once", () => {
    expect(buildResponseHeaders({ 'strict-transport-security': 'max-age=5', server: 'x' }, HSTS)).toEqual(['strict-transport-security', 'max-age=5', 'server', 'x']);
  });

  it('adds nothing without an HSTS value', () => {
    expect(buildResponseHeaders({ server: 'x' })).toEqual(['server', 'x']);
  });
});

describe('the proxy on an HTTPS-proto listener and with Content-Length bodies', () => {
  let echo: EchoServer;
  let h: ProxyHarness;
  let httpsProto: Server;
  let httpsPort: number;

  beforeAll(async () => {
    [echo] = (await startEchos(1)) as [EchoServer];
    // The node data plane's own hot path (the engine's HSTS is covered by the TLS end-to-end suite).
    h = await startProxy({ endpoints: [endpointOf(echo, 'echo-0')], plane: 'node' });
    // attach() only needs a server: a plain one labelled 'https' exercises the HSTS path without TLS.
    httpsProto = createServer(h.nodeProxy!.serverOptions);
    h.nodeProxy!.attach(httpsProto, { proto: 'https' });
    await new Promise<void>((resolve) => httpsProto.listen(0, '127.0.0.1', resolve));
    httpsPort = (httpsProto.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await h?.close(); // closes every attached server
    await echo?.close();
  });

  it('adds HSTS to forwarded responses and to its own error replies, only on https listeners', async () => {
    const ok = await send(httpsPort, { path: '/bytes/10' });
    expect(ok.status).toBe(200);
    expect(ok.headers['strict-transport-security']).toBe(HSTS);
    expect(ok.headers.server).toBe('portico');
    expect((await send(h.port, { path: '/bytes/10' })).headers['strict-transport-security']).toBeUndefined();
  });

  it("lets the backend's own Strict-Transport-Security win, without a duplicate", async () => {
    const reply = await send(httpsPort, { path: '/response-headers?strict-transport-security=max-age%3D5' });
    expect(reply.headers['strict-transport-security']).toBe('max-age=5');
    expect(reply.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'strict-transport-security')).toHaveLength(1);
  });

  it('carries HSTS on error replies (502 from a reset upstream)', async () => {
    const reply = await send(httpsPort, { path: '/reset' });
    expect(reply.status).toBe(502);
    expect(reply.headers['strict-transport-security']).toBe(HSTS);
  });

  it('frames Content-Length bodies of every size correctly on one kept-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const size of [0, 1, 127, 16_384, 65_536, 65_537, 300_000, 1_048_576, 5]) {
        const reply = await send(h.port, { path: `/bytes/${size}`, agent });
        expect(reply.status).toBe(200);
        expect(reply.headers['content-length']).toBe(String(size));
        expect(reply.body.length).toBe(size);
        expect(reply.body.every((b) => b === 0x78)).toBe(true);
      }
      // HEAD keeps the announced length and sends no body.
      const head = await send(h.port, { method: 'HEAD', path: '/bytes/1000', agent });
      expect(head.headers['content-length']).toBe('1000');
      expect(head.body.length).toBe(0);
      expect(Object.keys(agent.sockets).length + Object.keys(agent.freeSockets).length).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('logs each request once, with its status and body bytes', async () => {
    h.accessLog.lines.length = 0;
    await send(h.port, { path: '/bytes/4096' });
    await h.accessLog.waitFor((l) => l['path'] === '/bytes/4096');
    const lines = h.accessLog.lines.filter((l) => l['path'] === '/bytes/4096');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 200, bytes: 4096 });
    expect(lines[0]!['aborted']).toBeUndefined();
  });
});
