import type { Logger } from '../lib/logger.js';
import type { Ingress } from '../model/k8s-objects.js';
import { RESOURCES } from './api-access.js';
import type { BackoffOptions } from './backoff.js';
import { ReconcileLoop } from './reconcile-loop.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import { normalizeAddresses, sameAddresses, type LoadBalancerIngress } from './publish-address.js';

export interface StatusWriterOptions {
  client: KubeClient;
  logger: Logger;
  /** The newest version of an Ingress, status and resourceVersion included (KubernetesSource.lookup). */
  lookupIngress: (key: string) => Ingress | undefined;
  /** Every Ingress key known (KubernetesSource.keys('Ingress')). */
  ingressKeys: () => Iterable<string>;
  /** Quiet time before a pass, so a burst of changes makes one pass. Default 10 ms. */
  debounceMs?: number;
  /** Parallel status writes in one pass. Default 8. */
  concurrency?: number;
  /** Retry delay after failed writes. Default 500 ms doubling to 30 s. */
  retryBackoff?: BackoffOptions;
}

export interface StatusDesired {
  /** `namespace/name` of every Ingress this controller owns (RouteModel.ownedIngresses). */
  readonly owned: Iterable<string>;
  /** What to publish on them (computePublishAddresses). */
  readonly addresses: readonly LoadBalancerIngress[];
}

export interface StatusWriterStats {
  writes: number;
  failures: number;
  passes: number;
}

/**
 * Keeps `status.loadBalancer.ingress` of owned Ingresses equal to the published addresses, through
 * the status subresource (PUT with the last seen resourceVersion: a conflict means a newer version
 * is on its way through the watch, and the write is retried). Writes only where the status differs,
 * only while leader, and clears the status of Ingresses it no longer owns when that status holds
 * only addresses this controller published. Call update() after each route build and publish
 * address change, ingressChanged() on every Ingress event (status edits by others), setLeader()
 * from the elector.
 */
export class StatusWriter {
  readonly #options: StatusWriterOptions;
  readonly #log: Logger;
  #leader = false;
  #desired: { owned: Set<string>; addresses: LoadBalancerIngress[] } | undefined;
  /** Every address this process ever published: a status made only of these is ours to clear. */
  readonly #published = new Set<string>();
  /** What we wrote per Ingress and on top of which resourceVersion, until the watch catches up. */
  readonly #written = new Map<string, { fromVersion: string | undefined; addresses: LoadBalancerIngress[] }>();
  readonly #loop: ReconcileLoop;
  readonly stats: StatusWriterStats = { writes: 0, failures: 0, passes: 0 };

  constructor(options: StatusWriterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'status-writer' });
    this.#loop = new ReconcileLoop({
      delayMs: options.debounceMs ?? 10,
      canRun: () => this.#leader && this.#desired !== undefined,
      pass: () => this.#pass(),
      ...(options.retryBackoff && { retryBackoff: options.retryBackoff }),
    });
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  update(desired: StatusDesired): void {
    const addresses = normalizeAddresses(desired.addresses);
    for (const entry of addresses) this.#published.add(addressKey(entry));
    this.#desired = { owned: new Set(desired.owned), addresses };
    this.#loop.schedule();
  }

  setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#written.clear();
    if (leader) this.#loop.schedule();
  }

  /** An Ingress changed (any field, status included) or went away. */
  ingressChanged(_key?: string): void {
    this.#loop.schedule();
  }

  /** Resolves when no pass is running or scheduled (retries after failures still count as scheduled). */
  idle(): Promise<void> {
    return this.#loop.idle();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** Resolves false when a write failed (the loop retries). */
  async #pass(): Promise<boolean> {
    const desired = this.#desired;
    if (!desired || !this.#leader) return true;
    this.stats.passes++;
    const work: Array<{ key: string; ingress: Ingress; want: LoadBalancerIngress[] }> = [];
    for (const key of this.#options.ingressKeys()) {
      const ingress = this.#options.lookupIngress(key);
      if (!ingress) continue;
      const actual = normalizeAddresses(ingress.status?.loadBalancer?.ingress ?? []);
      let want: LoadBalancerIngress[];
      if (desired.owned.has(key)) want = desired.addresses;
      else if (actual.length > 0 && actual.every((entry) => this.#published.has(addressKey(entry)))) want = [];
      else continue;
      if (sameAddresses(actual, want)) {
        this.#written.delete(key);
        continue;
      }
      const written = this.#written.get(key);
      if (written && written.fromVersion === ingress.metadata.resourceVersion && sameAddresses(written.addresses, want)) continue;
      work.push({ key, ingress, want });
    }
    let failed = false;
    const concurrency = Math.max(1, this.#options.concurrency ?? 8);
    let next = 0;
    const worker = async () => {
      while (next < work.length && this.#leader && !this.#loop.stopped) {
        const item = work[next++]!;
        if (!(await this.#write(item.key, item.ingress, item.want))) failed = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, work.length) }, worker));
    return !failed;
  }

  async #write(key: string, ingress: Ingress, want: LoadBalancerIngress[]): Promise<boolean> {
    const { namespace = 'default', name } = ingress.metadata;
    const status = { ...ingress.status, loadBalancer: want.length > 0 ? { ingress: want } : {} };
    try {
      await this.#options.client.update(RESOURCES.ingresses, { namespace, name }, { ...ingress, status }, { subresource: 'status' });
      this.stats.writes++;
      this.#written.set(key, { fromVersion: ingress.metadata.resourceVersion, addresses: want });
      this.#log.info(
        { ingress: key, addresses: want.map((a) => a.ip ?? a.hostname) },
        want.length > 0 ? `published ${want.map((a) => a.ip ?? a.hostname).join(', ')} on Ingress ${key}` : `cleared the status of Ingress ${key}`,
      );
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return true; // deleted meanwhile
      this.stats.failures++;
      const conflict = error instanceof KubeApiError && error.status === 409;
      this.#log[conflict ? 'debug' : 'warn'](
        { code: 'PORTICO_ERR_K8S_STATUS_WRITE', ingress: key, err: (error as Error).message },
        `writing the status of Ingress ${key} failed: ${(error as Error).message}; retrying`,
      );
      return false;
    }
  }
}

function addressKey(entry: LoadBalancerIngress): string {
  return entry.ip ? `ip:${entry.ip}` : `host:${entry.hostname ?? ''}`;
}
