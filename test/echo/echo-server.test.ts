import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startEchoServer } from '../../src/echo/echo-server.js';
import type { EchoServer } from '../../src/echo/echo-server.js';
import { send } from '../proxy/proxy-fixture.js';

let echo: EchoServer;
beforeAll(async () => {
  echo = await startEchoServer({ podName: 'pod-a', serviceName: 'svc-a' });
});
afterAll(async () => {
  await echo?.close();
});

describe('echo server', () => {
  it('echoes method, full path, host, headers and body as JSON with content-length', async () => {
    const reply = await send(echo.port, { method: 'POST', path: '/p/q?x=1&y=%2F', headers: { host: 'h.example', 'x-a': 'b' }, body: 'héllo' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
    expect(reply.json()).toMatchObject({ pod: 'pod-a', service: 'svc-a', method: 'POST', path: '/p/q?x=1&y=%2F', host: 'h.example', body: 'héllo' });
    expect(reply.json().headers['x-a']).toBe('b');
  });

  it('serves the special test paths', async () => {
    expect((await send(echo.port, { path: '/status/418' })).status).toBe(418);
    expect((await send(echo.port, { path: '/status/204' })).body.length).toBe(0);
    const bytes = await send(echo.port, { path: '/bytes/1234' });
    expect(bytes.body.length).toBe(1234);
    expect(bytes.headers['content-length']).toBe('1234');
    const chunked = await send(echo.port, { path: '/chunked/70000' });
    expect(chunked.body.length).toBe(70000);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect((await send(echo.port, { path: '/delay/100' })).status).toBe(200);
    // A bare /status is an ordinary path (the demo routes Exact /status to the echo backend).
    const bare = await send(echo.port, { path: '/status' });
    expect(bare.status).toBe(200);
    expect(bare.json<{ path: string }>().path).toBe('/status');
    const custom = await send(echo.port, { path: '/response-headers?set-cookie=a&set-cookie=b&x-y=z' });
    expect(custom.headers['set-cookie']).toEqual(['a', 'b']);
    expect(custom.headers['x-y']).toBe('z');
    await expect(send(echo.port, { path: '/reset' })).rejects.toThrow();
  });

  it('counts connections and requests', async () => {
    const before = { c: echo.connections, r: echo.requests };
    await send(echo.port);
    expect(echo.connections - before.c).toBe(1);
    expect(echo.requests - before.r).toBe(1);
  });

  it('echoes WebSocket messages', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/any`);
    const opened = new Promise((resolve) => ws.once('open', resolve));
    const pod = await new Promise<string | undefined>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers['x-echo-pod'] as string | undefined));
      ws.once('error', reject);
    });
    expect(pod).toBe('pod-a');
    await opened;
    const got = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('ping');
    expect(await got).toBe('ping');
    ws.close();
  });
});
