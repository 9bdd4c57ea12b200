// The rebuild loop on its own: fake sinks, a real store, rebuild() called by the test (the holdoff
// is pushed out of the way), so every assertion is about what was built, in which order.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { Controller, type BuildChanges, type BuildPart } from '../../src/controller/controller.js';
import type { BackendEndpoints, RouteLookup } from '../../src/model/route-model.js';
import { ObjectStore } from '../../src/store/object-store.js';
import type { TlsPlan } from '../../src/tls/compile-tls.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { endpointSlice, ingress, ingressClass, node, prefix, rule, secret, service } from '../helpers/objects.js';

const web = (host: string, tls = false) =>
  ingress('shop/web', { className: 'portico', rules: [rule(host, [prefix('/', 'web', 80)])], ...(tls && { tls: [{ hosts: [host], secretName: 'web-tls' }] }) });

function setup(options: { tls?: boolean } = {}) {
  const store = new ObjectStore();
  store.upsert(ingressClass('portico'));
  store.upsert(web('a.example.com', options.tls));
  store.upsert(service('shop/web', [80]));
  store.upsert(endpointSlice('shop/web-1', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }));
  const log = captureLogger('debug');
  const tables: RouteLookup[] = [];
  const syncs: Array<ReadonlyMap<string, BackendEndpoints>> = [];
  const plans: TlsPlan[] = [];
  const built: BuildChanges[] = [];
  const kinds: BuildPart[] = [];
  const failures: unknown[] = [];
  let failNextSync = false;
  const controller = new Controller({
    store,
    compile: DEFAULT_COMPILE_OPTIONS,
    logger: log.logger,
    holdoffMs: 3_600_000, // the test calls rebuild() itself
    maxHoldoffMs: 3_600_000,
    routes: { setRoutes: (table) => void tables.push(table) },
    backends: {
      sync: (next) => {
        if (failNextSync) {
          failNextSync = false;
          throw new Error('registry refused the update');
        }
        syncs.push(next);
      },
    },
    ...(options.tls && { tls: { sink: { apply: (plan: TlsPlan) => (plans.push(plan), { fallbackChanged: false }) } } }),
    observers: [{ configurationBuilt: (_model, changes) => void built.push(changes), rebuilt: (kind) => void kinds.push(kind), rebuildFailed: (error) => void failures.push(error) }],
  });
  controller.start();
  const hosts = () => controller.model?.virtualHosts.map((v) => v.host) ?? [];
  return { store, controller, log, tables, syncs, plans, built, kinds, failures, hosts, failNextSync: () => (failNextSync = true) };
}

describe('Controller', () => {
  const controllers: Controller[] = [];
  afterEach(() => {
    for (const controller of controllers.splice(0)) controller.stop();
  });

  it('builds everything once synced, then only the dirty part, and reports each build by its widest part', () => {
    const t = setup({ tls: true });
    controllers.push(t.controller);
    t.controller.rebuild();
    expect(t.tables).toHaveLength(0); // not synced: nothing built
    t.controller.markSynced();
    expect(t.built).toEqual([{ routes: true, tls: true, endpoints: true }]);

    t.store.upsert(endpointSlice('shop/web-1', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.2'] }));
    t.controller.rebuild();
    t.store.upsert(secret('shop/web-tls', { 'tls.crt': 'eA==', 'tls.key': 'eA==' }, 'kubernetes.io/tls'));
    t.controller.rebuild();
    t.store.upsert(web('b.example.com', true));
    t.controller.rebuild();
    expect(t.built.slice(1)).toEqual([
      { routes: false, tls: false, endpoints: true },
      { routes: false, tls: true, endpoints: false },
      { routes: true, tls: true, endpoints: true },
    ]);
    // A certificate-only rebuild is "tls", not "endpoints".
    expect(t.kinds).toEqual(['routes', 'endpoints', 'tls', 'routes']);
    expect([t.tables.length, t.syncs.length, t.plans.length]).toEqual([2, 3, 3]);
    t.controller.rebuild(); // nothing dirty: nothing built
    expect(t.built).toHaveLength(4);
  });

  it('ignores Secrets without TLS termination and Nodes always', () => {
    const t = setup();
    controllers.push(t.controller);
    t.controller.markSynced();
    t.store.upsert(secret('shop/web-tls', { 'tls.crt': 'eA==', 'tls.key': 'eA==' }, 'kubernetes.io/tls'));
    t.store.upsert(node('node-1'));
    t.controller.rebuild();
    expect(t.built).toEqual([{ routes: true, tls: false, endpoints: true }]);
  });

  it('after a failed build keeps the last good table and rebuilds what failed on the next trigger, even an endpoint-only one', () => {
    const t = setup();
    controllers.push(t.controller);
    t.controller.markSynced();
    expect(t.hosts()).toEqual(['a.example.com']);
    const good = t.tables.at(-1);
    const goodHash = t.controller.configHash;
    expect(goodHash).toBeGreaterThan(0);

    t.store.upsert(web('b.example.com'));
    t.failNextSync();
    t.controller.rebuild();
    expect(t.tables.at(-1)).toBe(good); // the failed build swapped nothing in
    expect(t.failures).toHaveLength(1); // observers hear of it (nginx_ingress_controller_errors)
    expect(t.controller.configHash).toBe(goodHash); // the configuration serving is still the good one
    expect(t.log.lines.find((l) => l.msg === 'rebuild failed; the last good configuration keeps serving')).toMatchObject({ routes: true });

    // The next event is endpoint-only; the routes that failed to apply must be built with it.
    t.store.upsert(endpointSlice('shop/web-1', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.3'] }));
    t.controller.rebuild();
    expect(t.built.at(-1)).toEqual({ routes: true, tls: false, endpoints: true });
    expect(t.tables.at(-1)).not.toBe(good);
    expect(t.tables.at(-1)!.lookup('b.example.com', '/')?.ingress).toBe('shop/web');
    expect(t.controller.configHash).not.toBe(goodHash);
    expect(t.syncs.at(-1)!.get('shop/web/80')?.endpoints.map((e) => e.address)).toEqual(['10.0.0.3']);
  });
});
