import { hostname } from 'node:os';
import { maskedPrefix, parseCidr, type IpPrefix } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { cleanupServiceProxy, startServiceProxy, type RunningServiceProxy } from '../service-proxy/start-service-proxy.js';
import { parseDurationFlag, parseFlags, type FlagSpec } from './flags.js';

/** Flag names follow kube-proxy's. */
export const SERVICE_PROXY_FLAGS = {
  manifests: { type: 'string', description: 'Read Services, EndpointSlices and Nodes from a directory of manifests (watched) instead of the Kubernetes API' },
  kubeconfig: { type: 'string', description: 'kubeconfig file for the Kubernetes API (default: in-cluster config, else KUBECONFIG or ~/.kube/config)' },
  'node-name': { type: 'string', description: 'This node: endpoints with this nodeName are local (default: $NODE_NAME, else the hostname)' },
  'cluster-cidr': { type: 'string', description: 'Comma-separated pod CIDRs: off-cluster sources reaching a ClusterIP are masqueraded; pods reaching an externalTrafficPolicy Local Service by its external address are sent cluster-wide' },
  'nodeport-addresses': { type: 'string', description: 'Comma-separated CIDRs: NodePorts answer on the local addresses inside them (default: every local address but loopback)' },
  'min-sync-period': { type: 'string', default: '1s', description: 'At most one sync of the rules per this period' },
  'sync-period': { type: 'string', default: '30s', description: 'Full resync period, and the retry delay after a failed sync' },
  'healthz-port': { type: 'port', default: 10256, description: '/healthz: 200 once the first sync is applied (0 picks a free port)' },
  'metrics-port': { type: 'port', default: 10249, description: '/metrics: Prometheus text (sync durations, last sync, rule and element counts, failures)' },
  'bind-address': { type: 'string', description: 'Address the healthz, metrics and healthCheckNodePort listeners bind to (default: all)' },
  cleanup: { type: 'boolean', description: 'Remove the nft tables this proxy created and exit' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

export async function runServiceProxyCommand(argv: readonly string[]): Promise<RunningServiceProxy | { close(): Promise<void>; done: true }> {
  const flags = parseFlags(argv, SERVICE_PROXY_FLAGS);
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  if (flags.cleanup) {
    await cleanupServiceProxy({ logger });
    return { close: async () => undefined, done: true };
  }
  if (flags.manifests !== undefined && flags.kubeconfig !== undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--manifests and --kubeconfig are exclusive: read a directory or watch an API server');
  }
  const minSyncPeriodMs = parseDurationFlag('min-sync-period', flags['min-sync-period']!);
  const syncPeriodMs = parseDurationFlag('sync-period', flags['sync-period']!);
  if (syncPeriodMs < 1000) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--sync-period must be at least 1s, got ${flags['sync-period']}`);
  const nodePortCIDRs = flags['nodeport-addresses'] !== undefined ? parseCidrList('nodeport-addresses', flags['nodeport-addresses']) : undefined;
  return startServiceProxy({
    ...(flags.manifests !== undefined && { manifestsDir: flags.manifests }),
    ...(flags.kubeconfig !== undefined && { kubeconfigPath: flags.kubeconfig }),
    nodeName: flags['node-name'] ?? (process.env['NODE_NAME'] || hostname()),
    clusterCIDRs: flags['cluster-cidr'] !== undefined ? parseCidrList('cluster-cidr', flags['cluster-cidr']) : [],
    ...(nodePortCIDRs !== undefined && { nodePortCIDRs }),
    minSyncPeriodMs,
    syncPeriodMs,
    healthzPort: flags['healthz-port'],
    metricsPort: flags['metrics-port'],
    ...(flags['bind-address'] !== undefined && { bindAddress: flags['bind-address'] }),
    logger,
  });
}

/** `10.244.0.0/16,fd00::/48` → prefixes (network form); names the bad entry. */
export function parseCidrList(flag: string, text: string): IpPrefix[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const cidr = parseCidr(part);
      if (!cidr) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${flag}: ${JSON.stringify(part)} is not a CIDR (like 10.244.0.0/16)`);
      // nft wants the network address: 10.244.1.7/16 means 10.244.0.0/16.
      return maskedPrefix(cidr);
    });
}
