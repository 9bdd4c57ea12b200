// Wires `portico service-proxy`: source (manifest directory or Kubernetes API) → store → proxier →
// nft, plus the healthz and metrics listeners and the healthCheckNodePort servers.
import type { AddressInfo } from 'node:net';
import type { IpFamily, IpPrefix } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { ExecCommandRunner } from '../lib/run-command.js';
import { ExecNft } from '../nft/exec-nft.js';
import { SessionNft } from '../nft/session-nft.js';
import { NftError, type NftRunner } from '../nft/runner.js';
import { Transaction } from '../nft/transaction.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
// Types only: the Kubernetes client is imported lazily (manifest mode never loads it).
import type { KubernetesSource } from '../k8s/kubernetes-source.js';
import type { Diagnostic } from '../model/route-model.js';
import { ExecConntrack, type ConntrackCleaner } from './conntrack.js';
import { close, serveEndpoints } from '../lib/http-endpoints.js';
import { HealthCheckServers } from './health-check-servers.js';
import { ServiceProxyMetrics } from './metrics.js';
import { ServiceProxier } from './proxier.js';
import { PROXY_TABLE_NAME, tableFamily } from './ruleset.js';

export interface StartServiceProxyOptions {
  readonly manifestsDir?: string;
  readonly kubeconfigPath?: string;
  readonly nodeName: string;
  readonly clusterCIDRs: readonly IpPrefix[];
  readonly nodePortCIDRs?: readonly IpPrefix[];
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  /** 0 picks a free port; undefined: no listener. */
  readonly healthzPort?: number;
  readonly metricsPort?: number;
  readonly bindAddress?: string;
  readonly logger: Logger;
  /** Tests: a fake nft and conntrack. */
  readonly nft?: NftRunner;
  readonly conntrack?: ConntrackCleaner;
  readonly families?: readonly IpFamily[];
}

export interface RunningServiceProxy {
  readonly proxier: ServiceProxier;
  readonly store: ObjectStore;
  readonly healthz: AddressInfo | undefined;
  readonly metrics: AddressInfo | undefined;
  readonly healthChecks: HealthCheckServers;
  close(): Promise<void>;
}

const FAMILIES: readonly IpFamily[] = [4, 6];

/** Fails fast, with what to do, when nft is missing or we may not use it. */
export async function checkNftUsable(nft: NftRunner): Promise<void> {
  try {
    await nft.listTable({ family: 'ip', name: PROXY_TABLE_NAME });
  } catch (error) {
    if (!(error instanceof NftError)) throw error;
    const hint =
      error.kind === 'unavailable'
        ? 'install nftables (apt-get install nftables)'
        : error.kind === 'permission'
          ? 'run as root (or with CAP_NET_ADMIN)'
          : 'check that nftables works here';
    throw new PorticoError('PORTICO_ERR_SERVICE_PROXY_NFT', `cannot use nft: ${error.message}; ${hint}`, { cause: error });
  }
}

