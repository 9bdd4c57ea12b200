import { hostname } from 'node:os';
import { PorticoError } from '../lib/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import type { RouteAgentMode } from '../route-agent/plan.js';
import { cleanupNodeAgent, startNodeAgent, type RunningNodeAgent } from '../route-agent/start-node-agent.js';
import { parseDurationFlag, parseFlags, type FlagSpec } from './flags.js';
import { parseCidrList } from './service-proxy-command.js';

/** Flag names are a contract (the lab and the DaemonSet use them). */
export const NODE_AGENT_FLAGS = {
  manifests: { type: 'string', description: 'Read Nodes (and Services for LoadBalancer announcement) from a directory of manifests (watched) instead of the Kubernetes API' },
  kubeconfig: { type: 'string', description: 'kubeconfig file for the Kubernetes API (default: in-cluster config, else KUBECONFIG or ~/.kube/config)' },
  'node-name': { type: 'string', description: 'This node (default: $NODE_NAME, else the hostname)' },
  mode: { type: 'string', default: 'vxlan', choices: ['host-gw', 'vxlan'], description: 'host-gw: a route per node via its address (needs L2 adjacency); vxlan: an overlay that does not' },
  iface: { type: 'string', description: "The underlay interface (default: the one holding the node's InternalIP)" },
  'cluster-cidr': { type: 'string', description: 'Comma-separated CIDRs of the whole pod network (required): pod traffic leaving it is masqueraded' },
  'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d', description: "Where the portico-cni conflist for this node's pod CIDR(s) is written (atomically, when it changes)" },
  'vxlan-vni': { type: 'string', default: '1', description: 'VXLAN network identifier' },
  'vxlan-port': { type: 'port', default: 8472, description: 'VXLAN UDP port (8472: the Linux and flannel default)' },
  'lb-announce': { type: 'string', default: 'true', choices: ['true', 'false'], description: 'Answer ARP/NDP for LoadBalancer IPs in the node subnet when this node is elected (one node per address, failover in seconds)' },
  'heartbeat-port': { type: 'port', default: 7946, description: 'UDP port of the heartbeats between node agents (LoadBalancer failover), the same on every node' },
  'heartbeat-secret-file': { type: 'string', description: 'File holding the shared heartbeat key (at least 16 bytes, the same on every node); without it heartbeats are not authenticated (a warning says so)' },
  'sync-period': { type: 'string', default: '10s', description: 'Full reconcile period: restores routes and entries changed by hand' },
  cleanup: { type: 'boolean', description: 'Remove what the agent created (devices, routes, nft tables, conflist) and exit; run it after the agent has stopped, with the same flags' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

export async function runNodeAgentCommand(argv: readonly string[]): Promise<RunningNodeAgent | { close(): Promise<void>; done: true }> {
  const flags = parseFlags(argv, NODE_AGENT_FLAGS);
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  const cniConfDir = flags['cni-conf-dir'] === '' ? undefined : flags['cni-conf-dir'];
  if (flags.cleanup) {
    await cleanupNodeAgent({ ...(cniConfDir !== undefined && { cniConfDir }), logger });
    return { close: async () => undefined, done: true };
  }
  if (flags.manifests !== undefined && flags.kubeconfig !== undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--manifests and --kubeconfig are exclusive: read a directory or watch an API server');
  }
  if (flags['cluster-cidr'] === undefined) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--cluster-cidr is required: the whole pod network, e.g. 10.244.0.0/16');
  const clusterCIDRs = parseCidrList('cluster-cidr', flags['cluster-cidr']);
  if (clusterCIDRs.length === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--cluster-cidr names no CIDR');
  const vni = Number(flags['vxlan-vni']);
  if (!/^\d+$/.test(flags['vxlan-vni']!) || vni < 1 || vni > 16_777_215) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--vxlan-vni must be 1-16777215, got ${JSON.stringify(flags['vxlan-vni'])}`);
  if (flags['vxlan-port'] === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--vxlan-port must not be 0');
  const syncPeriodMs = parseDurationFlag('sync-period', flags['sync-period']!);
  if (syncPeriodMs < 1000) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--sync-period must be at least 1s, got ${flags['sync-period']}`);
  return startNodeAgent({
    ...(flags.manifests !== undefined && { manifestsDir: flags.manifests }),
    ...(flags.kubeconfig !== undefined && { kubeconfigPath: flags.kubeconfig }),
    nodeName: flags['node-name'] ?? (process.env['NODE_NAME'] || hostname()),
    mode: flags.mode as RouteAgentMode,
    ...(flags.iface !== undefined && { iface: flags.iface }),
    clusterCIDRs,
    ...(cniConfDir !== undefined && { cniConfDir }),
    vni,
    port: flags['vxlan-port'],
    syncPeriodMs,
    ...(flags['lb-announce'] === 'true' && { announce: { port: flags['heartbeat-port'], ...(flags['heartbeat-secret-file'] !== undefined && { secretFile: flags['heartbeat-secret-file'] }) } }),
    logger,
  });
}
