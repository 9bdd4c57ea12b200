import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CompileOptions } from '../compile/index.js';
// Types only: the Kubernetes client (@kubernetes/client-node, ~60 MB resident) is imported lazily,
// so --manifests mode never loads it.
import type { KubeClient } from '../k8s/kube-client.js';
import type { KubernetesIntegration, KubernetesIntegrationOptions } from '../k8s/kubernetes-integration.js';
import type { Logger } from '../lib/logger.js';
import { controllerLabels, PorticoMetrics, type MetricsCompat } from '../metrics/metrics.js';
import type { AccessLogField } from '../proxy/access-log.js';
import type { HstsOptions } from '../proxy/proxy-server.js';
import { WorkerPool, type WorkerPoolOptions } from '../workers/primary.js';
import { createBackendRegistry, createDataPlane, listenTraffic, type DataPlane } from '../data-plane/data-plane.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
import { createDefaultCertificate, type IssuedCertificate } from '../tls/certificate-factory.js';
import { SniStore } from '../tls/sni-store.js';
import { newTicketKeys } from '../tls/tls-settings.js';
import { AdminServer } from './admin-server.js';
import { buildBackendsView, buildRoutesView } from './debug-views.js';
import { Controller } from './controller.js';

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
  /** --proxy-body-size, bytes (0: none): the request body limit where a route sets none. Default 1 MiB, as ingress-nginx. */
  maxBodySize?: number;
  /** --http2: HTTP/2 to clients on the engine data plane (ALPN h2, h2c prior knowledge). Default true. */
  http2?: boolean;
  /** --metrics-compat: also export ingress-nginx's nginx_ingress_controller_* metrics ('nginx') or not ('none', the default: they record every request a second time, see README). */
  metricsCompat?: MetricsCompat;
  /** Address to bind; all interfaces when undefined. */
  bindAddress?: string;
  compile: CompileOptions;
  logger: Logger;
  /** Access log destination; defaults to `logger` with `{ log: 'access' }`; false turns it off. */
  accessLog?: Logger | false;
  /** Which fields an access-log line carries (--access-log-fields); default all. */
  accessLogFields?: readonly AccessLogField[];
  /** Rebuild holdoff (ms) after the last change; default 10 ms, MANIFEST_HOLDOFF_MS with manifestsDir. */
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
  /**
   * --workers N: with N ≥ 2 this process becomes the primary (source, compile, admin, leader
   * election) and `fork` starts N worker processes that listen on the traffic ports themselves.
   */
  workers?: Pick<WorkerPoolOptions, 'count' | 'fork' | 'backoff' | 'timers'>;
};

export const DEFAULT_SHUTDOWN_GRACE_PERIOD_MS = 5_000;
/**
 * The manifest source debounces file events itself and applies each batch of files in one pass, so
 * the rebuild holdoff only has to gather that pass (and the settle re-reads right after it); the API
 * source's watch events arrive one by one and keep the 10 ms quiet period.
 */
