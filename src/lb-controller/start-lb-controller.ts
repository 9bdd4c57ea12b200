// Wires `portico lb-controller`: Kubernetes API → store (Services) → LoadBalancerController →
// Service status, leader-elected on a Lease, with Events, /healthz and /metrics.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { Counter, Gauge, Registry } from 'prom-client';
import { close, serveEndpoints } from '../lib/http-endpoints.js';
import type { Logger } from '../lib/logger.js';
import { formatPool, type PoolRange } from '../lb-ipam/pool.js';
import type { Diagnostic } from '../model/route-model.js';
import { ObjectStore } from '../store/object-store.js';
import { LB_CONTROLLER_API_ACCESS } from '../k8s/api-access.js';
import type { BackoffOptions } from '../k8s/backoff.js';
import { EventRecorder, eventForDiagnostic } from '../k8s/event-recorder.js';
import { KubeClient } from '../k8s/kube-client.js';
import { KubernetesSource } from '../k8s/kubernetes-source.js';
import { LeaderElector } from '../k8s/leader-elector.js';
import { LoadBalancerController } from './lb-controller.js';

export const DEFAULT_LB_ELECTION_ID = 'portico-lb-controller';

export interface StartLbControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly pools: readonly PoolRange[];
  /** Pool ranges that did not parse (PORTICO_ERR_LB_POOL): logged, and an Event on our Pod. */
  readonly poolDiagnostics?: readonly Diagnostic[];
  readonly loadBalancerClass?: string | undefined;
  readonly electionId?: string;
  /** Default $POD_NAMESPACE, else the kubeconfig context's, else `default`. */
  readonly electionNamespace?: string;
  readonly leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** 0 picks a free port; undefined: no listener. */
  readonly healthzPort?: number;
  readonly metricsPort?: number;
  readonly bindAddress?: string;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Tests: faster retries. */
  readonly backoff?: BackoffOptions;
  readonly debounceMs?: number;
}

export interface RunningLbController {
  readonly controller: LoadBalancerController;
  readonly store: ObjectStore;
  readonly elector: LeaderElector;
  readonly events: EventRecorder;
  readonly healthz: AddressInfo | undefined;
  readonly metrics: AddressInfo | undefined;
  close(): Promise<void>;
}

