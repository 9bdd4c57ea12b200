import { parseIp } from '../lib/cidr.js';
import type { Logger } from '../lib/logger.js';
import { allocateLoadBalancerIps, handlesService, type AllocationResult } from '../lb-ipam/allocate.js';
import { poolContains, type PoolRange } from '../lb-ipam/pool.js';
import { objectKey, type Service } from '../model/k8s-objects.js';
import type { Diagnostic } from '../model/route-model.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';
import { RESOURCES } from '../k8s/api-access.js';
import type { BackoffOptions } from '../k8s/backoff.js';
import { ReconcileLoop } from '../k8s/reconcile-loop.js';
import type { KubeClient } from '../k8s/kube-client.js';

export interface LoadBalancerControllerOptions {
  client: KubeClient;
  /** Services, status included (the store counts a Service status change as a change). */
  store: ObjectStore;
  logger: Logger;
  pools: readonly PoolRange[];
  /** --load-balancer-class; undefined: Services without spec.loadBalancerClass. */
  loadBalancerClass?: string | undefined;
  /** Every pass's diagnostics (only while leader): EventRecorder.recordDiagnostics. */
  onDiagnostics?: (diagnostics: readonly Diagnostic[]) => void;
  /** After each pass that wrote everything it had to. */
  onPass?: (result: AllocationResult, stats: LoadBalancerControllerStats) => void;
  /** Quiet time before a pass, so a burst of changes makes one. Default 10 ms. */
  debounceMs?: number;
  /** Retry delay after failed writes. Default 500 ms doubling to 30 s. */
  retryBackoff?: BackoffOptions;
}

export interface LoadBalancerControllerStats {
  passes: number;
  writes: number;
  failures: number;
}

/**
 * The reconcile loop of `portico lb-controller`: after the first list (markSynced) and while
 * leader, every Service change runs the pure allocator over all Services and makes each Service's
 * `status.loadBalancer.ingress` say what it got (a merge patch on the status subresource). A
 * Service that stops being LoadBalancer has the pool addresses cleared from its status; a Service
 * of another class is never touched. Assignments live in memory between passes and are rebuilt
 * from the statuses when leadership starts (a restart), so addresses stay stable.
 */
export class LoadBalancerController {
  readonly #options: LoadBalancerControllerOptions;
  readonly #log: Logger;
  /** `namespace/name` → addresses of the last pass. */
  #assigned = new Map<string, readonly string[]>();
  /** What we wrote on top of which resourceVersion, until the watch brings it back. */
  readonly #written = new Map<string, { fromVersion: string | undefined; ips: string }>();
  #reported = new Set<string>();
  #leader = false;
  #synced = false;
  readonly #loop: ReconcileLoop;
  #unsubscribe: (() => void) | undefined;
  #last: AllocationResult | undefined;
  readonly stats: LoadBalancerControllerStats = { passes: 0, writes: 0, failures: 0 };

