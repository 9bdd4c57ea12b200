import { afterEach, describe, expect, it } from 'vitest';
import { BackendRegistry } from '../../src/balancer/backend-registry.js';
import type { PoolFactory, UpstreamPool } from '../../src/balancer/backend-registry.js';
import type { EchoServer } from '../../src/echo/echo-server.js';
import type { BackendEndpoints, Endpoint } from '../../src/model/route-model.js';
import { backendEndpoints, backendRef, endpoint, endpointOf, send, sleep, startEchos, startProxy, trackPools } from '../proxy/proxy-fixture.js';

/** A fake pool factory: records what was opened and closed; close resolves when told. */
function fakePools() {
  const opened: string[] = [];
  const closed: string[] = [];
  const options: unknown[] = [];
  const factory: PoolFactory = (origin, opts) => {
    opened.push(origin);
    options.push(opts);
    const pool = {
      dispatch: () => true,
      close: async () => void closed.push(origin),
      destroy: async () => undefined,
    };
    return pool as unknown as UpstreamPool;
  };
  return { factory, opened, closed, options };
}

const a = backendRef('default/a/80');
const b = backendRef('default/b/http');

function state(entries: Array<[typeof a, Endpoint[]]>): Map<string, BackendEndpoints> {
  return new Map(entries.map(([ref, eps]) => [ref.key, backendEndpoints(ref, eps)]));
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('BackendRegistry.sync', () => {
  it('adds backends, opens one pool per endpoint and shares pools across backends', () => {
    const pools = fakePools();
    const registry = new BackendRegistry({ poolFactory: pools.factory, pool: { connections: 7, headersTimeout: 1234 } });
    const result = registry.sync(state([[a, [endpoint(1001), endpoint(1002)]], [b, [endpoint(1002), endpoint(1003)]]]));
    expect(result).toEqual({ added: 2, updated: 0, removed: 0, poolsOpened: 3, poolsClosed: 0 });
    expect(pools.opened.sort()).toEqual(['http://127.0.0.1:1001', 'http://127.0.0.1:1002', 'http://127.0.0.1:1003']);
    expect(pools.options[0]).toMatchObject({ connections: 7, headersTimeout: 1234, pipelining: 1 });
    expect(registry.get(a.key)?.current.endpoints.map((e) => e.port)).toEqual([1001, 1002]);
    expect(registry.pool('127.0.0.1:1002')).toBeDefined();
    expect(registry.backendCount).toBe(2);
    expect(registry.poolCount).toBe(3);
  });

  it('updates membership in place: same backend object, same balancer, position kept', () => {
    const pools = fakePools();
    const registry = new BackendRegistry({ poolFactory: pools.factory });
    registry.sync(state([[a, [endpoint(1001), endpoint(1002), endpoint(1003)]]]));
    const backend = registry.get(a.key)!;
    const balancer = backend.balancer;
    expect(balancer.pick()?.port).toBe(1001);

    const result = registry.sync(state([[a, [endpoint(1001), endpoint(1003), endpoint(1004)]]]));
    expect(result).toMatchObject({ added: 0, updated: 1, removed: 0, poolsOpened: 1, poolsClosed: 1 });
    expect(registry.get(a.key)).toBe(backend);
    expect(registry.get(a.key)?.balancer).toBe(balancer);
    expect(balancer.pick()?.port).toBe(1003);
    expect(pools.closed).toEqual(['http://127.0.0.1:1002']);
  });

  it('drops backends missing from the next state and closes pools nobody uses', () => {
    const pools = fakePools();
    const registry = new BackendRegistry({ poolFactory: pools.factory });
    registry.sync(state([[a, [endpoint(1001), endpoint(1002)]], [b, [endpoint(1002)]]]));
    const result = registry.sync(state([[b, [endpoint(1002)]]]));
    expect(result).toMatchObject({ removed: 1, poolsClosed: 1 });
    expect(registry.get(a.key)).toBeUndefined();
    expect(pools.closed).toEqual(['http://127.0.0.1:1001']);
    // 1002 is still used by b: kept.
    expect(registry.pool('127.0.0.1:1002')).toBeDefined();
  });

  it('keeps a backend with a problem (requests get 503) without pools', () => {
    const pools = fakePools();
    const registry = new BackendRegistry({ poolFactory: pools.factory });
    registry.sync(new Map([[a.key, backendEndpoints(a, [], { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', message: 'none' })]]));
    expect(registry.get(a.key)?.current.problem?.code).toBe('PORTICO_ERR_BACKEND_NO_ENDPOINTS');
    expect(registry.poolCount).toBe(0);
  });

  it('closes every pool on close() and refuses later syncs', async () => {
    const pools = fakePools();
    const registry = new BackendRegistry({ poolFactory: pools.factory });
    registry.sync(state([[a, [endpoint(1001), endpoint(1002)]]]));
    await registry.close();
    expect(pools.closed.sort()).toEqual(['http://127.0.0.1:1001', 'http://127.0.0.1:1002']);
    expect(registry.get(a.key)).toBeUndefined();
    expect(() => registry.sync(new Map())).toThrow(/closed/);
    await registry.close();
  });

  it('lets an in-flight request finish on a pool closed by a membership change', async () => {
    const [one, two] = (await startEchos(2)) as [EchoServer, EchoServer];
    cleanups.push(async () => void (await Promise.all([one.close(), two.close()])));
    const pools = trackPools();
    const h = await startProxy({ endpoints: [endpointOf(one)], registry: { poolFactory: pools.factory } });
    cleanups.push(() => h.close());

    const inFlight = send(h.port, { path: '/delay/300' });
    for (let i = 0; i < 200 && one.connections === 0; i++) await sleep(5); // dispatched upstream
    h.registry.sync(new Map([[h.ref.key, backendEndpoints(h.ref, [endpointOf(two)])]]));
    expect(pools.closed).toEqual([`http://127.0.0.1:${one.port}`]);
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.json().pod).toBe('echo-0');
    // New requests go to the new endpoint only.
    for (let i = 0; i < 3; i++) expect((await send(h.port)).json().pod).toBe('echo-1');
  });
});
