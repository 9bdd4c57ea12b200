// Distribution, membership changes, route swaps under load, access log, graceful close.
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/echo/echo-server.js';
import type { RouteLookup } from '../../src/model/route-model.js';
import { parseAccessLogFields } from '../../src/proxy/access-log.js';
import { backendEndpoints, backendRef, endpointOf, routeByHost, send, sleep, startEchos, startProxy, trackPools, trackedFixtures } from './proxy-fixture.js';
import type { ProxyHarness } from './proxy-fixture.js';

const { echos, proxy } = trackedFixtures();

describe('round robin through the proxy', () => {
  it('spreads 100 requests over 10 endpoints evenly', async () => {
    const list = await echos(10);
    const h = await proxy({ endpoints: list.map((e) => endpointOf(e)) });
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const seen = new Map<string, number>();
      for (let i = 0; i < 100; i++) {
        const pod = (await send(h.port, { agent })).json().pod;
        seen.set(pod, (seen.get(pod) ?? 0) + 1);
      }
      expect(seen.size).toBe(10);
      expect([...seen.values()]).toEqual(Array(10).fill(10));
    } finally {
      agent.destroy();
    }
  });

  it('applies an endpoint change in place: rotation continues, removed pools close, routes untouched', async () => {
    const list = await echos(3);
    const order = list.map((e) => endpointOf(e)).sort((a, b) => (a.key < b.key ? -1 : 1));
    const podAt = (i: number): string => `echo-${list.findIndex((e) => `127.0.0.1:${e.port}` === order[i]!.key)}`;
    const h = await proxy({ endpoints: order });
    const routesBefore = h.proxy.routes;

    expect((await send(h.port)).json().pod).toBe(podAt(0));
    // Drop the endpoint that is next in line: the rotation continues after it, not from the start.
    h.registry.sync(new Map([[h.ref.key, backendEndpoints(h.ref, [order[0]!, order[2]!])]]));
    expect(h.registry.poolCount).toBe(2);
    expect((await send(h.port)).json().pod).toBe(podAt(2));
    expect((await send(h.port)).json().pod).toBe(podAt(0));
    expect(h.proxy.routes).toBe(routesBefore);
  });
});

describe('route swaps', () => {
  it('swaps routes atomically under a concurrent request loop with zero failures', async () => {
    const [blue] = (await echos(1, 'blue')) as [EchoServer];
    const [green] = (await echos(1, 'green')) as [EchoServer];
    const blueRef = backendRef('default/blue/80');
    const greenRef = backendRef('default/green/80');
    const h = await proxy({ endpoints: [endpointOf(blue)] });
    h.registry.sync(
      new Map([
        [blueRef.key, backendEndpoints(blueRef, [endpointOf(blue)])],
        [greenRef.key, backendEndpoints(greenRef, [endpointOf(green)])],
      ]),
    );
    const tables: RouteLookup[] = [routeByHost({ 'app.example': blueRef }), routeByHost({ 'app.example': greenRef })];
    h.proxy.setRoutes(tables[0]!);

    let swaps = 0;
    let running = true;
    const swapper = (async () => {
      while (running) {
        h.proxy.setRoutes(tables[++swaps % 2]!);
        await sleep(2);
      }
    })();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const statuses = new Map<number, number>();
    const services = new Set<string>();
    // Counts, not a deadline: enough requests and enough swaps underneath them, however busy the machine.
    let total = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (total < 400 || swaps < 50) {
          total++;
          const reply = await send(h.port, { agent, headers: { host: 'app.example' }, path: '/swap' });
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          if (reply.status === 200) services.add(reply.json().service);
        }
      }),
    );
    running = false;
    await swapper;
    agent.destroy();
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThanOrEqual(400);
    expect(swaps).toBeGreaterThanOrEqual(50);
    expect([...services].sort()).toEqual(['blue', 'green']);
  });
});

