import { PorticoError } from '../lib/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { parsePools } from '../lb-ipam/pool.js';
// Types only: the Kubernetes client (~50 MB) is loaded when the command runs, not for `portico help`.
import type { RunningLbController } from '../lb-controller/start-lb-controller.js';
import { parseFlags, type FlagSpec } from './flags.js';

export const LB_CONTROLLER_FLAGS = {
  pool: { type: 'string', description: 'Comma-separated address ranges to hand out: CIDRs (192.0.2.0/24, 2001:db8::/120) or first-last (192.0.2.10-192.0.2.20); required' },
  'load-balancer-class': { type: 'string', description: 'Handle Services with this spec.loadBalancerClass (default: only Services without a class)' },
  kubeconfig: { type: 'string', description: 'kubeconfig file for the Kubernetes API (default: in-cluster config, else KUBECONFIG or ~/.kube/config)' },
  'election-id': { type: 'string', default: 'portico-lb-controller', description: 'Name of the leader-election Lease (in $POD_NAMESPACE)' },
  'healthz-port': { type: 'port', default: 10262, description: '/healthz: 200 once Services have listed (/livez: always 200); 0 picks a free port' },
  'metrics-port': { type: 'port', default: 10263, description: '/metrics: Prometheus text (addresses assigned and in the pool, status writes, leader)' },
  'bind-address': { type: 'string', description: 'Address the healthz and metrics listeners bind to (default: all)' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

export async function runLbControllerCommand(argv: readonly string[]): Promise<RunningLbController> {
  const flags = parseFlags(argv, LB_CONTROLLER_FLAGS);
  if (flags.pool === undefined) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--pool is required (like --pool 192.0.2.0/28,2001:db8::/120)');
  const { ranges, diagnostics } = parsePools(flags.pool);
  if (ranges.length === 0) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--pool has no usable range: ${diagnostics.map((d) => d.message.replace(/; skipped$/, '')).join('; ')} [PORTICO_ERR_LB_POOL]`);
  }
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  const [{ startLbController }, { loadKubeConfig }] = await Promise.all([import('../lb-controller/start-lb-controller.js'), import('../k8s/kube-client.js')]);
  return startLbController({
    kubeConfig: loadKubeConfig(flags.kubeconfig !== undefined ? { kubeconfigPath: flags.kubeconfig } : {}),
    pools: ranges,
    poolDiagnostics: diagnostics,
    loadBalancerClass: flags['load-balancer-class'],
    electionId: flags['election-id']!,
    healthzPort: flags['healthz-port'],
    metricsPort: flags['metrics-port'],
    ...(flags['bind-address'] !== undefined && { bindAddress: flags['bind-address'] }),
    logger,
  });
}