export async function startServiceProxy(options: StartServiceProxyOptions): Promise<RunningServiceProxy> {
  const { logger } = options;
  const runner = new ExecCommandRunner();
  // Partial syncs through one long-lived `nft -i` (its cache survives between syncs).
  const session = options.nft ? undefined : new SessionNft({ runner, timeoutMs: 600_000 });
  const nft = options.nft ?? session!;
  await checkNftUsable(nft);
  const store = new ObjectStore();
  const metrics = new ServiceProxyMetrics();
  const healthChecks = new HealthCheckServers({ logger, ...(options.bindAddress !== undefined && { host: options.bindAddress }) });
  // Kubernetes mode: problems become Warning Events on the object (set once the client exists).
  let onDiagnostic: ((diagnostic: Diagnostic) => void) | undefined;
  const proxier = new ServiceProxier({
    store,
    nft,
    logger,
    nodeName: options.nodeName,
    families: options.families ?? FAMILIES,
    clusterCIDRs: options.clusterCIDRs,
    ...(options.nodePortCIDRs !== undefined && { nodePortCIDRs: options.nodePortCIDRs }),
    minSyncPeriodMs: options.minSyncPeriodMs,
    syncPeriodMs: options.syncPeriodMs,
    conntrack: options.conntrack ?? new ExecConntrack({ runner }),
    healthChecks,
    observer: metrics,
    onDiagnostic: (diagnostic) => onDiagnostic?.(diagnostic),
  });
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const healthz = options.healthzPort !== undefined ? await serveEndpoints(options.healthzPort, options.bindAddress, (path) => healthzReply(path, proxier)) : undefined;
    if (healthz) closers.push(() => close(healthz.server));
    const metricsServer =
      options.metricsPort !== undefined
        ? await serveEndpoints(options.metricsPort, options.bindAddress, async (path) =>
            path === '/metrics' ? { status: 200, type: metrics.contentType, body: await metrics.render() } : { status: 404, type: 'text/plain', body: 'not found\n' },
          )
        : undefined;
    if (metricsServer) closers.push(() => close(metricsServer.server));
    proxier.start();
    closers.push(async () => session?.close());
    closers.push(() => proxier.stop());
    closers.push(() => healthChecks.close());
    let source: { stop(): Promise<void> } | undefined;
    if (options.manifestsDir !== undefined) {
      const manifests = new ManifestSource({ dir: options.manifestsDir, store, logger });
      await manifests.start();
      source = manifests;
      proxier.markSynced();
    } else {
      const [{ KubernetesSource: Source }, { loadKubeConfig }, { EventRecorder, eventForDiagnostic }] = await Promise.all([
        import('../k8s/kubernetes-source.js'),
        import('../k8s/kube-client.js'),
        import('../k8s/event-recorder.js'),
      ]);
      const kube: KubernetesSource = new Source({
        kubeConfig: loadKubeConfig(options.kubeconfigPath !== undefined ? { kubeconfigPath: options.kubeconfigPath } : {}),
        store,
        logger,
        kinds: ['Service', 'EndpointSlice', 'Node'],
      });
      const events = new EventRecorder({ client: kube.client, logger, component: 'portico-service-proxy', instance: options.nodeName });
      events.setEnabled(true); // every node reports what it cannot program (rate-limited per object)
      onDiagnostic = (diagnostic) => events.record(diagnostic.object, eventForDiagnostic(diagnostic));
      kube.start();
      source = kube;
      // Nothing is written before Services and EndpointSlices have listed once.
      void kube.synced.then(() => proxier.markSynced());
    }
    closers.push(() => source.stop());
    logger.info(
      { node: options.nodeName, healthz: healthz?.address.port, metrics: metricsServer?.address.port, source: options.manifestsDir !== undefined ? `manifests:${options.manifestsDir}` : 'kubernetes' },
      `portico service-proxy on node ${options.nodeName}${healthz ? `, healthz on :${healthz.address.port}` : ''}${metricsServer ? `, metrics on :${metricsServer.address.port}` : ''}`,
    );
    return { proxier, store, healthz: healthz?.address, metrics: metricsServer?.address, healthChecks, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function healthzReply(path: string, proxier: ServiceProxier): { status: number; type: string; body: string } {
  if (path !== '/healthz' && path !== '/livez') return { status: 404, type: 'text/plain', body: 'not found\n' };
  const healthy = path === '/livez' || proxier.healthy;
  const lastUpdated = proxier.lastSuccess > 0 ? new Date(proxier.lastSuccess).toISOString() : '';
  return { status: healthy ? 200 : 503, type: 'application/json', body: `${JSON.stringify({ lastUpdated, currentTime: new Date().toISOString() })}\n` };
}


/** `--cleanup`: deletes the proxy's tables (both families); the rest of the ruleset is untouched. */
export async function cleanupServiceProxy(options: { nft?: NftRunner; logger: Logger }): Promise<string[]> {
  const nft = options.nft ?? new ExecNft({ runner: new ExecCommandRunner() });
  await checkNftUsable(nft);
  const removed: string[] = [];
  for (const family of FAMILIES) {
    const table = { family: tableFamily(family), name: PROXY_TABLE_NAME };
    if ((await nft.listTable(table)) === undefined) continue;
    await nft.run(new Transaction(table).deleteTable());
    removed.push(`${table.family} ${table.name}`);
  }
  options.logger.info({ removed }, removed.length > 0 ? `removed nft table(s) ${removed.join(', ')}` : 'nothing to clean up');
  return removed;
}
