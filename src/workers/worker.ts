// A worker's side of `--workers N`: one process that listens on the traffic ports itself
// (SO_REUSEPORT, next to its siblings) and runs the selected data plane, with the configuration the
// primary sends over IPC. It compiles nothing: each snapshot is applied as the controller applies a
// build (certificates, then backends, then routes), to this process's own SNI store, backend
// registry and route table. It has no admin port; the primary answers for it.
import { createBackendRegistry, createDataPlane, listenTraffic, type DataPlane, type DataPlaneKind } from '../data-plane/data-plane.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { PorticoMetrics, REQUEST_METRIC_NAMES, type PorticoMetricsOptions } from '../metrics/metrics.js';
import type { RequestObserver } from '../model/request-observer.js';
import type { BackendEndpoints, RouteModel } from '../model/route-model.js';
import type { AccessLogField } from '../proxy/access-log.js';
import type { HstsOptions } from '../proxy/proxy-server.js';
import { pipelineExtender, RateLimitStore } from '../proxy/policies/pipeline.js';
import { RouteTable } from '../routing/route-table.js';
import { SniStore, type SniCertificate, type SniPlan } from '../tls/sni-store.js';
import { isCertificateRef, parsePrimaryMessage, renderWorkerMessage, type CertificateRef, type ConfigSnapshot, type SnapshotTls, type PrimaryMessage, type WireMetric, type WorkerMessage, type WorkerStart } from './snapshot.js';

export interface SnapshotApplierOptions {
  readonly sni: Pick<SniStore, 'apply'>;
  readonly backends: { sync(next: ReadonlyMap<string, BackendEndpoints>): unknown };
  readonly routes: Pick<DataPlane, 'setRoutes'>;
  /** After a plan that changed the default certificate (the HTTPS listener re-reads it). */
  readonly onDefaultCertificateChange?: () => void;
  /** After new routes are in place (metrics drop the series of deleted Ingresses). */
  readonly onRoutes?: (model: RouteModel) => void;
}

/** Applies snapshots in the controller's order; every part is swapped in one step. */
export class SnapshotApplier {
  readonly #options: SnapshotApplierOptions;
  /** Builds each route's steps; its rate-limit zones outlive snapshots. */
  readonly #extend = pipelineExtender({ rateLimits: new RateLimitStore() });
  /** The last generation applied. */
  generation = 0;
  /** Whether a full snapshot has been applied. */
  configured = false;
  /** The certificates of the last plan applied, by id: later snapshots name them by id alone. */
  #certificates = new Map<string, SniCertificate>();

  constructor(options: SnapshotApplierOptions) {
    this.#options = options;
  }

