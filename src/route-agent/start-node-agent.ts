// Wires `portico node-agent`: source (manifest directory or Kubernetes API) → store → NodeAgent →
// iproute2 and nft, plus the conflist in --cni-conf-dir.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { installConflist } from '../cni/install.js';
import type { IpPrefix } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { ExecCommandRunner } from '../lib/run-command.js';
import { missingTools } from '../host/tools.js';
import { ExecNft } from '../nft/exec-nft.js';
import { NftError, type NftRunner } from '../nft/runner.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
// Types only: the Kubernetes client is imported lazily (manifest mode never loads it).
import type { KubernetesSource } from '../k8s/kubernetes-source.js';
import type { Diagnostic } from '../model/route-model.js';
import { CONFLIST_FILE } from './cni-conflist.js';
import { ExecRouteHost } from './exec-route-host.js';
import { masqueradeTable } from './masquerade.js';
import { cleanupNodeNetwork, NodeAgent } from './node-agent.js';
import type { RouteAgentMode } from './plan.js';
import type { RouteHost } from './route-host.js';
import { formatIp } from '../lib/cidr.js';
import { loadHeartbeatSecret } from '../lb-announce/heartbeat.js';
import { underlaySubnets } from '../lb-announce/lb-announcer.js';
import { cleanupLoadBalancerAnnouncement, startLoadBalancerAnnouncement, type RunningAnnouncement } from '../lb-announce/start-lb-announce.js';

export interface StartNodeAgentOptions {
  readonly manifestsDir?: string;
  readonly kubeconfigPath?: string;
  readonly nodeName: string;
  readonly mode: RouteAgentMode;
  readonly iface?: string;
  readonly clusterCIDRs: readonly IpPrefix[];
  /** undefined: no conflist is written. */
  readonly cniConfDir?: string;
  readonly vni: number;
  readonly port: number;
  readonly syncPeriodMs: number;
  readonly logger: Logger;
  /** LoadBalancer announcement (L2); undefined: off. */
  readonly announce?: { readonly port: number; readonly secretFile?: string };
  /** Tests: fakes. */
  readonly host?: RouteHost;
  readonly nft?: NftRunner;
}

export interface RunningNodeAgent {
  readonly agent: NodeAgent;
  readonly store: ObjectStore;
  /** The LoadBalancer announcement once it runs (it starts when the node's interface is known). */
  announcement(): RunningAnnouncement | undefined;
  /** SIGTERM: stops watching; routes, devices and tables stay (pods keep talking). */
  close(): Promise<void>;
}

/** Fails fast, with what to do, when ip, bridge or nft is missing or not permitted. */
export async function checkNodeAgentTools(nft: NftRunner): Promise<void> {
  const missing = await missingTools(['ip', 'bridge', 'nft'], process.env['PATH']);
  if (missing.length > 0) {
    throw new PorticoError('PORTICO_ERR_NODE_AGENT_TOOLS', `cannot find ${missing.join(', ')} in PATH; install iproute2 and nftables (apt-get install iproute2 nftables)`);
  }
  // Not being root is not fatal by itself (CAP_NET_ADMIN may be granted): nft tells.
  try {
    await nft.listTable(masqueradeTable(4));
  } catch (error) {
    if (!(error instanceof NftError)) throw error;
    const hint = error.kind === 'permission' ? 'run as root (or with CAP_NET_ADMIN)' : 'check that nftables works here';
    throw new PorticoError('PORTICO_ERR_NODE_AGENT_TOOLS', `cannot use nft: ${error.message}; ${hint}`, { cause: error });
  }
}

