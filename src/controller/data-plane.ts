import type { AddressInfo } from 'node:net';
import type { EngineServer } from '../engine/engine-server.js';
import type { RouteLookup } from '../model/route-model.js';
import type { ProxyServer } from '../proxy/proxy-server.js';

// What the controller needs of a data plane, so `--data-plane node|engine` is one choice at start
// and nothing else in the wiring branches: listen, swap routes, the shutdown steps, and how TLS
// listeners hand it connections.

export type TlsPlane = { readonly kind: 'node'; readonly proxy: ProxyServer } | { readonly kind: 'engine'; readonly engine: EngineServer };

export interface DataPlane {
  listen(options: { port: number; host?: string }): Promise<AddressInfo>;
  setRoutes(routes: RouteLookup): void;
  /** Grace period: responses carry Connection: close, listeners still accept. */
  endKeepAlive(): void;
  /** Drain: listeners close, in-flight requests finish, the rest is cut after the drain timeout. */
  close(): Promise<void>;
  readonly tls: TlsPlane;
}

export function nodeDataPlane(proxy: ProxyServer): DataPlane {
  return {
    listen: (options) => proxy.listen(options),
    setRoutes: (routes) => proxy.setRoutes(routes),
    endKeepAlive: () => proxy.endKeepAlive(),
    close: () => proxy.close(),
    tls: { kind: 'node', proxy },
  };
}

export function engineDataPlane(engine: EngineServer, drainTimeoutMs: number): DataPlane {
  return {
    listen: (options) => engine.listen(options),
    setRoutes: (routes) => engine.setRoutes(routes),
    endKeepAlive: () => engine.endKeepAlive(),
    close: () => engine.close(drainTimeoutMs),
    tls: { kind: 'engine', engine },
  };
}