export const MANIFEST_HOLDOFF_MS = 2;
/** ingress-nginx's proxy-body-size default. */
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;
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
  /** The worker processes (`--workers N`, N ≥ 2); undefined when this process serves traffic itself. */
  readonly workers: WorkerPool | undefined;
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
  // The workers make theirs from the same flags and environment (metricsOptionsOf): the summed series match.
  const metrics = new PorticoMetrics(metricsOptionsOf(options.metricsCompat, options.compile.controllerClass));
  // --workers N ≥ 2: this process is the primary. It builds the configuration and broadcasts it; the
  // workers it forks listen and proxy (src/workers). Otherwise it serves traffic itself.
  const pool = options.workers && options.workers.count >= 2 ? options.workers : undefined;
  // A primary dispatches nothing, so it never needs undici's pools either.
  const backends = createBackendRegistry(pool ? 'engine' : options.dataPlane);
  const drainTimeout = options.shutdownDrainTimeoutMs ?? DEFAULT_SHUTDOWN_DRAIN_TIMEOUT_MS;
  const accessLog = options.accessLog !== false ? (options.accessLog ?? logger.child({ log: 'access' })) : undefined;
  const proxy: DataPlane | undefined = pool
    ? undefined
    : createDataPlane({
        ...(options.dataPlane !== undefined && { dataPlane: options.dataPlane }),
        backends,
        logger,
        observer: metrics,
        drainTimeoutMs: drainTimeout,
        ...(options.maxConnectionsPerClient !== undefined && { maxConnectionsPerClient: options.maxConnectionsPerClient }),
        maxBodySize: options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
        ...(options.http2 !== undefined && { http2: options.http2 }),
        ...(accessLog && { accessLog }),
        ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
        ...(options.hsts !== undefined && { hsts: options.hsts }),
      });
  const fallbackCertificate = options.fallbackCertificate ?? createDefaultCertificate();
  const ticketKeys = newTicketKeys();
  const sni = new SniStore({ fallbackCertificate, ticketKeys });
  const workers = pool
    ? new WorkerPool({
        count: pool.count,
        fork: pool.fork,
        logger,
        fallbackCertificate,
        ticketKeys,
        ports: { http: options.httpPort, ...(options.httpsPort !== undefined && { https: options.httpsPort }) },
        ...(pool.backoff && { backoff: pool.backoff }),
        ...(pool.timers && { timers: pool.timers }),
        // A worker gets grace + drain to finish; after that (and a margin) it is killed.
        killAfterMs: (options.shutdownGracePeriodMs ?? DEFAULT_SHUTDOWN_GRACE_PERIOD_MS) + drainTimeout + 5_000,
        metrics: metrics.registry,
      })
    : undefined;
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
      ...(options.compile.configMap !== undefined && { configMap: options.compile.configMap }),
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
  const holdoffMs = options.holdoffMs ?? (options.manifestsDir !== undefined ? MANIFEST_HOLDOFF_MS : undefined);
  const controller = new Controller({
    store,
    compile: options.compile,
    routes: workers ?? proxy!,
    backends: workers ?? backends,
    logger,
    ...(holdoffMs !== undefined && { holdoffMs }),
    tls: {
      // The primary keeps its own SNI store too: /debug/certificates, the expiry metrics, and whether
      // the default certificate changed come from it; the workers get the plan.
      sink: workers
        ? {
            apply: (plan) => {
              const result = sni.apply(plan);
              workers.tlsApplied(plan);
              return result;
            },
          }
        : sni,
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
          // One snapshot per build, with what it recompiled, to every worker.
          workers?.configurationBuilt(model, changed);
        },
        rebuilt: (kind, seconds) => {
          metrics.observeRebuild(kind, seconds);
          metrics.setLastSync(Date.now());
          // A routes or TLS build is what ingress-nginx calls a reload (endpoints are its dynamic update).
          if (kind !== 'endpoints') metrics.configurationApplied(controller.configHash);
        },
        rebuildFailed: () => metrics.configurationFailed(),
      },
    ],
  });
  let shuttingDown: Promise<void> | undefined;
  const admin = new AdminServer({
    readiness: () =>
      shuttingDown
        ? { ready: false, reason: 'shutting down' }
        : !controller.ready
          ? { ready: false, reason: 'the first full configuration has not loaded yet' }
          : (workers?.readiness() ?? { ready: true }),
    metrics: workers ? { contentType: metrics.contentType, render: () => workers.renderMetrics() } : metrics,
    views: {
      '/debug/routes': {
        description: 'The compiled route table: host, path, pathType, backend, Ingress, policy (https redirect, certificate)',
        render: () => buildRoutesView(controller.model),
      },
      '/debug/backends': {
        description: 'Every backend the routes use: its endpoints with state (ready, serving-terminating, not-ready), or why it has none',
        render: () => buildBackendsView(controller.model, (key) => (workers ? workers.endpoints.get(key) : backends.get(key)?.current)),
      },
      '/debug/certificates': { description: 'Served certificates by host (SNI)', render: () => sni.hosts },
      '/debug/stats': {
        description: 'Build counters, readiness, leadership, TLS handshake failures by reason',
        render: async () => {
          const base = { ...controller.stats, ready: controller.ready, leader: integration?.isLeader };
          if (!workers) return { ...base, handshakeFailures: Object.fromEntries(handshakeFailures) };
          // Every worker's identity and counters (asked over IPC), and the handshake failures of all.
          const stats = await workers.stats();
          return { ...base, handshakeFailures: stats.handshakeFailures, workers: stats.workers };
        },
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
    let httpAddress: AddressInfo;
    let httpsAddress: AddressInfo | undefined;
    if (workers) {
      closers.push(() => workers.close());
      ({ http: httpAddress, https: httpsAddress } = await workers.start());
    } else {
      const plane = proxy!;
      closers.push(() => plane.close());
      const listeners = await listenTraffic({
        plane,
        sni,
        httpPort: options.httpPort,
        ...(options.httpsPort !== undefined && { httpsPort: options.httpsPort }),
        ...host,
        logger,
        onHandshakeFailure: (reason) => {
          handshakeFailures.set(reason, (handshakeFailures.get(reason) ?? 0) + 1);
          metrics.handshakeFailed(reason);
        },
      });
      refreshDefaultCertificate = listeners.refreshDefaultCertificate;
      httpAddress = listeners.http;
      httpsAddress = listeners.https;
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
        ...(workers && { workers: workers.count }),
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
        if (workers) {
          // Each worker runs the grace period and the drain itself; the primary waits for all of them.
          await workers.shutdown();
          logger.info({ phase: 'drain', drainTimeoutMs }, 'every worker has drained and exited');
        } else {
          proxy!.endKeepAlive();
          await waitGracePeriod(gracePeriodMs);
          logger.info({ phase: 'drain', drainTimeoutMs }, 'grace period over: listeners closed, draining in-flight requests');
        }
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
      workers,
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

/** The request metrics' options from --metrics-compat and --controller-class (the primary's and every worker's). */
export function metricsOptionsOf(compat: MetricsCompat | undefined, controllerClass: string): { compat: MetricsCompat; controller: ReturnType<typeof controllerLabels> } {
  return { compat: compat ?? 'none', controller: controllerLabels(controllerClass) };
}
