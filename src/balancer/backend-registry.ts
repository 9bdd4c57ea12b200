// Live upstream state per backend: the current endpoints, a balancer, and keep-alive undici pools.
//
// Pools are keyed by endpoint (`ip:port`), not by backend, and shared by every backend that lists
// that endpoint: two Services selecting the same pods on the same target port reach the same sockets,
// so sharing keeps one set of idle keep-alive connections per pod and applies the connection limit
// where it matters (per pod). A pool is closed gracefully as soon as no backend lists its endpoint.
import { createRequire } from 'node:module';
import type { Dispatcher, Pool } from 'undici';
import type { Logger } from '../lib/logger.js';
import type { BackendEndpoints, BackendRef, Endpoint } from '../model/route-model.js';
import type { Balancer, BalancerFactory } from './balancer.js';
import { RoundRobin } from './round-robin.js';

/** Settings of every per-endpoint pool. Times are milliseconds. */
export interface UpstreamPoolOptions {
  /** Maximum connections per endpoint (requests beyond it queue in the pool). */
  connections: number;
  /** Idle time after which a keep-alive connection is closed (a shorter server hint wins). */
  keepAliveTimeout: number;
  /** TCP connect timeout; a timeout is retried on another endpoint, then answered 504. */
  connectTimeout: number;
  /** Time to wait for the upstream response headers; exceeded → 504. */
  headersTimeout: number;
  /** Maximum idle time between response body chunks; exceeded → 504 (or a reset once streaming). */
  bodyTimeout: number;
}

export const DEFAULT_POOL_OPTIONS: Readonly<UpstreamPoolOptions> = {
  connections: 128,
  keepAliveTimeout: 4_000,
  connectTimeout: 5_000,
  headersTimeout: 60_000,
  bodyTimeout: 60_000,
};

/** The part of an undici Pool the proxy uses; tests may return a counting wrapper or a fake. */
export type UpstreamPool = Pick<Dispatcher, 'dispatch' | 'close' | 'destroy'>;

/** `origin` is `http://ip:port` (`http://[v6]:port`). */
export type PoolFactory = (origin: string, options: Pool.Options, endpoint: Endpoint) => UpstreamPool;

export interface BackendRegistryOptions {
  pool?: Partial<UpstreamPoolOptions>;
  poolFactory?: PoolFactory;
  /** Strategy per backend; round robin by default. */
  balancer?: BalancerFactory;
  logger?: Logger;
}

/** One backend as the proxy sees it. The object is stable: sync() updates it in place. */
export interface RegisteredBackend {
  readonly key: string;
  /** The latest endpoints (and problem, if any) for this backend. */
  readonly current: BackendEndpoints;
  readonly balancer: Balancer;
}

interface MutableBackend {
  readonly key: string;
  current: BackendEndpoints;
  readonly balancer: Balancer;
}

export interface RegistrySyncResult {
  readonly added: number;
  readonly updated: number;
  readonly removed: number;
  readonly poolsOpened: number;
  readonly poolsClosed: number;
}

// undici is loaded on the first pool, not at import: the engine data plane (which brings its own
// pools and passes a poolFactory) never loads it (~20 MB resident: its modules and llhttp).
let UndiciPool: typeof Pool | undefined;
const defaultPoolFactory: PoolFactory = (origin, options) => {
  UndiciPool ??= (createRequire(import.meta.url)('undici') as { Pool: typeof Pool }).Pool;
  return new UndiciPool(origin, options);
};
const defaultBalancer: BalancerFactory = () => new RoundRobin();

export class BackendRegistry {
  readonly #backends = new Map<string, MutableBackend>();
  readonly #pools = new Map<string, UpstreamPool>();
  readonly #options: Readonly<UpstreamPoolOptions>;
  readonly #poolOptions: Pool.Options;
  readonly #poolFactory: PoolFactory;
  readonly #balancerFactory: BalancerFactory;
  readonly #logger: Logger | undefined;
  /** Pools being closed gracefully (removed endpoints); awaited by close(). */
  readonly #closing = new Set<Promise<void>>();
  /** Told after every sync (requests waiting for a newer endpoint set). */
  readonly #syncListeners = new Set<() => void>();
  #closed = false;

