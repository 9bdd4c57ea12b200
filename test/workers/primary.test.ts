// The primary's pool against fake worker processes and a fake clock: what it sends, in which order,
// how it restarts (and backs off), readiness, metrics merging and shutdown. No process is forked.
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BuildChanges } from '../../src/controller/controller.js';
import { PorticoMetrics } from '../../src/metrics/metrics.js';
import type { BackendEndpoints, RouteModel } from '../../src/model/route-model.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import type { SniCertificate } from '../../src/tls/sni-store.js';
import { restartDelayMs, WorkerPool, type PoolTimers } from '../../src/workers/primary.js';
import { isCertificateRef, parsePrimaryMessage, renderWorkerMessage, type PrimaryMessage, type WorkerMessage, type WireMetric } from '../../src/workers/snapshot.js';
import { isWorkerMetric } from '../../src/workers/worker.js';
import { captureLogger } from '../helpers/capture-logger.js';

const fallbackCertificate = createDefaultCertificate();
const TICKET_KEYS = Buffer.alloc(48, 7);
let nextPid = 1000;

class FakeChild extends EventEmitter {
  readonly pid = nextPid++;
  connected = true;
  readonly received: PrimaryMessage[] = [];
  readonly signals: string[] = [];
  constructor(readonly id: number) {
    super();
  }
  send(message: unknown): boolean {
    // What the worker would parse: the real parse, after a JSON round trip.
    this.received.push(parsePrimaryMessage(JSON.parse(JSON.stringify(message))));
    return true;
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    return true;
  }
  reply(message: WorkerMessage): void {
    this.emit('message', JSON.parse(JSON.stringify(renderWorkerMessage(message))));
  }
  die(code: number | null, signal: NodeJS.Signals | null): void {
    this.connected = false;
    this.emit('exit', code, signal);
  }
  types(): string[] {
    return this.received.map((m) => m.type);
  }
}

class FakeTimers implements PoolTimers {
  time = 0;
  readonly pending = new Set<{ at: number; ms: number; fn: () => void }>();
  setTimeout = (fn: () => void, ms: number) => {
    const timer = { at: this.time + ms, ms, fn };
    this.pending.add(timer);
    return timer;
  };
  clearTimeout = (handle: unknown) => void this.pending.delete(handle as never);
  now = () => this.time;
  /** The delays of what is pending, in order. */
  delays(): number[] {
    return [...this.pending].sort((a, b) => a.at - b.at).map((t) => t.ms);
  }
  /** Jumps to the earliest timer and runs it. */
  fireNext(): void {
    const next = [...this.pending].sort((a, b) => a.at - b.at)[0];
    if (!next) throw new Error('no timer pending');
    this.pending.delete(next);
    this.time = next.at;
    next.fn();
  }
}

const web = { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 };
const model = (hosts: string[]): RouteModel => ({
  virtualHosts: hosts.map((host) => ({ host, routes: [{ pathType: 'Prefix', path: '/', backend: web, ingress: 'shop/web' }] })),
  hostless: [],
  backends: [web],
  tls: [],
  ownedIngresses: ['shop/web'],
  diagnostics: [],
});
const endpoints = (...ports: number[]): Map<string, BackendEndpoints> =>
  new Map([[web.key, { backend: web, endpoints: ports.map((port) => ({ key: `127.0.0.1:${port}`, address: '127.0.0.1', port, ready: true, serving: true, terminating: false })) }]]);
const ALL: BuildChanges = { routes: true, tls: true, endpoints: true };
const ENDPOINTS_ONLY: BuildChanges = { routes: false, tls: false, endpoints: true };

