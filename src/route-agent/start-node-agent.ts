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
  /** Tests: fakes. */
  readonly host?: RouteHost;
  readonly nft?: NftRunner;
}

export interface RunningNodeAgent {
  readonly agent: NodeAgent;
  readonly store: ObjectStore;
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
        kinds: ['Node'],
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
  return {
    agent,
    store,
    close: async () => {
      await agent.stop();
      await source?.stop();
    },
  };
}

/** `--cleanup`: the agent's devices, routes, nft tables and its conflist (if still its own). */
export async function cleanupNodeAgent(options: { cniConfDir?: string; logger: Logger; host?: RouteHost; nft?: NftRunner }): Promise<string[]> {
  const runner = new ExecCommandRunner();
  const nft = options.nft ?? new ExecNft({ runner });
  if (!options.host) await checkNodeAgentTools(nft);
  const removed = await cleanupNodeNetwork({ host: options.host ?? new ExecRouteHost({ runner }), nft });
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
