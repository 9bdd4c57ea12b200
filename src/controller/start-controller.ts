import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendRegistry, type UpstreamPool } from '../balancer/backend-registry.js';
import type { CompileOptions } from '../compile/index.js';
// Types only: the Kubernetes client (@kubernetes/client-node, ~60 MB resident) is imported lazily,
// so --manifests mode never loads it.
import type { KubeClient } from '../k8s/kube-client.js';
import type { KubernetesIntegration, KubernetesIntegrationOptions } from '../k8s/kubernetes-integration.js';
import type { Logger } from '../lib/logger.js';
import { PorticoMetrics } from '../metrics/metrics.js';
import type { AccessLogField } from '../proxy/access-log.js';
import { DEFAULT_HSTS, ProxyServer, renderHsts, type HstsOptions } from '../proxy/proxy-server.js';
import { EngineServer } from '../engine/engine-server.js';
import { engineDataPlane, nodeDataPlane, type DataPlane } from './data-plane.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
import { createDefaultCertificate, type IssuedCertificate } from '../tls/certificate-factory.js';
import { SniStore } from '../tls/sni-store.js';
import { AdminServer } from './admin-server.js';
import { buildBackendsView, buildRoutesView } from './debug-views.js';
import { Controller } from './controller.js';
import { listenHttps } from './https-listener.js';

/** Where objects come from: a manifest directory, or a Kubernetes API server. */
export type ObjectSourceOptions =
  | { readonly manifestsDir: string; readonly kubernetes?: undefined }
  | { readonly manifestsDir?: undefined; readonly kubernetes: KubernetesSourceOptions };

export interface KubernetesSourceOptions
  extends Pick<
    KubernetesIntegrationOptions,
    'watchNamespace' | 'publishService' | 'publishStatusAddresses' | 'electionId' | 'electionNamespace' | 'identity' | 'leaderElection' | 'backoff' | 'watchTimeoutSeconds'
  > {
  /** --kubeconfig; else in-cluster, else KUBECONFIG / ~/.kube/config. */
  readonly kubeconfigPath?: string;
  /** A ready client (tests). */
  readonly client?: KubeClient;
}

export type StartControllerOptions = ObjectSourceOptions & {
  httpPort: number;
  /** HTTPS listener port; no HTTPS listener when undefined. */
  httpsPort?: number;
  adminPort: number;
  /** `namespace/name` of a kubernetes.io/tls Secret served when no other certificate matches. */
  defaultSslCertificate?: string;
  /** Used until/unless --default-ssl-certificate is valid; generated (self-signed) when absent. */
  fallbackCertificate?: IssuedCertificate;
  /** Strict-Transport-Security on HTTPS responses; false turns it off. */
  hsts?: HstsOptions | false;
  /** `engine` (src/engine, Portico's HTTP/1.1 engine, the default) or `node` (node:http + undici). */
  dataPlane?: 'node' | 'engine';
  /** --max-connections-per-client (engine data plane): open connections per client address; 0 unlimited. Default 1024. */
  maxConnectionsPerClient?: number;
  /** Address to bind; all interfaces when undefined. */
  bindAddress?: string;
  compile: CompileOptions;
  logger: Logger;
  /** Access log destination; defaults to `logger` with `{ log: 'access' }`; false turns it off. */
  accessLog?: Logger | false;
  /** Which fields an access-log line carries (--access-log-fields); default all. */
  accessLogFields?: readonly AccessLogField[];
  /** Rebuild holdoff (ms) after the last change. */
  holdoffMs?: number;
  /**
   * --shutdown-grace-period: shutdown() keeps accepting new connections this long while /readyz
   * answers 503, so load balancers in front stop sending before the listeners close. Default 5 s.
   */
  shutdownGracePeriodMs?: number;
  /** --shutdown-drain-timeout: then in-flight requests get this long before they are cut. Default 25 s. */
  shutdownDrainTimeoutMs?: number;
  /** Waits out the grace period; tests hold it open and release it when they choose. */
  sleep?: (ms: number) => Promise<void>;
};

/** The registry's per-endpoint pool for the engine data plane, which never dispatches through it. */
const NO_UNDICI_POOL = {
  dispatch: () => {
    throw new Error('the engine data plane has no undici pool');
  },
  close: () => Promise.resolve(),
  destroy: () => Promise.resolve(),
} as unknown as UpstreamPool;

export const DEFAULT_SHUTDOWN_GRACE_PERIOD_MS = 5_000;
export const DEFAULT_SHUTDOWN_DRAIN_TIMEOUT_MS = 25_000;

