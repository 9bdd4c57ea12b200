import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../lib/logger.js';
import { RESOURCES } from './api-access.js';
import { sleep } from './backoff.js';
import { KubeApiError, type KubeClient } from './kube-client.js';

export interface LeaderElectorOptions {
  client: KubeClient;
  logger: Logger;
  /** Namespace of the Lease: the controller's own (POD_NAMESPACE). */
  namespace: string;
  /** Lease name: --election-id. */
  name: string;
  /** Unique per replica; default `<hostname>_<random>` (the pod name comes first, as in client-go). */
  identity?: string;
  /** How long a lease is valid after its last renewal, as seen by the others. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts (jittered ×1.2 while acquiring). Default 2 s. */
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** The observed holder changed (undefined: nobody holds a valid lease). */
  onNewLeader?: (identity: string | undefined) => void;
  /** Clock, for tests (with `sleep`, a virtual one). */
  now?: () => number;
  /** Waits between attempts; ends early when the signal aborts. Default a real timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  spec?: LeaseSpec;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
 * candidates retry every retryPeriod; a lease held by someone else counts as expired only
 * leaseDuration after this replica last saw it change (no trust in remote clocks); updates carry
 * the resourceVersion, so two candidates can't both win (409 Conflict for the loser). The leader
 * renews every retryPeriod and steps down when it could not renew within renewDeadline. stop()
 * releases the lease (empty holder, 1 s duration) so another replica takes over at once.
 * Unlike client-go it never exits the process: after losing the lease it becomes a candidate again.
 */
export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #log: Logger;
  readonly identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #leader = false;
  #observed: { record: string; at: number; lease: LeaseObject } | undefined;
  #observedHolder: string | undefined;
  #lastRenew = 0;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.#log = options.logger.child({ component: 'leader-election', lease: `${options.namespace}/${options.name}`, identity: this.identity });
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
    if (this.#renewDeadlineMs >= this.#leaseDurationMs) throw new Error('renewDeadline must be shorter than leaseDuration');
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** The holder of the lease as last observed. */
  get leader(): string | undefined {
    return this.#observedHolder;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning; a leader releases the lease and calls onStoppedLeading. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    if (this.#leader) {
      await this.#release();
      this.#setLeader(false);
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Candidate: try until acquired.
      while (!signal.aborted && !(await this.#tryAcquireOrRenew())) {
        await this.#sleep(this.#retryPeriodMs * (1 + 0.2 * Math.random()), signal);
      }
      if (signal.aborted) return;
      this.#lastRenew = this.#now();
      this.#setLeader(true);
      // Leader: renew every retryPeriod until the renew deadline passes without success.
      while (!signal.aborted) {
        await this.#sleep(this.#retryPeriodMs, signal);
        if (signal.aborted) return;
        if (await this.#tryAcquireOrRenew()) {
          this.#lastRenew = this.#now();
          continue;
        }
        if (this.#now() - this.#lastRenew >= this.#renewDeadlineMs || !this.#holdsObserved()) {
          this.#log.warn({ code: 'PORTICO_ERR_K8S_LEADER_ELECTION' }, 'lost the leader lease; stopped leading');
          this.#setLeader(false);
          break;
        }
      }
    }
  }

  #holdsObserved(): boolean {
    return this.#observed?.lease.spec?.holderIdentity === this.identity;
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    if (leader) {
      this.#log.info('became the leader');
      this.#options.onStartedLeading?.();
    } else {
      this.#log.info('stopped leading');
      this.#options.onStoppedLeading?.();
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name } = this.#options;
    const now = this.#now();
    const spec: LeaseSpec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#leaseDurationMs / 1000)),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let current: LeaseObject;
    try {
      current = (await client.get(RESOURCES.leases, { namespace, name })) as unknown as LeaseObject;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) {
        try {
          const created = (await client.create(RESOURCES.leases, namespace, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec,
          })) as unknown as LeaseObject;
          this.#observe(created, now);
          return true;
        } catch (createError) {
          this.#failed('create', createError);
          return false;
        }
      }
      this.#failed('get', error);
      return false;
    }
    this.#observe(current, now);
    const old = current.spec ?? {};
    const held = Boolean(old.holderIdentity);
    if (held && old.holderIdentity !== this.identity && this.#observed!.at + this.#leaseDurationMs > now) {
      return false; // someone else holds a lease that is still valid
    }
    if (old.holderIdentity === this.identity) {
      spec.acquireTime = old.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = old.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (old.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = (await client.update(
        RESOURCES.leases,
        { namespace, name },
        { ...current, spec: { ...current.spec, ...spec } },
      )) as unknown as LeaseObject;
      this.#observe(updated, this.#now());
      return true;
    } catch (error) {
      this.#failed('update', error);
      return false;
    }
  }

  /** Remembers when the lease record last changed, by our clock. */
  #observe(lease: LeaseObject, at: number): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (this.#observed?.record !== record) this.#observed = { record, at, lease };
    else this.#observed.lease = lease;
    const holder = lease.spec?.holderIdentity || undefined;
    if (holder !== this.#observedHolder) {
      this.#observedHolder = holder;
      if (holder !== this.identity) this.#log.info({ leader: holder ?? null }, holder ? `${holder} is the leader` : 'the lease is free');
      this.#options.onNewLeader?.(holder);
    }
  }

  #failed(what: string, error: unknown): void {
    const conflict = error instanceof KubeApiError && error.status === 409;
    this.#log[conflict || !this.#leader ? 'debug' : 'warn'](
      { code: 'PORTICO_ERR_K8S_LEADER_ELECTION', err: (error as Error).message },
      `lease ${what} failed: ${(error as Error).message}`,
    );
  }

  async #release(): Promise<void> {
    const lease = this.#observed?.lease;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = this.#now();
    try {
      await this.#options.client.update(
        RESOURCES.leases,
        { namespace: this.#options.namespace, name: this.#options.name },
        {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) },
        },
      );
      this.#log.info('released the leader lease');
    } catch (error) {
      this.#failed('release', error);
    }
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