/** A pool of `count` fake workers; `build` runs one controller build through the sinks, in the controller's order. */
function setup(count: number, options: { ports?: { http: number; https?: number } } = {}) {
  const children: FakeChild[] = [];
  const timers = new FakeTimers();
  const log = captureLogger('debug');
  const registry = new Registry();
  const pool = new WorkerPool({
    count,
    fork: (id) => {
      const child = new FakeChild(id);
      children.push(child);
      return child;
    },
    logger: log.logger,
    fallbackCertificate,
    ticketKeys: TICKET_KEYS,
    ports: options.ports ?? { http: 0, https: 0 },
    host: '127.0.0.1',
    timers,
    killAfterMs: 30_000,
    collectTimeoutMs: 1_000,
    metrics: registry,
  });
  const build = (m: RouteModel, changed: BuildChanges, eps?: Map<string, BackendEndpoints>) => {
    if (changed.tls) pool.tlsApplied({ hosts: [], certificates: new Map() });
    if (changed.endpoints) pool.sync(eps ?? endpoints(1));
    if (changed.routes) pool.setRoutes({ lookup: () => undefined });
    pool.configurationBuilt(m, changed);
  };
  /** Makes a fake child do what a worker does after its start message. */
  const serve = (child: FakeChild, ports = { http: 8080, https: 8443 }) => {
    const config = child.received.filter((m) => m.type === 'config').at(-1);
    if (config?.type === 'config') child.reply({ type: 'applied', generation: config.generation });
    child.reply({ type: 'listening', ...ports });
  };
  return { pool, children, timers, log, registry, build, serve };
}

