import type { AddressInfo } from 'node:net';
import { BackendRegistry } from '../balancer/backend-registry.js';
import type { CompileOptions } from '../compile/index.js';
import type { Logger } from '../lib/logger.js';
import { ProxyServer, type HstsOptions } from '../proxy/proxy-server.js';
import { createDefaultCertificate, type IssuedCertificate } from '../tls/certificate-factory.js';
import { SniStore } from '../tls/sni-store.js';
import { listenHttps } from './https-listener.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
import { AdminServer } from './admin-server.js';
import { Controller } from './controller.js';

export interface StartControllerOptions {
  manifestsDir: string;
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
  /** Address to bind; all interfaces when undefined. */
  bindAddress?: string;
  compile: CompileOptions;
  logger: Logger;
  /** Access log destination; defaults to `logger` with `{ log: 'access' }`. */
  accessLog?: Logger;
  /** Rebuild holdoff (ms) after the last change. */
  holdoffMs?: number;
}

export interface RunningController {
  readonly http: AddressInfo;
  readonly https: AddressInfo | undefined;
  readonly admin: AddressInfo;
  readonly sni: SniStore;
  /** Handshake failures by reason since start. */
  readonly handshakeFailures: ReadonlyMap<string, number>;
  readonly store: ObjectStore;
  readonly controller: Controller;
  readonly source: ManifestSource;
  /** Stops accepting, lets in-flight requests finish, closes upstream pools. */
  close(): Promise<void>;
}

/**
 * Wires a manifest-fed controller: source → store → controller → (registry, proxy).
 * The admin port comes up first and reports not-ready until the first full load is serving.
 */
export async function startController(options: StartControllerOptions): Promise<RunningController> {
  const { logger } = options;
  const store = new ObjectStore();
  const backends = new BackendRegistry({});
  const proxy = new ProxyServer({
    backends,
    logger,
    accessLog: options.accessLog ?? logger.child({ log: 'access' }),
    ...(options.hsts !== undefined && { hsts: options.hsts }),
  });
  const sni = new SniStore({ fallbackCertificate: options.fallbackCertificate ?? createDefaultCertificate() });
  const handshakeFailures = new Map<string, number>();
  let refreshDefaultCertificate: () => void = () => undefined;
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
  });
  const admin = new AdminServer({
    isReady: () => controller.ready,
    views: {
      '/debug/stats': () => ({ ...controller.stats, ready: controller.ready, handshakeFailures: Object.fromEntries(handshakeFailures) }),
      '/debug/certificates': () => sni.hosts,
    },
  });
  const source = new ManifestSource({ dir: options.manifestsDir, store, logger });
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const adminAddress = await admin.listen({ port: options.adminPort, ...(options.bindAddress && { host: options.bindAddress }) });
    closers.push(() => admin.close());
    controller.start();
    closers.push(async () => controller.stop());
    await source.start();
    closers.push(() => source.stop());
    controller.markSynced();
    const httpAddress = await proxy.listen({ port: options.httpPort, ...(options.bindAddress && { host: options.bindAddress }) });
    closers.push(() => proxy.close());
    let httpsAddress: AddressInfo | undefined;
    if (options.httpsPort !== undefined) {
      const https = await listenHttps({
        proxy,
        sni,
        port: options.httpsPort,
        ...(options.bindAddress && { host: options.bindAddress }),
        logger,
        onHandshakeFailure: (reason) => handshakeFailures.set(reason, (handshakeFailures.get(reason) ?? 0) + 1),
      });
      refreshDefaultCertificate = https.refreshDefaultCertificate;
      refreshDefaultCertificate();
      httpsAddress = https.address;
    }
    logger.info(
      { http: httpAddress.port, https: httpsAddress?.port, admin: adminAddress.port, manifests: options.manifestsDir, ingresses: controller.model?.ownedIngresses.length ?? 0 },
      `portico serving http on :${httpAddress.port}${httpsAddress ? `, https on :${httpsAddress.port}` : ''}, admin on :${adminAddress.port}`,
    );
    return { http: httpAddress, https: httpsAddress, admin: adminAddress, sni, handshakeFailures, store, controller, source, close };
  } catch (error) {
    await close();
    throw error;
  }
}