export async function startLbController(options: StartLbControllerOptions): Promise<RunningLbController> {
  const { logger, pools } = options;
  const env = options.env ?? process.env;
  const client = new KubeClient(options.kubeConfig, { access: LB_CONTROLLER_API_ACCESS });
  const store = new ObjectStore();
  const source = new KubernetesSource({ client, store, logger, kinds: ['Service'], ...(options.backoff && { backoff: options.backoff }) });
  const instance = env.POD_NAME || hostname();
  const podRef = env.POD_NAME && env.POD_NAMESPACE ? { kind: 'Pod', namespace: env.POD_NAMESPACE, name: env.POD_NAME } : undefined;
  const events = new EventRecorder({
    client,
    logger,
    component: 'portico-lb-controller',
    instance,
    lookupObject: (object) => {
      if (object.kind === 'Pod') return { apiVersion: 'v1' };
      const found = store.get('Service', `${object.namespace ?? 'default'}/${object.name}`);
      return found && { apiVersion: 'v1', ...(found.metadata.uid && { uid: found.metadata.uid }), ...(found.metadata.resourceVersion && { resourceVersion: found.metadata.resourceVersion }) };
    },
  });
  events.setEnabled(false);
  const metrics = new LbMetrics();
  const poolDiagnostics = (options.poolDiagnostics ?? []).map((diagnostic) => (podRef ? { ...diagnostic, object: podRef } : diagnostic));
  const controller = new LoadBalancerController({
    client,
    store,
    logger,
    pools,
    loadBalancerClass: options.loadBalancerClass,
    ...(options.debounceMs !== undefined && { debounceMs: options.debounceMs }),
    ...(options.backoff && { retryBackoff: options.backoff }),
    // Bad pool ranges are reported on our Pod (there is no object for a flag) when we know it.
    onDiagnostics: (diagnostics) => events.recordDiagnostics(podRef ? [...poolDiagnostics, ...diagnostics] : diagnostics),
    onPass: (result, stats) => metrics.observe(result, stats),
  });
  const elector = new LeaderElector({
    client,
    logger,
    namespace: options.electionNamespace || env.POD_NAMESPACE || client.contextNamespace || 'default',
    name: options.electionId ?? DEFAULT_LB_ELECTION_ID,
    identity: `${instance}_${randomBytes(4).toString('hex')}`,
    ...options.leaderElection,
    onStartedLeading: () => {
      events.setEnabled(true);
      controller.setLeader(true);
      metrics.leader.set(1);
    },
    onStoppedLeading: () => {
      controller.setLeader(false);
      events.setEnabled(false);
      metrics.leader.set(0);
    },
  });
  metrics.poolSize(pools);
  for (const diagnostic of options.poolDiagnostics ?? []) logger.error({ code: diagnostic.code, field: diagnostic.field }, diagnostic.message);
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
    closers.length = 0;
  };
  try {
    const healthz =
      options.healthzPort !== undefined
        ? await serveEndpoints(options.healthzPort, options.bindAddress, (path) =>
            path !== '/healthz' && path !== '/livez'
              ? { status: 404, type: 'text/plain', body: 'not found\n' }
              : path === '/livez' || source.isSynced ? { status: 200, type: 'text/plain', body: 'ok\n' } : { status: 503, type: 'text/plain', body: 'waiting for the first list of Services\n' },
          )
        : undefined;
    if (healthz) closers.push(() => close(healthz.server));
    const metricsServer =
      options.metricsPort !== undefined
        ? await serveEndpoints(options.metricsPort, options.bindAddress, async (path) =>
            path === '/metrics' ? { status: 200, type: metrics.registry.contentType, body: await metrics.registry.metrics() } : { status: 404, type: 'text/plain', body: 'not found\n' },
          )
        : undefined;
    if (metricsServer) closers.push(() => close(metricsServer.server));
    closers.push(() => source.stop());
    closers.push(() => events.flush());
    closers.push(() => controller.stop());
    // Released first on close (closers run in reverse): another replica takes over at once.
    closers.push(() => elector.stop());
    controller.start();
    source.start();
    void source.synced.then(() => controller.markSynced());
    elector.start();
    logger.info(
      { pool: formatPool(pools), loadBalancerClass: options.loadBalancerClass ?? null, healthz: healthz?.address.port, metrics: metricsServer?.address.port },
      `portico lb-controller for pool ${formatPool(pools)}${healthz ? `, healthz on :${healthz.address.port}` : ''}${metricsServer ? `, metrics on :${metricsServer.address.port}` : ''}`,
    );
    return { controller, store, elector, events, healthz: healthz?.address, metrics: metricsServer?.address, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

class LbMetrics {
  readonly registry = new Registry();
  readonly leader = new Gauge({ name: 'portico_lb_leader', help: '1 while this replica holds the lease and assigns addresses.', registers: [this.registry] });
  readonly #assigned = new Gauge({ name: 'portico_lb_addresses_assigned', help: 'Pool addresses assigned to Services, by family.', labelNames: ['family'], registers: [this.registry] });
  readonly #size = new Gauge({ name: 'portico_lb_pool_addresses', help: 'Addresses in the pool, by family.', labelNames: ['family'], registers: [this.registry] });
  readonly #unassigned = new Gauge({ name: 'portico_lb_services_without_address', help: 'Handled LoadBalancer Services that got no address (exhausted pool, unavailable request).', registers: [this.registry] });
  readonly #writes = new Counter({ name: 'portico_lb_status_writes_total', help: 'Service status writes.', registers: [this.registry] });
  readonly #failures = new Counter({ name: 'portico_lb_status_write_failures_total', help: 'Service status writes that failed (retried).', registers: [this.registry] });
  #seen = { writes: 0, failures: 0 };

  poolSize(pools: readonly PoolRange[]): void {
    for (const family of [4, 6] as const) {
      const size = pools.filter((r) => r.family === family).reduce((sum, r) => sum + (r.last.value - r.first.value + 1n), 0n);
      this.#size.set({ family: `IPv${family}` }, Number(size));
    }
  }

  observe(result: { assignments: ReadonlyArray<{ ips: readonly string[] }> }, stats: { writes: number; failures: number }): void {
    const ips = result.assignments.flatMap((a) => a.ips);
    this.#assigned.set({ family: 'IPv4' }, ips.filter((ip) => !ip.includes(':')).length);
    this.#assigned.set({ family: 'IPv6' }, ips.filter((ip) => ip.includes(':')).length);
    this.#unassigned.set(result.assignments.filter((a) => a.ips.length === 0).length);
    this.#writes.inc(stats.writes - this.#seen.writes);
    this.#failures.inc(stats.failures - this.#seen.failures);
    this.#seen = { writes: stats.writes, failures: stats.failures };
  }
}