  apply(snapshot: ConfigSnapshot): void {
    // Everything that can fail is built before anything is swapped: a bad snapshot changes nothing.
    // The same table the controller builds: each route's steps composed from its policies.
    const table = snapshot.routes ? RouteTable.build(snapshot.routes, { extend: this.#extend }) : undefined;
    const endpoints = snapshot.endpoints ? new Map(snapshot.endpoints.map((b) => [b.backend.key, b])) : undefined;
    const tls = snapshot.tls && this.#resolveCertificates(snapshot.tls);
    // Certificates before routes: a host that just gained TLS has its certificate when routed.
    if (tls) {
      if (this.#options.sni.apply(tls.plan).fallbackChanged) this.#options.onDefaultCertificateChange?.();
      this.#certificates = tls.held;
    }
    // Backends before routes, so a new route never points at a backend the registry doesn't know yet.
    if (endpoints) this.#options.backends.sync(endpoints);
    if (table) {
      this.#options.routes.setRoutes(table);
      this.#options.onRoutes?.(snapshot.routes!);
    }
    this.generation = snapshot.generation;
    if (snapshot.full) this.configured = true;
  }

  /** The plan with every `{ id }` replaced by the pair held since an earlier snapshot. */
  #resolveCertificates(tls: SnapshotTls): { plan: SniPlan; held: Map<string, SniCertificate> } {
    const held = new Map<string, SniCertificate>();
    const resolve = (c: SniCertificate | CertificateRef, where: string): SniCertificate => {
      const certificate = isCertificateRef(c) ? this.#certificates.get(c.id) : c;
      if (certificate === undefined) throw new PorticoError('PORTICO_ERR_WORKER_MESSAGE', `config.tls.${where}: certificate ${c.id.slice(0, 12)}… is named by id but this worker never got it`);
      held.set(certificate.id, certificate);
      return certificate;
    };
    const certificates = new Map([...tls.certificates].map(([secret, c]) => [secret, resolve(c, `certificates[${JSON.stringify(secret)}]`)] as const));
    const plan: SniPlan = { hosts: tls.hosts, certificates, ...(tls.defaultCertificate && { defaultCertificate: resolve(tls.defaultCertificate, 'defaultCertificate') }) };
    return { plan, held };
  }
}

/**
 * The parts of the primary's registry that are per request, so summed over the workers (Portico's
 * and, with --metrics-compat nginx, ingress-nginx's). Build, configuration, leader and certificate
 * metrics are the primary's alone.
 */
const WORKER_METRICS = new Set([...REQUEST_METRIC_NAMES, 'portico_tls_handshake_failures_total']);

export function isWorkerMetric(name: string): boolean {
  return (!name.startsWith('portico_') && !name.startsWith('nginx_ingress_controller_')) || WORKER_METRICS.has(name);
}

/** The IPC channel to the primary (process itself in a forked worker). */
export interface WorkerChannel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

export interface StartWorkerOptions {
  /** 0-based; in every log line as `worker`. */
  readonly id: number;
  readonly channel: WorkerChannel;
  readonly logger: Logger;
  readonly dataPlane?: DataPlaneKind;
  readonly maxConnectionsPerClient?: number;
  readonly maxBodySize?: number;
  /** HTTP/2 to clients (--http2); default on. */
  readonly http2?: boolean;
  readonly bindAddress?: string;
  readonly accessLog?: Logger | false;
  readonly accessLogFields?: readonly AccessLogField[];
  readonly hsts?: HstsOptions | false;
  /** The request metrics' options (--metrics-compat, the controller labels): the primary's, so the summed series match. */
  readonly metrics?: Pick<PorticoMetricsOptions, 'compat' | 'controller'>;
  readonly shutdownGracePeriodMs: number;
  readonly shutdownDrainTimeoutMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** process.exit: after a shutdown the primary asked for, or when the primary is gone. */
  readonly exit: (code: number) => void;
}

export interface RunningWorker {
  /** The SIGTERM sequence: Connection: close for the grace period, then the drain. */
  shutdown(): Promise<void>;
  /** The drain alone. */
  close(): Promise<void>;
}

/** Waits for the primary's start message, listens, and applies what the primary sends from then on. */
export async function runWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const logger = options.logger.child({ worker: options.id });
  const send = (message: WorkerMessage) => {
    try {
      options.channel.send(renderWorkerMessage(message));
    } catch {
      // The primary is gone; 'disconnect' shuts us down.
    }
  };
  let onStart: (start: WorkerStart) => void = () => undefined;
  const started = new Promise<WorkerStart>((resolve) => (onStart = resolve));
  // Messages that arrive while this worker is still setting up (the full configuration follows the
  // start message at once) wait here until the handler below exists.
  const early: PrimaryMessage[] = [];
  let onMessage: (message: PrimaryMessage) => void = (message) => early.push(message);
  // Gone before it said where to listen: nothing to drain.
  let onGone: () => void = () => options.exit(0);
  options.channel.on('message', (raw) => {
    let message: PrimaryMessage;
    try {
      message = parsePrimaryMessage(raw);
    } catch (error) {
      logger.error({ code: (error as PorticoError).code, err: (error as Error).message }, (error as Error).message);
      // A configuration this worker cannot read leaves it serving something else than its siblings:
      // exit, and the primary restarts it with the full configuration.
      if ((raw as { type?: unknown } | undefined)?.type === 'config') options.exit(1);
      return;
    }
    if (message.type === 'start') onStart(message);
    else onMessage(message);
  });
  options.channel.on('disconnect', () => onGone());

  const start = await started;
  const metrics = new PorticoMetrics(options.metrics);
  let requests = 0;
  const observer: RequestObserver = {
    observeRequest(match, status, seconds, upstreamSeconds, method, requestBytes, responseBytes) {
      requests++;
      metrics.observeRequest(match, status, seconds, upstreamSeconds, method, requestBytes, responseBytes);
    },
  };
  const backends = createBackendRegistry(options.dataPlane);
  const accessLog = options.accessLog !== false ? (options.accessLog ?? logger.child({ log: 'access' })) : undefined;
  const plane = createDataPlane({
    ...(options.dataPlane !== undefined && { dataPlane: options.dataPlane }),
    backends,
    logger,
    observer,
    drainTimeoutMs: options.shutdownDrainTimeoutMs,
    ...(options.maxConnectionsPerClient !== undefined && { maxConnectionsPerClient: options.maxConnectionsPerClient }),
    ...(options.maxBodySize !== undefined && { maxBodySize: options.maxBodySize }),
    ...(options.http2 !== undefined && { http2: options.http2 }),
    ...(accessLog && { accessLog }),
    ...(options.accessLogFields && { accessLogFields: options.accessLogFields }),
    ...(options.hsts !== undefined && { hsts: options.hsts }),
  });
  const sni = new SniStore({ fallbackCertificate: start.fallbackCertificate, ticketKeys: start.ticketKeys });
  let refreshDefaultCertificate = () => undefined as void;
  const applier = new SnapshotApplier({
    sni,
    backends,
    routes: plane,
    onDefaultCertificateChange: () => refreshDefaultCertificate(),
    onRoutes: (model) => metrics.retainIngresses(model.ownedIngresses),
  });
  const handshakeFailures = new Map<string, number>();
  let configured: () => void = () => undefined;
  const firstConfig = new Promise<void>((resolve) => (configured = resolve));

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await plane.close().catch(() => undefined);
      await backends.close().catch(() => undefined);
    })();
    return closed;
  };
  let shuttingDown: Promise<void> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      logger.info({ phase: 'grace', gracePeriodMs: options.shutdownGracePeriodMs }, `worker ${options.id}: shutting down, still accepting for ${options.shutdownGracePeriodMs} ms`);
      plane.endKeepAlive();
      await (options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))))(options.shutdownGracePeriodMs);
      logger.info({ phase: 'drain' }, `worker ${options.id}: listeners closed, draining`);
      await close();
      logger.info({ phase: 'closed' }, `worker ${options.id}: shut down`);
    })();
    return shuttingDown;
  };

  onMessage = (message) => {
    switch (message.type) {
      case 'config':
        try {
          const started = performance.now();
          applier.apply(message);
          logger.debug({ generation: message.generation, full: message.full, routes: message.routes !== undefined, tls: message.tls !== undefined, endpoints: message.endpoints !== undefined, ms: Number((performance.now() - started).toFixed(2)) }, `worker ${options.id}: configuration ${message.generation} applied`);
        } catch (error) {
          logger.error({ err: error as Error, generation: message.generation }, `worker ${options.id}: could not apply configuration ${message.generation}; exiting to be restarted with the full configuration`);
          options.exit(1);
          return;
        }
        send({ type: 'applied', generation: message.generation });
        if (applier.configured) configured();
        break;
      case 'collect':
        void metrics.registry.getMetricsAsJSON().then((all) =>
          send({
            type: 'report',
            id: message.id,
            requests,
            handshakeFailures: Object.fromEntries(handshakeFailures),
            metrics: (all as unknown as WireMetric[]).filter((metric) => isWorkerMetric(metric.name)),
          }),
        );
        break;
      case 'shutdown':
        void (message.grace ? shutdown() : close()).then(() => options.exit(0));
        break;
    }
  };
  for (const message of early.splice(0)) onMessage(message);
  // The primary is gone (killed, crashed): no orphans holding the ports. In-flight requests still
  // get the drain.
  onGone = () => {
    logger.warn(`worker ${options.id}: the primary is gone; draining and exiting`);
    void close().then(() => options.exit(0));
  };

  if (start.waitForConfig) await firstConfig;
  try {
    const listeners = await listenTraffic({
      plane,
      sni,
      httpPort: start.http,
      ...(start.https !== undefined && { httpsPort: start.https }),
      ...(options.bindAddress !== undefined && { host: options.bindAddress }),
      reusePort: true,
      logger,
      onHandshakeFailure: (reason) => {
        handshakeFailures.set(reason, (handshakeFailures.get(reason) ?? 0) + 1);
        metrics.handshakeFailed(reason);
      },
    });
    refreshDefaultCertificate = listeners.refreshDefaultCertificate;
    logger.info({ http: listeners.http.port, https: listeners.https?.port, pid: process.pid }, `worker ${options.id} (pid ${process.pid}) listening`);
    send({ type: 'listening', http: listeners.http.port, ...(listeners.https && { https: listeners.https.port }) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    send({ type: 'failed', message: (error as Error).message, ...(code !== undefined && { code }) });
    await close();
    throw error;
  }
  return { shutdown, close };
}

/** Worker processes carry their slot number here (set by the primary's fork). */
export const WORKER_ID_ENV = 'PORTICO_WORKER_ID';

/** This process's worker id when it is a worker (forked by a primary, with an IPC channel). */
export function workerIdOf(env: NodeJS.ProcessEnv, hasChannel: boolean): number | undefined {
  const raw = env[WORKER_ID_ENV];
  if (raw === undefined || !hasChannel || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