export async function startNodeAgent(options: StartNodeAgentOptions): Promise<RunningNodeAgent> {
  const { logger } = options;
  const runner = new ExecCommandRunner();
  const nft = options.nft ?? new ExecNft({ runner });
  if (!options.host) await checkNodeAgentTools(nft);
  const host = options.host ?? new ExecRouteHost({ runner });
  const store = new ObjectStore();
  let onDiagnostic: ((diagnostic: Diagnostic) => void) | undefined;
  const confDir = options.cniConfDir;
  const agent = new NodeAgent({
    store,
    host,
    nft,
    logger,
    nodeName: options.nodeName,
    mode: options.mode,
    ...(options.iface !== undefined && { iface: options.iface }),
    clusterCIDRs: options.clusterCIDRs,
    vni: options.vni,
    port: options.port,
    syncPeriodMs: options.syncPeriodMs,
    ...(confDir !== undefined && {
      writeConflist: async (content: string) => {
        await installConflist({ confDir, fileName: CONFLIST_FILE, content, log: (message) => logger.info({ conflist: join(confDir, CONFLIST_FILE) }, message) });
      },
    }),
    onDiagnostic: (diagnostic) => onDiagnostic?.(diagnostic),
  });
  let source: { stop(): Promise<void> } | undefined;
  try {
    if (options.manifestsDir !== undefined) {
      const manifests = new ManifestSource({ dir: options.manifestsDir, store, logger });
      await manifests.start();
      source = manifests;
      agent.markSynced();
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
        kinds: options.announce ? ['Node', 'Service', 'EndpointSlice'] : ['Node'],
      });
      const events = new EventRecorder({ client: kube.client, logger, component: 'portico-node-agent', instance: options.nodeName });
      events.setEnabled(true);
      onDiagnostic = (diagnostic) => events.record(diagnostic.object, eventForDiagnostic(diagnostic));
      kube.start();
      source = kube;
      void kube.synced.then(() => agent.markSynced());
    }
  } catch (error) {
    await agent.stop();
    throw error;
  }
  logger.info(
    { node: options.nodeName, mode: options.mode, source: options.manifestsDir !== undefined ? `manifests:${options.manifestsDir}` : 'kubernetes' },
    `portico node-agent on node ${options.nodeName} (${options.mode})`,
  );
  let announcement: RunningAnnouncement | undefined;
  // Closing aborts a start still waiting for the source or a pass (an API server that never lists
  // must not keep SIGTERM waiting).
  const abort = new AbortController();
  const aborted = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  const announcing = options.announce
    ? startAnnouncementWhenReady({ agent, store, logger, nodeName: options.nodeName, announce: options.announce, aborted, isAborted: () => abort.signal.aborted, synced: sourceSynced(source) })
    : Promise.resolve(undefined);
  void announcing.then(
    (running) => (announcement = running),
    (error) => logger.error({ err: error, code: error instanceof PorticoError ? error.code : undefined }, `LoadBalancer announcement stopped: ${(error as Error).message}`),
  );
  return {
    agent,
    store,
    announcement: () => announcement,
    close: async () => {
      abort.abort();
      // Announcements go at once (another node takes over); routes and devices stay.
      await (await announcing.catch(() => undefined))?.stop();
      await agent.stop();
      await source?.stop();
    },
  };
}

function sourceSynced(source: { stop(): Promise<void> } | undefined): Promise<void> {
  const synced = (source as { synced?: Promise<void> } | undefined)?.synced;
  return synced ?? Promise.resolve();
}

/**
 * Starts the L2 announcement once the agent knows this node's interface and InternalIPs (after a
 * pass), the source having listed everything once.
 */
async function startAnnouncementWhenReady(options: {
  agent: NodeAgent;
  store: ObjectStore;
  logger: Logger;
  nodeName: string;
  announce: { port: number; secretFile?: string };
  aborted: Promise<void>;
  isAborted: () => boolean;
  synced: Promise<void>;
}): Promise<RunningAnnouncement | undefined> {
  const secret = options.announce.secretFile !== undefined ? await loadHeartbeatSecret(options.announce.secretFile) : undefined;
  await Promise.race([options.synced, options.aborted]);
  for (;;) {
    const { iface, self } = options.agent.status;
    if (iface && self) {
      if (options.isAborted()) return undefined;
      const running = await startLoadBalancerAnnouncement({
        store: options.store,
        nodeName: options.nodeName,
        iface: iface.name,
        nodeAddresses: underlaySubnets(iface.addresses, [...self.addresses.values()].map(formatIp)),
        port: options.announce.port,
        secret,
        logger: options.logger,
      });
      running.markSynced();
      return running;
    }
    if (options.isAborted()) return undefined;
    await Promise.race([options.agent.nextPass(), options.aborted]);
  }
}

/** `--cleanup`: the agent's devices, routes, nft tables and its conflist (if still its own). */
export async function cleanupNodeAgent(options: { cniConfDir?: string; logger: Logger; host?: RouteHost; nft?: NftRunner }): Promise<string[]> {
  const runner = new ExecCommandRunner();
  const nft = options.nft ?? new ExecNft({ runner });
  if (!options.host) await checkNodeAgentTools(nft);
  const host = options.host ?? new ExecRouteHost({ runner });
  const removed = await cleanupNodeNetwork({ host, nft });
  if (!options.host) {
    // The announcement's holder link and tagged proxy-NDP entries, on whichever interface has them.
    for (const iface of await host.interfaces()) {
      const gone = await cleanupLoadBalancerAnnouncement({ iface: iface.name, logger: options.logger }).catch(() => ({ link: false, proxies: [] as string[] }));
      if (gone.link && !removed.includes('remove holder link')) removed.push('remove holder link');
      removed.push(...gone.proxies.map((p) => `remove proxy neighbour ${p} on ${iface.name}`));
    }
  }
  if (options.cniConfDir !== undefined) {
    const path = join(options.cniConfDir, CONFLIST_FILE);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined && isOwnConflist(text)) {
      await rm(path, { force: true });
      removed.push(`remove ${path}`);
    }
  }
  options.logger.info({ removed }, removed.length > 0 ? `removed ${removed.length} item(s)` : 'nothing to clean up');
  return removed;
}

function isOwnConflist(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as { name?: unknown; plugins?: Array<{ type?: unknown }> };
    return parsed.name === 'portico' && parsed.plugins?.[0]?.type === 'portico-cni';
  } catch {
    return false;
  }
}