describe('WorkerPool', () => {
  it('starts the first worker, learns the port it got for port 0, then starts the others on that port', async () => {
    const { pool, children, serve } = setup(3);
    const started = pool.start();
    expect(children.map((c) => c.id)).toEqual([0]); // one at a time until the port is known
    expect(children[0]!.received[0]).toMatchObject({ type: 'start', http: 0, https: 0, waitForConfig: false, ticketKeys: TICKET_KEYS });
    serve(children[0]!, { http: 41000, https: 41001 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(children.map((c) => c.id)).toEqual([0, 1, 2]);
    for (const child of children.slice(1)) expect(child.received[0]).toMatchObject({ type: 'start', http: 41000, https: 41001, ticketKeys: TICKET_KEYS });
    for (const child of children.slice(1)) serve(child, { http: 41000, https: 41001 });
    const ports = await started;
    expect(ports.http.port).toBe(41000);
    expect(ports.https?.port).toBe(41001);
  });

  it('sends one snapshot per build with only what it recompiled; a worker without a full configuration gets all of it', async () => {
    const { pool, children, build, serve } = setup(2, { ports: { http: 8080, https: 8443 } });
    build(model(['a.test']), ALL);
    const started = pool.start();
    // The configuration is there before the worker starts: it is told to wait for it, and gets it at once.
    expect(children[0]!.types()).toEqual(['start', 'config']);
    expect(children[0]!.received[0]).toMatchObject({ waitForConfig: true });
    expect(children[0]!.received[1]).toMatchObject({ type: 'config', generation: 1, full: true });
    serve(children[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    serve(children[1]!);
    await started;
    build(model(['a.test']), ENDPOINTS_ONLY, endpoints(1, 2));
    for (const child of children) {
      const last = child.received.at(-1)!;
      expect(last).toMatchObject({ type: 'config', generation: 2, full: false });
      expect(last).not.toHaveProperty('routes');
      expect(last).not.toHaveProperty('tls');
      expect(last.type === 'config' && last.endpoints?.[0]?.endpoints.map((e) => e.port)).toEqual([1, 2]);
    }
    build(model(['a.test', 'b.test']), ALL);
    for (const child of children) {
      const last = child.received.at(-1)!;
      expect(last.type === 'config' && last.routes?.virtualHosts.map((v) => v.host)).toEqual(['a.test', 'b.test']);
      expect(last).toHaveProperty('tls');
    }
    expect(pool.endpoints.get(web.key)?.endpoints.map((e) => e.port)).toEqual([1]);
  });

  it("sends a certificate's PEMs to a worker once and names it by id after that; a replacement worker gets them again", async () => {
    const { pool, children, timers, serve } = setup(1, { ports: { http: 8080, https: 8443 } });
    const certificate = (id: string): SniCertificate => ({ id, certPem: fallbackCertificate.certPem, keyPem: fallbackCertificate.keyPem, notAfter: new Date('2030-01-01T00:00:00Z') });
    const tlsBuild = (...ids: string[]) => {
      pool.tlsApplied({ hosts: ids.map((id) => ({ host: `${id}.test`, secret: `shop/${id}` })), certificates: new Map(ids.map((id) => [`shop/${id}`, certificate(id)])) });
      pool.setRoutes({ lookup: () => undefined });
      pool.configurationBuilt(model(['a.test']), ALL);
    };
    /** Per certificate of the last snapshot a child got: 'pem' or 'id'. */
    const sentAs = (child: FakeChild) => {
      const last = child.received.at(-1)!;
      if (last.type !== 'config' || !last.tls) throw new Error('no TLS plan in the last message');
      return Object.fromEntries([...last.tls.certificates.values()].map((c) => [c.id, isCertificateRef(c) ? 'id' : 'pem']));
    };
    tlsBuild('c1');
    const started = pool.start();
    expect(sentAs(children[0]!)).toEqual({ c1: 'pem' });
    serve(children[0]!);
    await started;
    tlsBuild('c1', 'c2');
    expect(sentAs(children[0]!)).toEqual({ c1: 'id', c2: 'pem' });
    tlsBuild('c2');
    expect(sentAs(children[0]!)).toEqual({ c2: 'id' });
    // The worker keeps only the last plan's pairs: c1 is sent in full again.
    tlsBuild('c1');
    expect(sentAs(children[0]!)).toEqual({ c1: 'pem' });
    children[0]!.die(1, null);
    timers.fireNext();
    expect(children[1]!.received.at(-1)).toMatchObject({ type: 'config', full: true });
    expect(sentAs(children[1]!)).toEqual({ c1: 'pem' });
  });

  it('is ready only when every worker listens and has applied the full configuration', async () => {
    const { pool, children, build } = setup(2, { ports: { http: 8080 } });
    const started = pool.start();
    expect(pool.readiness()).toMatchObject({ ready: false, reason: 'worker 0 is not listening yet' });
    children[0]!.reply({ type: 'listening', http: 8080 });
    await new Promise((resolve) => setImmediate(resolve));
    children[1]!.reply({ type: 'listening', http: 8080 });
    await started;
    expect(pool.readiness()).toMatchObject({ ready: false, reason: 'worker 0 has not applied the configuration yet' });
    build(model(['a.test']), ALL); // the first build: a full snapshot to both
    expect(children.map((c) => c.received.at(-1))).toEqual([expect.objectContaining({ full: true }), expect.objectContaining({ full: true })]);
    children[0]!.reply({ type: 'applied', generation: 1 });
    expect(pool.readiness()).toMatchObject({ ready: false, reason: 'worker 1 has not applied the configuration yet' });
    children[1]!.reply({ type: 'applied', generation: 1 });
    expect(pool.readiness()).toEqual({ ready: true });
  });

  it('restarts a worker that dies, with backoff, logging its exit; the replacement gets the current configuration in full', async () => {
    const { pool, children, timers, log, registry, build, serve } = setup(2, { ports: { http: 8080, https: 8443 } });
    build(model(['a.test']), ALL);
    const started = pool.start();
    serve(children[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    serve(children[1]!);
    await started;
    build(model(['a.test', 'b.test']), ALL);
    for (const child of children) child.reply({ type: 'applied', generation: 2 });
    expect(pool.readiness()).toEqual({ ready: true });

    children[1]!.die(null, 'SIGKILL');
    expect(log.lines.find((l) => l.code === 'PORTICO_ERR_WORKER_EXITED')).toMatchObject({ worker: 1, pid: children[1]!.pid, signal: 'SIGKILL', exitCode: null, restartInMs: 100 });
    expect(pool.readiness()).toMatchObject({ ready: false, reason: 'worker 1 is restarting' });
    expect(timers.delays()).toEqual([100]);
    // A change while it is down: the replacement must get it too.
    build(model(['a.test', 'b.test', 'c.test']), ENDPOINTS_ONLY, endpoints(7));
    timers.fireNext();
    expect(children.map((c) => c.id)).toEqual([0, 1, 1]);
    const replacement = children[2]!;
    expect(replacement.types()).toEqual(['start', 'config']);
    expect(replacement.received[0]).toMatchObject({ type: 'start', http: 8080, https: 8443, waitForConfig: true });
    const full = replacement.received[1]!;
    expect(full).toMatchObject({ type: 'config', generation: 3, full: true });
    expect(full.type === 'config' && full.routes?.virtualHosts.map((v) => v.host)).toEqual(['a.test', 'b.test']);
    expect(full.type === 'config' && full.endpoints?.[0]?.endpoints.map((e) => e.port)).toEqual([7]);
    serve(replacement);
    expect(pool.readiness()).toEqual({ ready: true });
    expect((await registry.getSingleMetric('portico_worker_restarts_total')!.get()).values[0]?.value).toBe(1);
    expect((await registry.getSingleMetric('portico_workers')!.get()).values[0]?.value).toBe(2);

    // Dying again at once doubles the delay each time, up to the cap; one that ran long starts over.
    replacement.die(1, null);
    expect(timers.delays()).toEqual([200]);
    timers.fireNext();
    children[3]!.die(1, null);
    expect(timers.delays()).toEqual([400]);
    timers.fireNext();
    timers.time += 60_000;
    children[4]!.die(1, null);
    expect(timers.delays()).toEqual([100]);
    expect(log.lines.filter((l) => l.code === 'PORTICO_ERR_WORKER_EXITED').map((l) => [l.exitCode, l.signal])).toEqual([
      [null, 'SIGKILL'],
      [1, null],
      [1, null],
      [1, null],
    ]);
    expect(restartDelayMs(20)).toBe(10_000);
    // Worker 0 kept its listener the whole time: it was never restarted or told anything but configurations.
    expect(children[0]!.types().filter((t) => t !== 'config')).toEqual(['start']);
  });

  it('fails start with PORTICO_ERR_WORKER_START when a worker cannot listen or exits first', async () => {
    const a = setup(2, { ports: { http: 80 } });
    const started = a.pool.start();
    a.children[0]!.reply({ type: 'failed', message: 'listen EACCES: permission denied 0.0.0.0:80', code: 'EACCES' });
    a.children[0]!.die(1, null); // as a worker does after saying why
    await expect(started).rejects.toMatchObject({ code: 'PORTICO_ERR_WORKER_START', message: expect.stringContaining('EACCES') });
    const b = setup(2, { ports: { http: 80 } });
    const startedB = b.pool.start();
    b.children[0]!.die(1, null);
    await expect(startedB).rejects.toMatchObject({ code: 'PORTICO_ERR_WORKER_START', message: expect.stringContaining('exited with code 1 before it listened') });
    expect(b.timers.pending.size).toBe(0); // not restarted
  });

  it('on shutdown tells every worker to run its grace period and drain, restarts none, kills one that hangs, and resolves when all have exited', async () => {
    const { pool, children, timers, serve } = setup(2, { ports: { http: 8080 } });
    const started = pool.start();
    serve(children[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    serve(children[1]!);
    await started;
    let done = false;
    const stopped = pool.shutdown().then(() => (done = true));
    for (const child of children) expect(child.received.at(-1)).toEqual({ type: 'shutdown', grace: true });
    children[0]!.die(0, null);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    expect(timers.delays()).toEqual([30_000]); // only worker 1's kill timer: no restart of worker 0
    timers.fireNext();
    expect(children[1]!.signals).toEqual(['SIGKILL']);
    children[1]!.die(null, 'SIGKILL');
    await stopped;
    expect(children).toHaveLength(2);
  });

  it('/metrics sums the per-request series of every worker and adds the primary\'s own', async () => {
    const { pool, children, registry, serve } = setup(2, { ports: { http: 8080 } });
    const started = pool.start();
    serve(children[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    serve(children[1]!);
    await started;
    const route = { pathType: 'Prefix' as const, path: '/', backend: web, ingress: 'shop/web' };
    const match = { backend: web, ingress: 'shop/web', route, host: 'shop.example.com' };
    const controller = { controller_class: 'c', controller_namespace: 'ns', controller_pod: 'pod' };
    const workerMetrics = [3, 4].map((n) => {
      const metrics = new PorticoMetrics({ defaultMetrics: false, controller });
      for (let i = 0; i < n; i++) metrics.observeRequest(match, 200, 0.002, 0.001, 'GET', 100, 2_000);
      metrics.configurationApplied(42); // the primary's business too: not summed in
      metrics.setLeader(true); // a worker's gauge of the primary's business: must not be summed in
      return metrics;
    });
    const rendering = pool.renderMetrics();
    for (const [i, child] of children.entries()) {
      const collect = child.received.at(-1)!;
      expect(collect.type).toBe('collect');
      const all = (await workerMetrics[i]!.registry.getMetricsAsJSON()) as unknown as WireMetric[];
      child.reply({ type: 'report', id: collect.type === 'collect' ? collect.id : 0, requests: 3 + i, handshakeFailures: {}, metrics: all.filter((m) => isWorkerMetric(m.name)) });
    }
    const text = await rendering;
    expect(text).toContain('portico_requests_total{ingress="web",namespace="shop",service="web",status_class="2xx"} 7');
    expect(text).toContain('portico_request_duration_seconds_count{ingress="web",namespace="shop",service="web"} 7');
    expect(text).toContain('portico_response_size_bytes_sum{ingress="web",namespace="shop",service="web"} 14000');
    const nginx = 'status="200",method="GET",path="/",namespace="shop",ingress="web",service="web",canary="",host="shop.example.com",controller_class="c",controller_namespace="ns",controller_pod="pod"';
    expect(text).toContain(`nginx_ingress_controller_requests{${nginx}} 7`);
    expect(text).toContain(`nginx_ingress_controller_request_size_sum{${nginx}} 700`);
    expect(text).toContain(`nginx_ingress_controller_bytes_sent_bucket{le="10000",${nginx}} 7`);
    expect(text).not.toContain('nginx_ingress_controller_config_hash');
    expect(text).not.toContain('build_info');
    expect(text).toContain('portico_workers 2');
    expect(text).not.toContain('portico_leader');
    expect(registry.getSingleMetric('portico_worker_restarts_total')).toBeDefined();
  });

  it('/debug/stats leaves out a worker that does not answer in time, and names every worker', async () => {
    const { pool, children, timers, serve } = setup(2, { ports: { http: 8080 } });
    const started = pool.start();
    serve(children[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    serve(children[1]!);
    await started;
    const stats = pool.stats();
    const collect = children[0]!.received.at(-1)!;
    children[0]!.reply({ type: 'report', id: collect.type === 'collect' ? collect.id : 0, requests: 5, handshakeFailures: { client_reset: 1 }, metrics: [] });
    timers.fireNext(); // worker 1's collect timeout
    expect(await stats).toEqual({
      workers: [
        { id: 0, pid: children[0]!.pid, state: 'serving', ready: false, generation: 0, restarts: 0, requests: 5 },
        { id: 1, pid: children[1]!.pid, state: 'serving', ready: false, generation: 0, restarts: 0, requests: undefined },
      ],
      handshakeFailures: { client_reset: 1 },
    });
  });
});