  constructor(options: LoadBalancerControllerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'lb-controller' });
    this.#loop = new ReconcileLoop({
      delayMs: options.debounceMs ?? 10,
      canRun: () => this.#leader && this.#synced,
      pass: () => this.#pass(),
      ...(options.retryBackoff && { retryBackoff: options.retryBackoff }),
    });
  }

  /** The last allocation (for /debug and tests). */
  get lastResult(): AllocationResult | undefined {
    return this.#last;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#unsubscribe ??= this.#options.store.subscribe(this.#onChange);
  }

  /** The first list of Services is in: passes may run. */
  markSynced(): void {
    this.#synced = true;
    this.#loop.schedule();
  }

  /** From the elector. A new leader forgets what it assigned before and starts from the statuses. */
  setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#assigned = new Map();
    this.#written.clear();
    this.#reported = new Set();
    if (leader) this.#loop.schedule();
  }

  /** Resolves when no pass is running or scheduled. */
  idle(): Promise<void> {
    return this.#loop.idle();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#loop.stop();
  }

  #onChange = (change: StoreChange): void => {
    if (change.kind === 'Service') this.#loop.schedule();
  };

  /** Resolves false when a write failed (the loop retries). */
  async #pass(): Promise<boolean> {
    if (!this.#leader || this.#loop.stopped) return true;
    this.stats.passes++;
    const { pools, loadBalancerClass } = this.#options;
    const services = [...this.#options.store.snapshot().services.values()] as Service[];
    const result = allocateLoadBalancerIps({ pools, services, previous: this.#assigned, loadBalancerClass });
    this.#last = result;
    this.#assigned = new Map(result.assignments.filter((a) => a.ips.length > 0).map((a) => [a.service, a.ips]));
    this.#report(result.diagnostics);
    const wanted = new Map(result.assignments.map((a) => [a.service, a.ips]));
    const work: Array<{ service: Service; key: string; ips: readonly string[] }> = [];
    for (const service of services) {
      const key = objectKey(service);
      const actual = statusIps(service);
      let ips = wanted.get(key);
      if (ips === undefined) {
        // Not ours: clear only what we hand out, and only once it is no LoadBalancer at all.
        if (handlesService(service, loadBalancerClass) || service.spec?.type === 'LoadBalancer') continue;
        if (!actual.some((text) => inPool(pools, text))) continue;
        ips = [];
      }
      if (actual.join(',') === ips.join(',')) {
        this.#written.delete(key);
        continue;
      }
      const written = this.#written.get(key);
      if (written && written.fromVersion === service.metadata.resourceVersion && written.ips === ips.join(',')) continue;
      work.push({ service, key, ips });
    }
    let failed = false;
    for (const item of work) {
      if (!this.#leader || this.#loop.stopped) break;
      if (!(await this.#write(item.service, item.key, item.ips))) failed = true;
    }
    if (failed) return false;
    this.#options.onPass?.(result, this.stats);
    return true;
  }

  #report(diagnostics: readonly Diagnostic[]): void {
    const current = new Set<string>();
    for (const diagnostic of diagnostics) {
      const id = `${diagnostic.code} ${diagnostic.object.namespace}/${diagnostic.object.name} ${diagnostic.message}`;
      current.add(id);
      if (this.#reported.has(id)) continue;
      this.#log[diagnostic.severity === 'error' ? 'error' : 'warn'](
        { code: diagnostic.code, object: `Service ${diagnostic.object.namespace}/${diagnostic.object.name}`, ...(diagnostic.field && { field: diagnostic.field }) },
        diagnostic.message,
      );
    }
    this.#reported = current;
    this.#options.onDiagnostics?.(diagnostics);
  }

  async #write(service: Service, key: string, ips: readonly string[]): Promise<boolean> {
    const { namespace = 'default', name } = service.metadata;
    // Merge patch: `ingress` is replaced as a whole; null removes it.
    const body = { status: { loadBalancer: { ingress: ips.length > 0 ? ips.map((ip) => ({ ip })) : null } } };
    try {
      await this.#options.client.patch(RESOURCES.services, { namespace, name }, body, { subresource: 'status' });
      this.stats.writes++;
      this.#written.set(key, { fromVersion: service.metadata.resourceVersion, ips: ips.join(',') });
      this.#log.info({ service: key, ips }, ips.length > 0 ? `assigned ${ips.join(', ')} to Service ${key}` : `released the address(es) of Service ${key}`);
      return true;
    } catch (error) {
      if ((error as { status?: unknown }).status === 404) return true; // deleted meanwhile
      this.stats.failures++;
      this.#log.warn(
        { code: 'PORTICO_ERR_LB_STATUS_WRITE', service: key, err: (error as Error).message },
        `writing the status of Service ${key} failed: ${(error as Error).message}; retrying`,
      );
      return false;
    }
  }
}

function statusIps(service: Service): string[] {
  return (service.status?.loadBalancer?.ingress ?? []).flatMap((entry) => (entry.ip ? [entry.ip] : []));
}

function inPool(pools: readonly PoolRange[], text: string): boolean {
  const ip = parseIp(text);
  return ip !== undefined && poolContains(pools, ip);
}