  constructor(options: BackendRegistryOptions = {}) {
    const o = { ...DEFAULT_POOL_OPTIONS, ...options.pool };
    this.#options = o;
    this.#poolOptions = {
      connections: o.connections,
      keepAliveTimeout: o.keepAliveTimeout,
      connectTimeout: o.connectTimeout,
      headersTimeout: o.headersTimeout,
      bodyTimeout: o.bodyTimeout,
      pipelining: 1,
    };
    this.#poolFactory = options.poolFactory ?? defaultPoolFactory;
    this.#balancerFactory = options.balancer ?? defaultBalancer;
    this.#logger = options.logger;
  }

  /**
   * Applies the next endpoint state. Existing backends are updated in place (balancer position kept),
   * new ones are added, missing ones dropped; pools of endpoints no backend lists any more are closed
   * gracefully (in-flight requests finish). Synchronous: the proxy never sees a half-applied state.
   */
  sync(next: ReadonlyMap<string, BackendEndpoints>): RegistrySyncResult {
    if (this.#closed) throw new Error('BackendRegistry is closed');
    let added = 0;
    let updated = 0;
    let removed = 0;
    let poolsOpened = 0;
    let poolsClosed = 0;

    for (const [key, state] of next) {
      const existing = this.#backends.get(key);
      if (existing === undefined) {
        const balancer = this.#balancerFactory(state.backend);
        balancer.setEndpoints(state.endpoints);
        this.#backends.set(key, { key, current: state, balancer });
        added++;
      } else if (existing.current !== state) {
        existing.current = state;
        existing.balancer.setEndpoints(state.endpoints);
        updated++;
      }
    }
    for (const key of this.#backends.keys()) {
      if (!next.has(key)) {
        this.#backends.delete(key);
        removed++;
      }
    }

    const used = new Set<string>();
    for (const backend of this.#backends.values()) {
      for (const endpoint of backend.current.endpoints) {
        used.add(endpoint.key);
        if (!this.#pools.has(endpoint.key)) {
          this.#pools.set(endpoint.key, this.#poolFactory(`http://${endpoint.key}`, { ...this.#poolOptions }, endpoint));
          poolsOpened++;
        }
      }
    }
    for (const [key, pool] of this.#pools) {
      if (!used.has(key)) {
        this.#pools.delete(key);
        this.#closePool(key, pool);
        poolsClosed++;
      }
    }
    for (const listener of [...this.#syncListeners]) listener();
    return { added, updated, removed, poolsOpened, poolsClosed };
  }

  /**
   * Calls `listener` after every sync (the new state already applied) until the returned function
   * is called.
   */
  onSync(listener: () => void): () => void {
    const entry = (): void => listener();
    this.#syncListeners.add(entry);
    return () => this.#syncListeners.delete(entry);
  }

  get(key: string): RegisteredBackend | undefined {
    return this.#backends.get(key);
  }

  /** The keep-alive pool of an endpoint listed by some backend. */
  pool(endpointKey: string): UpstreamPool | undefined {
    return this.#pools.get(endpointKey);
  }

  /** The effective pool settings (the upgrade proxy reuses connectTimeout). */
  get poolOptions(): Readonly<UpstreamPoolOptions> {
    return this.#options;
  }

  get backendCount(): number {
    return this.#backends.size;
  }

  get poolCount(): number {
    return this.#pools.size;
  }

  /** Closes every pool gracefully (queued and in-flight requests finish) and forgets all backends. */
  async close(): Promise<void> {
    if (this.#closed) {
      await Promise.all(this.#closing);
      return;
    }
    this.#closed = true;
    for (const [key, pool] of this.#pools) this.#closePool(key, pool);
    this.#pools.clear();
    this.#backends.clear();
    await Promise.all(this.#closing);
  }

  #closePool(key: string, pool: UpstreamPool): void {
    const done = pool.close().then(
      () => undefined,
      (err: unknown) => {
        this.#logger?.debug({ endpoint: key, err }, 'upstream pool close failed');
      },
    );
    const tracked = done.finally(() => this.#closing.delete(tracked));
    this.#closing.add(tracked);
  }
}
