// WebSocket (and any Upgrade) through the proxy: a raw tunnel to one endpoint.
import type { IncomingMessage } from 'node:http';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { EchoServer } from '../../src/echo/echo-server.js';
import { deadPort, endpoint, endpointOf, noRoutes, startEchos, startProxy, trackedFixtures } from './proxy-fixture.js';
import type { ProxyHarness } from './proxy-fixture.js';

const { cleanups, echos, proxy } = trackedFixtures();

function open(url: string, headers?: Record<string, string>): Promise<{ ws: WebSocket; upgrade: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    let upgrade: IncomingMessage | undefined;
    ws.once('upgrade', (res) => (upgrade = res));
    ws.once('open', () => resolve({ ws, upgrade: upgrade! }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`unexpected ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: string; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data: data.toString(), binary })));
}

describe('WebSocket through the proxy', () => {
  it('echoes text and binary messages through the tunnel', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    const { ws, upgrade } = await open(`ws://127.0.0.1:${h.port}/chat?room=1`, { 'x-forwarded-for': '9.9.9.9' });
    expect(upgrade.headers['x-echo-pod']).toBe('echo-0');
    ws.send('hello');
    expect(await nextMessage(ws)).toEqual({ data: 'hello', binary: false });
    ws.send(Buffer.from([1, 2, 3]));
    expect((await nextMessage(ws)).binary).toBe(true);
    const big = 'x'.repeat(200_000);
    ws.send(big);
    expect((await nextMessage(ws)).data).toBe(big);
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
    const line = await h.accessLog.waitFor((l) => l['path'] === '/chat?room=1');
    expect(line).toMatchObject({ status: 101, method: 'GET', upstream: `127.0.0.1:${echo.port}`, service: 'default/echo/80' });
    expect(line?.['bytes']).toBeGreaterThan(200_000);
  });

  it('sends X-Forwarded-* and keeps Connection/Upgrade on the upstream request', async () => {
    // A raw TCP upstream records the request head it receives and answers 101, then echoes bytes.
    let head = '';
    const upstream = createServer((socket) => {
      socket.once('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        const end = text.indexOf('\r\n\r\n') + 4;
        head = text.slice(0, end);
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: custom\r\n\r\n');
        socket.write(text.slice(end), 'latin1');
        socket.pipe(socket);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const h = await proxy({ endpoints: [endpoint((upstream.address() as AddressInfo).port)] });

    const client = connect({ host: '127.0.0.1', port: h.port });
    cleanups.push(async () => void client.destroy());
    client.write(
      'GET /up?x=1 HTTP/1.1\r\nHost: ws.example\r\nConnection: keep-alive, Upgrade\r\nUpgrade: custom\r\nKeep-Alive: 5\r\nX-Forwarded-For: 6.6.6.6\r\nX-Kept: 1\r\n\r\nearly-bytes',
    );
    let received = '';
    await new Promise<void>((resolve) => {
      client.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.includes('early-bytes')) resolve();
      });
    });
    expect(received).toMatch(/^HTTP\/1\.1 101 /);
    const lines = head.slice(0, head.indexOf('\r\n\r\n')).split('\r\n');
    expect(lines[0]).toBe('GET /up?x=1 HTTP/1.1');
    const headers = lines.slice(1).map((l) => l.toLowerCase());
    expect(headers).toEqual(
      expect.arrayContaining([
        'host: ws.example',
        'connection: upgrade',
        'upgrade: custom',
        'x-kept: 1',
        'x-forwarded-for: 127.0.0.1',
        'x-real-ip: 127.0.0.1',
        'x-forwarded-host: ws.example',
        'x-forwarded-proto: http',
        `x-forwarded-port: ${h.port}`,
      ]),
    );
    expect(headers.some((l) => l.startsWith('keep-alive'))).toBe(false);
    expect(headers.filter((l) => l.startsWith('x-forwarded-for'))).toHaveLength(1);
  });

  it('answers 404 on the socket when no route matches', async () => {
    const h = await proxy({ endpoints: [], routes: noRoutes });
    await expect(open(`ws://127.0.0.1:${h.port}/x`)).rejects.toMatchObject({ status: 404 });
  });

  it('answers 503 when the backend has no endpoints', async () => {
    const h = await proxy({ endpoints: [] });
    await expect(open(`ws://127.0.0.1:${h.port}/x`)).rejects.toMatchObject({ status: 503 });
  });

  it('retries a refused connect on another endpoint, else answers 502', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const dead = endpoint(await deadPort());
    const h = await proxy({ endpoints: [dead, endpointOf(echo)] });
    for (let i = 0; i < 4; i++) {
      const { ws } = await open(`ws://127.0.0.1:${h.port}/r`);
      ws.send(`m${i}`);
      expect((await nextMessage(ws)).data).toBe(`m${i}`);
      ws.terminate();
    }
    const allDead = await proxy({ endpoints: [dead] });
    await expect(open(`ws://127.0.0.1:${allDead.port}/x`)).rejects.toMatchObject({ status: 502 });
  });

  it('tears the tunnel down when the upstream goes away', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    const { ws } = await open(`ws://127.0.0.1:${h.port}/x`);
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    await echo.close();
    expect(typeof (await closed)).toBe('number');
  });

  it('closes the tunnel after the client hangs up even if the backend never closes its side', async () => {
    // A backend that answers 101 and then ignores everything, FIN included.
    const held = new Set<import('node:net').Socket>();
    const backend = createServer({ allowHalfOpen: true }, (socket) => {
      held.add(socket);
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    });
    const h = await startProxy({ endpoints: [endpoint((backend.address() as AddressInfo).port)], proxy: { drainTimeout: 600_000 } });
    const client = connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => undefined);
    client.write('GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
    await new Promise((resolve) => client.once('data', resolve));
    const clientClosed = new Promise((resolve) => client.once('close', resolve));
    client.end();
    await clientClosed;
    // Nothing is left for shutdown to wait for (a leftover tunnel would hold close() for the grace period).
    await h.close();
  });
});