export interface RunningController {
  readonly http: AddressInfo;
  readonly https: AddressInfo | undefined;
  readonly admin: AddressInfo;
  readonly store: ObjectStore;
  readonly controller: Controller;
  readonly sni: SniStore;
  readonly metrics: PorticoMetrics;
  /** Handshake failures by reason since start. */
  readonly handshakeFailures: ReadonlyMap<string, number>;
  readonly source: ManifestSource | undefined;
  readonly kubernetes: KubernetesIntegration | undefined;
  /** True from the moment shutdown() is called. */
  readonly shuttingDown: boolean;
  /**
   * SIGTERM: /readyz answers 503 at once, new connections are still accepted for the grace period,
   * then close() drains. Resolves when everything is closed.
   */
  shutdown(): Promise<void>;
  /** Stops accepting now, lets in-flight requests finish (up to the drain timeout), closes upstream pools, releases the lease. */
  close(): Promise<void>;
}

/**
 * Wires a controller: source → store → controller → (registry, SNI store, proxy), plus the admin
 * server. The admin port comes up first and reports not-ready until the first full configuration is
 * serving. With manifests, this resolves after the first load; with Kubernetes, right after the
 * listeners are up (the API may be down: the source retries, readiness waits).
 */
export async function startController(options: StartControllerOptions): Promise<RunningController> {
  const { logger } = options;
  const host = options.bindAddress ? { host: options.bindAddress } : {};
  const store = new ObjectStore();
  const metrics = new PorticoMetrics();
  // The engine brings its own upstream pools: no undici Pool per endpoint (nor undici loaded at all).
  const plane = options.dataPlane ?? 'engine';
  const backends = new BackendRegistry(plane === 'engine' ? { poolFactory: () => NO_UNDICI_POOL } : {});
  const drainTimeout = options.shutdownDrainTimeoutMs ?? DEFAULT_SHUTDOWN_DRAIN_TIMEOUT_MS;
  const accessLog = options.accessLog !== false ? (options.accessLog ?? logger.child({ log: 'access' })) : undefined;
  const proxy: DataPlane =
    plane === 'engine'
      ? engineDataPlane(
          new EngineServer({
            backends,
            logger,
            observer: metrics,
            ...(options.maxConnectionsPerClient !== undefined && { maxConnectionsPerClient: options.maxConnectionsPerClient }),
            ...(accessLog && { accessLog }),
            ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
            ...(renderHsts(options.hsts ?? DEFAULT_HSTS) !== undefined && { hsts: renderHsts(options.hsts ?? DEFAULT_HSTS)! }),
          }),
          drainTimeout,
        )
      : nodeDataPlane(
          new ProxyServer({
            backends,
            logger,
            observer: metrics,
            drainTimeout,
            // The pools close after the controller stops (below), so no rebuild ever meets a closed registry.
            closeBackends: false,
            ...(accessLog && { accessLog }),
            ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
            ...(options.hsts !== undefined && { hsts: options.hsts }),
          }),
        );
  const sni = new SniStore({ fallbackCertificate: options.fallbackCertificate ?? createDefaultCertificate() });
  const handshakeFailures = new Map<string, number>();
  let refreshDefaultCertificate: () => void = () => undefined;

  let kubernetes: KubernetesIntegration | undefined;
  if (options.kubernetes) {
    const k = options.kubernetes;
    const [{ KubernetesIntegration }, { loadKubeConfig }] = await Promise.all([
      import('../k8s/kubernetes-integration.js'),
      import('../k8s/kube-client.js'),
    ]);
    kubernetes = new KubernetesIntegration({
      ...(k.client ? { client: k.client } : { kubeConfig: loadKubeConfig(k.kubeconfigPath !== undefined ? { kubeconfigPath: k.kubeconfigPath } : {}) }),
      store,
      logger,
      watchNamespace: k.watchNamespace,
      publishService: k.publishService,
      publishStatusAddresses: k.publishStatusAddresses,
      electionId: k.electionId,
      electionNamespace: k.electionNamespace,
      ...(k.identity !== undefined && { identity: k.identity }),
      ...(k.leaderElection && { leaderElection: k.leaderElection }),
      ...(k.backoff && { backoff: k.backoff }),
      ...(k.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: k.watchTimeoutSeconds }),
      onInformerRestart: (kind) => metrics.informerRestarted(kind),
      onLeaderChange: (leader) => metrics.setLeader(leader),
    });
  }
  const integration = kubernetes;
  const controller = new Controller({
    store,
    compile: options.compile,
    routes: proxy,
    backends,
    logger,
    ...(options.holdoffMs !== undefined && { holdoffMs: options.holdoffMs }),
    tls: {
      sink: sni,
      ...(options.defaultSslCertificate !== undefined && { defaultSecret: options.defaultSslCertificate }),
      onDefaultCertificateChange: () => refreshDefaultCertificate(),
    },
    observers: [
      {
        configurationBuilt: (model, changed) => {
          // Endpoint-only builds (the frequent kind) touch neither ownership nor certificates.
          if (changed.routes) metrics.retainIngresses(model.ownedIngresses);
          if (changed.tls) metrics.setCertificates(sni.hosts);
          integration?.routesBuilt(model, { routesChanged: changed.routes });
        },
        rebuilt: (kind, seconds) => {
          metrics.observeRebuild(kind, seconds);
          metrics.setLastSync(Date.now());
        },
      },
    ],
  });
  let shuttingDown: Promise<void> | undefined;
  const admin = new AdminServer({
    readiness: () =>
      shuttingDown
        ? { ready: false, reason: 'shutting down' }
        : controller.ready
          ? { ready: true }
          : { ready: false, reason: 'the first full configuration has not loaded yet' },
    metrics,
    views: {
      '/debug/routes': {
        description: 'The compiled route table: host, path, pathType, backend, Ingress, policy (https redirect, certificate)',
        render: () => buildRoutesView(controller.model),
      },
      '/debug/backends': {
        description: 'Every backend the routes use: its endpoints with state (ready, serving-terminating, not-ready), or why it has none',
        render: () => buildBackendsView(controller.model, (key) => backends.get(key)?.current),
      },
      '/debug/certificates': { description: 'Served certificates by host (SNI)', render: () => sni.hosts },
      '/debug/stats': {
        description: 'Build counters, readiness, leadership, TLS handshake failures by reason',
        render: () => ({ ...controller.stats, ready: controller.ready, leader: integration?.isLeader, handshakeFailures: Object.fromEntries(handshakeFailures) }),
      },
    },
  });
  const source = options.manifestsDir !== undefined ? new ManifestSource({ dir: options.manifestsDir, store, logger }) : undefined;

  const closers: Array<() => Promise<void>> = [];
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      for (const closer of closers.reverse()) await closer().catch(() => undefined);
    })();
    return closed;
  };
  try {
    const adminAddress = await admin.listen({ port: options.adminPort, ...host });
    closers.push(() => admin.close());
    closers.push(() => backends.close());
    controller.start();
    closers.push(async () => controller.stop());
    if (source) {
      await source.start();
      closers.push(() => source.stop());
      controller.markSynced();
    }
    const httpAddress = await proxy.listen({ port: options.httpPort, ...host });
    closers.push(() => proxy.close());
    let httpsAddress: AddressInfo | undefined;
    if (options.httpsPort !== undefined) {
      const https = await listenHttps({
        plane: proxy.tls,
        sni,
        port: options.httpsPort,
        ...host,
        logger,
        onHandshakeFailure: (reason) => {
          handshakeFailures.set(reason, (handshakeFailures.get(reason) ?? 0) + 1);
          metrics.handshakeFailed(reason);
        },
      });
      refreshDefaultCertificate = https.refreshDefaultCertificate;
      refreshDefaultCertificate();
      httpsAddress = https.address;
    }
    if (integration) {
      integration.start();
      // Last in, first out: the lease is released before the listeners close (fast handover).
      closers.push(() => integration.stop());
      void integration.synced.then(() => {
        controller.markSynced();
        logger.info({ ingresses: controller.model?.ownedIngresses.length ?? 0 }, 'initial sync from the Kubernetes API complete; ready');
      });
    }
    logger.info(
      {
        http: httpAddress.port,
        https: httpsAddress?.port,
        admin: adminAddress.port,
        source: source ? `manifests:${options.manifestsDir}` : 'kubernetes',
        ingresses: controller.model?.ownedIngresses.length ?? 0,
      },
      `portico serving http on :${httpAddress.port}${httpsAddress ? `, https on :${httpsAddress.port}` : ''}, admin on :${adminAddress.port}`,
    );
    const gracePeriodMs = options.shutdownGracePeriodMs ?? DEFAULT_SHUTDOWN_GRACE_PERIOD_MS;
    const drainTimeoutMs = options.shutdownDrainTimeoutMs ?? DEFAULT_SHUTDOWN_DRAIN_TIMEOUT_MS;
    const waitGracePeriod = options.sleep ?? ((ms: number) => sleep(ms, undefined, { ref: true }));
    const shutdown = () => {
      shuttingDown ??= (async () => {
        logger.info(
          { phase: 'grace', gracePeriodMs, drainTimeoutMs },
          `shutting down: /readyz answers 503; still accepting connections for ${gracePeriodMs} ms, then draining for up to ${drainTimeoutMs} ms`,
        );
        proxy.endKeepAlive();
        await waitGracePeriod(gracePeriodMs);
        logger.info({ phase: 'drain', drainTimeoutMs }, 'grace period over: listeners closed, draining in-flight requests');
        await close();
        logger.info({ phase: 'closed' }, 'shut down');
      })();
      return shuttingDown;
    };
    return {
      http: httpAddress,
      https: httpsAddress,
      admin: adminAddress,
      sni,
      metrics,
      handshakeFailures,
      store,
      controller,
      source,
      kubernetes: integration,
      get shuttingDown() {
        return shuttingDown !== undefined;
      },
      shutdown,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
