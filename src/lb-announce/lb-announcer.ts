// The LoadBalancer L2 announcement of one node agent: Services, EndpointSlices and Nodes from the
// store plus the live set from the heartbeats → chooseAnnouncers → the addresses this node owns →
// the holder link. Recomputed on every relevant store change and every membership change, one pass
// at a time through ReconcileLoop (changes during a pass coalesce into one more), retried with backoff.
import { parseCidr, parseIp, prefixContains, formatIp, type IpPrefix } from '../lib/cidr.js';
import { PorticoError, type ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';
import type { BackoffOptions } from '../k8s/backoff.js';
import { ReconcileLoop } from '../k8s/reconcile-loop.js';
import { chooseAnnouncers, nodeAddresses, type Election } from './elect.js';
import type { Peer } from './heartbeat.js';
import type { SyncResult } from './announcer.js';

/** What LoadBalancerAnnouncer needs of a Membership (heartbeat.ts). */
export interface MembershipLike {
  readonly nodeName: string;
  live(): ReadonlySet<string>;
  subscribe(listener: (live: ReadonlySet<string>) => void): () => void;
  setPeers(peers: readonly Peer[]): void;
  stop(): Promise<void>;
}

/** What LoadBalancerAnnouncer needs of a HolderAnnouncer (announcer.ts). */
export interface HolderLike {
  sync(ips: readonly string[]): Promise<SyncResult>;
  /** Gratuitous ARP / unsolicited NA again for addresses that stay announced. */
  reannounce(ips: readonly string[]): Promise<void>;
  withdrawAll(): Promise<void>;
  announced(): string[];
}

export interface AnnounceDiagnostic {
  code: ErrorCode;
  message: string;
}

export interface LoadBalancerAnnouncerOptions {
  store: ObjectStore;
  nodeName: string;
  /** The underlay interface (for log lines; the holder announces on it). */
  iface: string;
  /**
   * The node's InternalIP(s) as configured on `iface`, with their prefix (`10.30.0.11/24`): the
   * underlay subnets. Only LoadBalancer addresses inside them are announced.
   */
  nodeAddresses: readonly string[];
  membership: MembershipLike;
  holder: HolderLike;
  logger: Logger;
  /** As lb-controller's `--load-balancer-class`: undefined handles Services without a class. */
  loadBalancerClass?: string | undefined;
  onDiagnostic?: (diagnostic: AnnounceDiagnostic) => void;
  /** Quiet time before a pass (a burst of changes makes one). Default 50 ms. */
  delayMs?: number;
  /** Retry after a failed pass. Default 500 ms doubling to 30 s (ReconcileLoop's). */
  retryBackoff?: BackoffOptions;
  /** A full pass this often even without changes, repairing drift (an address deleted by hand). Default 30 000 ms; 0 turns it off. */
  resyncMs?: number;
}

const RELEVANT: ReadonlySet<string> = new Set(['Service', 'EndpointSlice', 'Node']);

/**
 * Subscribes to the store and the membership when constructed; passes start with markSynced()
 * (a pass over a half-listed store would withdraw addresses it merely has not seen yet).
 */
export class LoadBalancerAnnouncer {
  readonly #o: LoadBalancerAnnouncerOptions;
  readonly #subnets: IpPrefix[];
  readonly #loop: ReconcileLoop;
  readonly #unsubscribe: Array<() => void>;
  readonly #passListeners = new Set<(ok: boolean) => void>();
  #elections: Election[] = [];
  #synced = false;
  #stopped = false;
  #interval: NodeJS.Timeout | undefined;
  #peersKey = '';

  constructor(options: LoadBalancerAnnouncerOptions) {
    this.#o = options;
    this.#subnets = options.nodeAddresses.map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`nodeAddresses: ${JSON.stringify(text)} is not a CIDR`);
      return cidr;
    });
    this.#loop = new ReconcileLoop({
      delayMs: options.delayMs ?? 50,
      canRun: () => this.#synced && !this.#stopped,
      pass: () => this.#pass(),
      ...(options.retryBackoff ? { retryBackoff: options.retryBackoff } : {}),
    });
    this.#unsubscribe = [
      options.store.subscribe((change: StoreChange) => {
        // Peers follow the Nodes at once, synced or not: their heartbeats are expected from the start.
        if (change.kind === 'Node') this.#updatePeers();
        if (RELEVANT.has(change.kind)) this.#loop.schedule();
      }),
      options.membership.subscribe(() => this.#loop.schedule(0)),
    ];
    this.#updatePeers();
  }

  /** The source has listed everything once: the first pass may run. */
  markSynced(): void {
    if (this.#synced || this.#stopped) return;
    this.#synced = true;
    this.#loop.schedule(0);
    const every = this.#o.resyncMs ?? 30_000;
    if (every > 0) this.#interval = setInterval(() => this.#loop.schedule(0), every).unref();
  }

  /** Runs a pass now (the holder lost its addresses, or a periodic resync). */
  resync(): void {
    this.#loop.schedule(0);
  }

  /** Resolves after the next pass with whether it succeeded. */
  nextPass(): Promise<boolean> {
    return new Promise((resolve) => {
      const listener = (ok: boolean) => {
        this.#passListeners.delete(listener);
        resolve(ok);
      };
      this.#passListeners.add(listener);
    });
  }

  /** Resolves when no pass is running or scheduled (a retry after a failure counts as scheduled). */
  idle(): Promise<void> {
    return this.#loop.idle();
  }

  /** Withdraws every announcement at once, then tells the peers this node leaves. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#interval);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    // Withdraw first: the peers may take over as soon as they hear we leave.
    await this.#o.holder.withdrawAll();
    await this.#o.membership.stop();
    await this.#loop.stop();
    // A pass that was running when stop() began may have announced again: withdraw once more.
    await this.#o.holder.withdrawAll();
  }

  /** The addresses this node answers for now. */
  announced(): string[] {
    return this.#o.holder.announced();
  }

  /** The last election, every address in the underlay subnets (debug views). */
  elections(): readonly Election[] {
    return this.#elections;
  }

  async #pass(): Promise<boolean> {
    let ok = false;
    try {
      await this.#reconcile();
      ok = true;
    } catch (error) {
      const code: ErrorCode = error instanceof PorticoError ? error.code : 'PORTICO_ERR_ANNOUNCE_APPLY';
      const message = `LoadBalancer announcement failed: ${(error as Error).message}`;
      this.#o.logger.warn({ code, err: (error as Error).message }, message);
      this.#o.onDiagnostic?.({ code, message });
    }
    for (const listener of [...this.#passListeners]) listener(ok);
    return ok;
  }

  async #reconcile(): Promise<void> {
    const snapshot = this.#o.store.snapshot();
    const elections = chooseAnnouncers({
      services: snapshot.services.values(),
      endpointSlices: snapshot.endpointSlices.values(),
      nodes: snapshot.nodes.values(),
      liveNodes: this.#o.membership.live(),
      subnets: this.#o.nodeAddresses,
      loadBalancerClass: this.#o.loadBalancerClass,
    });
    const previous = new Map(this.#elections.map((e) => [e.ip, e]));
    this.#elections = elections;
    if (this.#stopped) return;
    const owned = elections.filter((e) => e.owner === this.#o.nodeName);
    const result = await this.#o.holder.sync(owned.map((e) => e.ip));
    // Kept an address while a candidate came (back): that node may have held it while we could not
    // hear each other, and its neighbours' caches point at it. Advertise again.
    const again = owned.filter((e) => {
      const before = previous.get(e.ip);
      return before?.owner === this.#o.nodeName && !result.added.includes(e.ip) && e.candidates.some((c) => !before.candidates.includes(c));
    });
    if (again.length > 0) {
      await this.#o.holder.reannounce(again.map((e) => e.ip));
      this.#o.logger.info({ ips: again.map((e) => e.ip), iface: this.#o.iface }, 'advertising LoadBalancer addresses again: a node came back');
    }
    for (const ip of result.added) {
      const e = owned.find((o) => o.ip === ip);
      this.#o.logger.info({ ip, service: e?.service, reason: e?.reason, iface: this.#o.iface }, 'announcing LoadBalancer address');
    }
    for (const ip of result.removed) {
      const e = elections.find((o) => o.ip === ip);
      this.#o.logger.info({ ip, service: e?.service, owner: e?.owner ?? null, iface: this.#o.iface }, 'withdrew LoadBalancer address');
    }
  }

  /** Heartbeat peers: every other Node, at its InternalIP in an underlay subnet (else its first). */
  #updatePeers(): void {
    const peers: Peer[] = [];
    // Every Node, excluded ones too: they never announce, but their agents send heartbeats.
    const all = [...this.#o.store.snapshot().nodes.values()].map((n) => ({ ...n, metadata: { ...n.metadata, labels: {} } }));
    for (const [name, addrs] of nodeAddresses(all)) {
      if (name === this.#o.nodeName || addrs.length === 0) continue;
      const onSegment = addrs.filter((a) => this.#subnets.some((s) => prefixContains(s, a)));
      const pick = [...onSegment, ...addrs].sort((a, b) => a.family - b.family)[0]!;
      peers.push({ name, address: formatIp(pick) });
    }
    peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const key = JSON.stringify(peers);
    if (key === this.#peersKey) return;
    this.#peersKey = key;
    this.#o.membership.setPeers(peers);
  }
}

/** The CIDRs on an interface's address list that hold one of the given IPs (helper for the agent). */
export function underlaySubnets(interfaceCidrs: readonly string[], internalIps: readonly string[]): string[] {
  const ips = internalIps.map((ip) => parseIp(ip)).filter((ip) => ip !== undefined);
  return interfaceCidrs.filter((text) => {
    const cidr = parseCidr(text);
    return cidr !== undefined && ips.some((ip) => ip.family === cidr.ip.family && ip.value === cidr.ip.value);
  });
}
