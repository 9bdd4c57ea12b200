import type { AddressInfo } from 'node:net';
import { BackendRegistry } from '../balancer/backend-registry.js';
import type { CompileOptions } from '../compile/index.js';
import type { Logger } from '../lib/logger.js';
import { ProxyServer } from '../proxy/proxy-server.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
import { AdminServer } from './admin-server.js';
import { Controller } from './controller.js';

export interface StartControllerOptions {
  manifestsDir: string;
  httpPort: number;
  adminPort: number;
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
  readonly admin: AddressInfo;
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
  });
  const controller = new Controller({
    store,
    compile: options.compile,
    routes: proxy,
    backends,
    logger,
    ...(options.holdoffMs !== undefined && { holdoffMs: options.holdoffMs }),
  });
  const admin = new AdminServer({
    isReady: () => controller.ready,
    views: { '/debug/stats': () => ({ ...controller.stats, ready: controller.ready }) },
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
    logger.info(
      { http: httpAddress.port, admin: adminAddress.port, manifests: options.manifestsDir, ingresses: controller.model?.ownedIngresses.length ?? 0 },
      `portico serving http on :${httpAddress.port}, admin on :${adminAddress.port}`,
    );
    return { http: httpAddress, admin: adminAddress, store, controller, source, close };
  } catch (error) {
    await close();
    throw error;
  }
}
