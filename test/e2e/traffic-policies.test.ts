// Traffic annotations end to end on both data planes, against real backends: upstream-hash-by
// keeps a key on one pod, load-balance: ewma moves traffic off a slow pod, limit-connections
// refuses a client's request over its in-flight limit.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/http.js';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';

const A = 'nginx.ingress.kubernetes.io/';

describe.each(DATA_PLANES)('traffic policies (data plane: %s)', (dataPlane) => {
  let harness: Harness;
  let pods: EchoPod[];
  let fast: EchoPod[];
  let slow: HttpServer;
  let slowRequests = 0;

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
    harness = await startHarness(
      {
        '00-class.yaml': [PORTICO_CLASS],
        'shop.yaml': [
          ...serviceFor('shop/web', pods),
          ...serviceFor('shop/mixed', [fast[0]!, { port: slowPort } as EchoPod]),
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

  it('limit-connections: a request whose client went away frees its slot (at the latest when its upstream answers: the engine serves half-closed clients)', async () => {
    const before = pods.reduce((n, pod) => n + pod.requests, 0);
    // The client gives up after 300 ms of silence and closes its connection.
    const abandoned = await harness.get('conn.example', '/delay/800', { timeoutMs: 300 }).catch((error: Error) => error);
    expect(abandoned).toBeInstanceOf(Error);
    expect(pods.reduce((n, pod) => n + pod.requests, 0)).toBeGreaterThan(before);
    await eventually(async () => (await harness.get('conn.example', '/')).status === 200, 3000, 'the slot freed');
  });
});
