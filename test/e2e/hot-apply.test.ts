import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually, httpRequest } from '../helpers/http.js';

describe('hot apply', () => {
  let harness: Harness | undefined;
  let pods: EchoPod[] = [];
  afterEach(async () => {
    await harness?.close();
    await closePods(pods);
    harness = undefined;
    pods = [];
  });

  const webIngress = (paths = [prefix('/', 'web', 80)]) =>
    ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', paths)] });

  it('serves a new Ingress soon after its file is written, without restarting listeners', async () => {
    pods = await startEchoPods('web', 1);
    harness = await startHarness({ 'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), webIngress()] });
    const h = harness;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // A keep-alive connection opened before the change keeps working after it.
    expect((await httpRequest({ port: h.port, host: 'shop.example.com', agent })).status).toBe(200);
    const builds = h.running.controller.stats.routeBuilds;
    await h.write('new.yaml', [ingress('shop/new', { className: 'portico', rules: [rule('new.example.com', [prefix('/', 'web', 80)])] })]);
    // How fast is bench/controller/manifest-propagation's business; here: served, by one more route build, no restart.
    await eventually(async () => (await h.get('new.example.com')).status === 200, 10_000, 'new host served');
    expect(h.running.controller.stats.routeBuilds).toBeGreaterThan(builds);
    expect((await httpRequest({ port: h.port, host: 'shop.example.com', agent })).status).toBe(200);
    expect(h.running.http.port).toBe(h.port);
    agent.destroy();
  });

  it('applies endpoint-only changes without rebuilding routes, and keeps round-robin state across route rebuilds', async () => {
    pods = await startEchoPods('web', 3);
    const [a, b, c] = pods as [EchoPod, EchoPod, EchoPod];
    harness = await startHarness({ 'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', [a, b]), webIngress()] });
    const h = harness;
    const stats = h.running.controller.stats;
    const buildsBefore = stats.routeBuilds;
    const syncsBefore = stats.endpointSyncs;

    // Endpoint-only change: a third pod joins.
    await h.write('base.yaml', [PORTICO_CLASS, ...serviceFor('shop/web', [a, b, c]), webIngress()]);
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await h.get('shop.example.com')).json?.pod ?? '');
      return seen.size === 3;
    }, 2000, 'third pod receives traffic');
    expect(stats.routeBuilds).toBe(buildsBefore);
    expect(stats.endpointSyncs).toBeGreaterThan(syncsBefore);
    expect(stats.tlsApplies).toBe(1); // endpoint-only builds leave certificates (and status) alone

    // A route rebuild (a new path on another host) must not reset the rotation.
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await h.get('shop.example.com')).json?.pod ?? '');
    const last = order[2];
    await h.write('other.yaml', [ingress('shop/other', { className: 'portico', rules: [rule('other.example.com', [prefix('/', 'web', 80)])] })]);
    await eventually(async () => (await h.get('other.example.com')).status === 200, 2000, 'route rebuild');
    expect(stats.routeBuilds).toBeGreaterThan(buildsBefore);
    // The probe above took one turn of the rotation; the next pick continues from there, it does not restart.
    const next = (await h.get('shop.example.com')).json?.pod;
    const rotation = [...order, ...order];
    const lastIndex = rotation.indexOf(last ?? '');
    expect(next).toBe(rotation[lastIndex + 2]);
  });

  it('drops no request while routes and endpoints change under a concurrent request loop', async () => {
    pods = await startEchoPods('web', 4);
    const [p0, p1, p2, p3] = pods as [EchoPod, EchoPod, EchoPod, EchoPod];
    harness = await startHarness({ 'base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', [p0, p1]), webIngress()] });
    const h = harness;
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (!stop) {
        try {
          const res = await httpRequest({ port: h.port, host: 'shop.example.com', path: '/loop?x=1', agent, method: 'POST', body: 'payload' });
          if (res.status === 200 && res.json?.body === 'payload') ok++;
          else failures.push(`${res.status} ${res.body.slice(0, 80)}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    const changes: Array<Parameters<Harness['write']>> = [
      ['base.yaml', [PORTICO_CLASS, ...serviceFor('shop/web', [p0, p1, p2]), webIngress()]], // endpoint added
      ['extra.yaml', [ingress('shop/extra', { className: 'portico', rules: [rule('extra.example.com', [prefix('/', 'web', 80)])] })]],
      ['base.yaml', [PORTICO_CLASS, ...serviceFor('shop/web', [p1, p2, p3]), webIngress([prefix('/', 'web', 80), prefix('/api', 'web', 80)])]],
      ['base.yaml', [PORTICO_CLASS, ...serviceFor('shop/web', [p2, p3]), webIngress([prefix('/loop', 'web', 80), prefix('/', 'web', 80)])]],
    ];
    // Paced by counts, not time: traffic before each change, each change built, traffic after.
    const answered = () => ok + failures.length;
    const served = (n: number) => {
      const target = answered() + n;
      return eventually(async () => answered() >= target, 15_000, `${n} more requests answered`);
    };
    const builds = () => h.running.controller.stats.routeBuilds + h.running.controller.stats.endpointSyncs;
    for (const change of changes) {
      await served(20);
      const before = builds();
      await h.write(...change);
      await eventually(async () => builds() > before, 15_000, `change to ${change[0]} built`);
    }
    await served(50);
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
  });
});
