// The SIGTERM sequence: /readyz 503 at once, new connections still accepted for the grace period
// (load balancers in front are still catching up), then a drain where responses carry
// `Connection: close`. The grace period is a gate the test opens, so nothing here depends on time.
import { createServer, Agent, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { httpRequest } from '../helpers/http.js';

/** A grace period that lasts until the test opens it. */
function gate() {
  const requested: number[] = [];
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { requested, open: () => open(), sleep: (ms: number) => (requested.push(ms), opened) };
}

const web = (pods: readonly Pick<EchoPod, 'port'>[]) => [
  PORTICO_CLASS,
  ...serviceFor('shop/web', pods as EchoPod[]),
  ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] }),
];

describe.each(DATA_PLANES)('shutdown (data plane: %s)', (dataPlane) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('keeps accepting new connections through the grace period while /readyz answers 503, then closes the listeners', async () => {
    const pods = await startEchoPods('web', 1);
    cleanups.push(() => closePods(pods));
    const grace = gate();
    const harness: Harness = await startHarness({ 'web.yaml': web(pods) }, { dataPlane, shutdown: { shutdownGracePeriodMs: 5000, sleep: grace.sleep } });
    cleanups.push(() => harness.close());
    const admin = harness.running.admin.port;
    expect((await httpRequest({ port: admin, path: '/readyz' })).status).toBe(200);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => keepAlive.destroy());
    expect((await harness.get('shop.example.com', '/', { agent: keepAlive })).status).toBe(200);

    // A client that keeps opening new connections (agent: false: one connection per request).
    const results: string[] = [];
    let stop = false;
    let afterShutdown = 0;
    let shutdownCalled = false;
    const client = (async () => {
      while (!stop) {
        try {
          const res = await harness.get('shop.example.com', '/');
          results.push(String(res.status));
          if (shutdownCalled) afterShutdown++;
        } catch (error) {
          results.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
        }
      }
    })();
    while (results.length < 5) await new Promise((resolve) => setImmediate(resolve));
    const done = harness.running.shutdown();
    shutdownCalled = true;
    expect(harness.running.shuttingDown).toBe(true);
    const ready = await httpRequest({ port: admin, path: '/readyz' });
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('shutting down');
    while (afterShutdown < 50) await new Promise((resolve) => setImmediate(resolve));
    // The existing keep-alive connection is served too, and told to go (the client reconnects to
    // a pod that is still ready, instead of losing a request to the idle close at the drain).
    const onKeptConnection = await harness.get('shop.example.com', '/', { agent: keepAlive });
    expect(onKeptConnection.status).toBe(200);
    expect(onKeptConnection.headers.connection).toBe('close');
    stop = true;
    await client;
    expect(results.filter((r) => r !== '200')).toEqual([]); // zero refused during the grace period
    expect(grace.requested).toEqual([5000]);
    expect(harness.log.lines.filter((l) => l.phase).map((l) => l.phase)).toEqual(['grace']);

    grace.open();
    await done;
    expect(harness.log.lines.filter((l) => l.phase).map((l) => l.phase)).toEqual(['grace', 'drain', 'closed']);
    await expect(harness.get('shop.example.com', '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('while draining, an in-flight request on a keep-alive connection finishes with Connection: close', async () => {
    // A backend that holds each request until the test answers it.
    const held: ServerResponse[] = [];
    let arrived: () => void = () => undefined;
    const backend = createServer((_req, res) => {
      held.push(res);
      arrived();
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => backend.close(() => resolve())));
    const harness = await startHarness(
      { 'web.yaml': web([{ port: (backend.address() as AddressInfo).port }]) },
      { dataPlane, shutdown: { shutdownGracePeriodMs: 0, sleep: async () => undefined } },
    );
    cleanups.push(() => harness.close());
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => keepAlive.destroy());

    const first = new Promise<void>((resolve) => (arrived = resolve));
    const before = harness.get('shop.example.com', '/', { agent: keepAlive });
    await first;
    held.shift()!.end('before');
    expect((await before).headers.connection).toBe('keep-alive');

    const second = new Promise<void>((resolve) => (arrived = resolve));
    const during = harness.get('shop.example.com', '/', { agent: keepAlive });
    await second;
    const done = harness.running.shutdown();
    await harness.log.waitFor((l) => l.phase === 'drain');
    held.shift()!.end('during');
    const res = await during;
    expect(res.status).toBe(200);
    expect(res.body).toBe('during');
    expect(res.headers.connection).toBe('close');
    await done;
  });
});