describe('access log', () => {
  it('writes one line per request with the documented fields', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    await send(h.port, { method: 'POST', path: '/logged?q=1', headers: { host: 'log.example' }, body: 'abc' });
    await h.accessLog.waitFor((l) => l['path'] === '/logged?q=1');
    const lines = h.accessLog.lines.filter((l) => l['path'] === '/logged?q=1');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({
      level: 30,
      client: '127.0.0.1',
      method: 'POST',
      host: 'log.example',
      path: '/logged?q=1',
      status: 200,
      upstream: `127.0.0.1:${echo.port}`,
      ingress: 'default/echo',
      service: 'default/echo/80',
    });
    expect(typeof line['time']).toBe('number');
    expect(line['bytes']).toBeGreaterThan(100);
    expect(line['durationMs']).toBeGreaterThan(0);
    expect(line['upstreamMs']).toBeGreaterThan(0);
    expect(line['upstreamMs'] as number).toBeLessThanOrEqual(line['durationMs'] as number);
    expect(line['aborted']).toBeUndefined();
  });

  it('logs and passes upstream one X-Request-ID (the client’s, else generated), with user-agent, referer, sizes and upstream status', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const h = await proxy({ endpoints: [endpointOf(echo)] });
    const headers = { host: 'log.example', 'user-agent': 'curl/8.5', referer: 'https://from.example/', 'x-request-id': 'req-42' };
    const passed = await send(h.port, { method: 'POST', path: '/status/418', headers, body: 'abcdef' });
    const line = await h.accessLog.waitFor((l) => l['path'] === '/status/418');
    expect(passed.json<{ headers: Record<string, string> }>().headers['x-request-id']).toBe('req-42');
    expect(line).toMatchObject({ status: 418, upstreamStatus: 418, requestId: 'req-42', userAgent: 'curl/8.5', referer: 'https://from.example/' });
    // Request line + headers as sent by node:http, plus the 6 body bytes.
    const head = `POST /status/418 HTTP/1.1\r\n${Object.entries({ ...headers, 'content-length': '6', connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    expect(line['requestBytes']).toBe(Buffer.byteLength(head) + 6);

    const generated = await send(h.port, { path: '/gen', headers: { host: 'log.example' } });
    const id = generated.json<{ headers: Record<string, string> }>().headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await h.accessLog.waitFor((l) => l['path'] === '/gen')).toMatchObject({ requestId: id });
  });

  it('writes only the configured fields, named directly or as ingress-nginx variables', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const fields = parseAccessLogFields('$remote_addr,status $upstream_status, requestId $http_user_agent');
    expect(fields).toEqual(['client', 'status', 'upstreamStatus', 'requestId', 'userAgent']);
    const h = await proxy({ endpoints: [endpointOf(echo)], proxy: { accessLogFields: fields } });
    await send(h.port, { path: '/picked', headers: { host: 'log.example', 'user-agent': 'ua' } });
    const line = await h.accessLog.waitFor((l) => l['status'] === 200);
    const { time: _time, level: _level, ...rest } = line;
    expect(Object.keys(rest)).toEqual(['client', 'status', 'upstreamStatus', 'requestId', 'userAgent']);
    expect(() => parseAccessLogFields('status,$nope')).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_CLI_FLAG', message: expect.stringContaining('"$nope"') }));
  });

  it('logs the controller’s own answers too', async () => {
    const h = await proxy({ endpoints: [] });
    await send(h.port, { path: '/none' });
    const line = h.accessLog.lines.find((l) => l['path'] === '/none');
    expect(line).toMatchObject({ status: 503, service: 'default/echo/80', ingress: 'default/echo', requestId: expect.any(String) });
    expect(line?.['upstream']).toBeUndefined();
    expect(line?.['upstreamStatus']).toBeUndefined(); // Portico answered, not an upstream
  });
});

describe('close', () => {
  it('lets an in-flight request finish, refuses new connections, closes pools', async () => {
    const [echo] = (await echos(1)) as [EchoServer];
    const pools = trackPools();
    const h = await startProxy({ endpoints: [endpointOf(echo)], registry: { poolFactory: pools.factory } });
    const inFlight = send(h.port, { path: '/delay/300' });
    for (let i = 0; i < 200 && echo.connections === 0; i++) await sleep(5); // dispatched upstream
    const closing = h.proxy.close();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.headers['connection']).toBe('close');
    await closing;
    expect(pools.closed).toEqual([`http://127.0.0.1:${echo.port}`]);
    await expect(send(h.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
