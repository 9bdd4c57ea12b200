import type { AddressInfo } from 'node:net';
import { BackendRegistry, type UpstreamPool } from '../balancer/backend-registry.js';
import { EngineServer } from '../engine/engine-server.js';
import type { Logger } from '../lib/logger.js';
import type { RequestObserver } from '../model/request-observer.js';
import type { RouteLookup } from '../model/route-model.js';
import type { AccessLogField } from '../proxy/access-log.js';
import { DEFAULT_HSTS, ProxyServer, renderHsts, type HstsOptions } from '../proxy/proxy-server.js';
import type { SniStore } from '../tls/sni-store.js';
import { listenHttps, type TlsPlane } from './https-listener.js';

// What the controller needs of a data plane, so `--data-plane node|engine` is one choice at start
// and nothing else in the wiring branches: listen, swap routes, the shutdown steps, and how TLS
// listeners hand it connections.

export interface DataPlane {
  listen(options: { port: number; host?: string; reusePort?: boolean }): Promise<AddressInfo>;
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

export type DataPlaneKind = 'node' | 'engine';

/** The registry's per-endpoint pool for the engine data plane, which never dispatches through it. */
const NO_UNDICI_POOL = {
  dispatch: () => {
    throw new Error('the engine data plane has no undici pool');
  },
  close: () => Promise.resolve(),
  destroy: () => Promise.resolve(),
} as unknown as UpstreamPool;

/** The backend registry a data plane needs: the engine brings its own upstream pools, so no undici Pool per endpoint (nor undici loaded at all). */
export function createBackendRegistry(kind: DataPlaneKind = 'engine'): BackendRegistry {
  return new BackendRegistry(kind === 'engine' ? { poolFactory: () => NO_UNDICI_POOL } : {});
}

export interface DataPlaneOptions {
  /** `engine` (src/engine, the default) or `node` (node:http + undici). */
  readonly dataPlane?: DataPlaneKind;
  readonly backends: BackendRegistry;
  readonly logger: Logger;
  readonly observer: RequestObserver;
  readonly drainTimeoutMs: number;
  readonly accessLog?: Logger;
  readonly accessLogFields?: readonly AccessLogField[];
  readonly hsts?: HstsOptions | false;
  /** The engine's per-client-address connection limit (--max-connections-per-client). */
  readonly maxConnectionsPerClient?: number;
  /** --proxy-body-size, bytes (0: none), where a route sets no proxy-body-size. */
  readonly maxBodySize?: number;
  /** HTTP/2 to clients (the engine: ALPN h2 and h2c prior knowledge); default true. The node plane serves HTTP/1.1 only. */
  readonly http2?: boolean;
}

/** The selected data plane, as the controller (one process) and every worker (`--workers`) build it. */
export function createDataPlane(options: DataPlaneOptions): DataPlane {
  const { backends, logger, observer, accessLog } = options;
  if ((options.dataPlane ?? 'engine') === 'engine') {
    const hsts = renderHsts(options.hsts ?? DEFAULT_HSTS);
    return engineDataPlane(
      new EngineServer({
        backends,
        logger,
        observer,
        ...(options.maxConnectionsPerClient !== undefined && { maxConnectionsPerClient: options.maxConnectionsPerClient }),
        ...(options.maxBodySize !== undefined && { maxBodySize: options.maxBodySize }),
        ...(options.http2 !== undefined && { http2: options.http2 }),
        ...(accessLog && { accessLog }),
        ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
        ...(hsts !== undefined && { hsts }),
      }),
      options.drainTimeoutMs,
    );
  }
  return nodeDataPlane(
    new ProxyServer({
      backends,
      logger,
      observer,
      drainTimeout: options.drainTimeoutMs,
      // The pools close after the controller stops, so no rebuild ever meets a closed registry.
      closeBackends: false,
      ...(options.maxBodySize !== undefined && { maxBodySize: options.maxBodySize }),
      ...(accessLog && { accessLog }),
      ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
      ...(options.hsts !== undefined && { hsts: options.hsts }),
    }),
  );
}

export interface TrafficListeners {
  readonly http: AddressInfo;
  readonly https: AddressInfo | undefined;
  /** Re-reads the default certificate (after a plan changed it). */
  readonly refreshDefaultCertificate: () => void;
}

/** The HTTP listener, then the HTTPS one (SNI from `sni`) when `httpsPort` is given. */
export async function listenTraffic(options: {
  readonly plane: DataPlane;
  readonly sni: SniStore;
  readonly httpPort: number;
  readonly httpsPort?: number;
  readonly host?: string;
  readonly reusePort?: boolean;
  readonly logger: Logger;
  readonly onHandshakeFailure: (reason: string) => void;
}): Promise<TrafficListeners> {
  const host = options.host !== undefined ? { host: options.host } : {};
  const reusePort = options.reusePort ? { reusePort: true } : {};
  const http = await options.plane.listen({ port: options.httpPort, ...host, ...reusePort });
  if (options.httpsPort === undefined) return { http, https: undefined, refreshDefaultCertificate: () => undefined };
  const https = await listenHttps({
    plane: options.plane.tls,
    sni: options.sni,
    port: options.httpsPort,
    ...host,
    ...reusePort,
    logger: options.logger,
    onHandshakeFailure: options.onHandshakeFailure,
  });
  https.refreshDefaultCertificate();
  return { http, https: https.address, refreshDefaultCertificate: https.refreshDefaultCertificate };
}
