// The service proxy's sync loop (kube-proxy's Proxier): store changes mark Services dirty; a bounded
// frequency runner turns the dirty set into one nft transaction per family — a full sync first,
// after any failure and every syncPeriod, partial syncs otherwise. Then stale UDP conntrack entries
// go, and health-check servers learn their local endpoint counts.
import type { IpFamily, IpPrefix } from '../lib/cidr.js';
import type { Logger } from '../lib/logger.js';
import { resolveSliceEndpoints, SERVICE_NAME_LABEL, type ServiceEndpoint } from '../endpoints/endpoint-slice.js';
import type { EndpointSlice, Service } from '../model/k8s-objects.js';
import type { Diagnostic } from '../model/route-model.js';
import type { NftRunner } from '../nft/runner.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';
import type { ConntrackCleaner } from './conntrack.js';
import { buildBaseRuleset, buildServiceFragment, HAIRPIN_SET, PROXY_TABLE_NAME, tableFamily, type ElementState, type BaseRuleset, type PortOutcome, type RulesetOptions, type ServiceFragment } from './ruleset.js';
import { renderFullSync, renderPartialSync, type FragmentChange } from './render-sync.js';
import { compileServicePorts, HEADLESS_LABEL, type ServiceDiagnostic } from './service-ports.js';

export interface HealthCheckTarget {
  readonly namespace: string;
  readonly name: string;
  /** Ready endpoints of the Service on this node. */
  readonly localEndpoints: number;
}

/** Receives the wanted healthCheckNodePort servers after every successful sync. */
export interface HealthCheckSink {
  sync(targets: ReadonlyMap<number, HealthCheckTarget>): Promise<void> | void;
}

export interface SyncObserver {
  synced(result: SyncResult): void;
  syncFailed(error: unknown, full: boolean): void;
}

export interface SyncResult {
  readonly full: boolean;
  readonly seconds: number;
  /** Services rebuilt in this sync. */
  readonly services: number;
  readonly rules: number;
  readonly elements: number;
  /** Operations in the transactions applied (0 when nothing changed). */
  readonly operations: number;
}

export interface ProxierOptions {
  readonly store: ObjectStore;
  readonly nft: NftRunner;
  readonly logger: Logger;
  readonly nodeName: string;
  /** Families to program; default both. */
  readonly families?: readonly IpFamily[];
  readonly clusterCIDRs?: readonly IpPrefix[];
  readonly nodePortCIDRs?: readonly IpPrefix[];
  /** At most one sync per this period (kube-proxy's minSyncPeriod, 1 s). */
  readonly minSyncPeriodMs?: number;
  /** Full resync period and retry delay after a failure (30 s). */
  readonly syncPeriodMs?: number;
  readonly conntrack?: ConntrackCleaner;
  readonly healthChecks?: HealthCheckSink;
  readonly observer?: SyncObserver;
  readonly tableName?: string;
  /** Each newly reported problem (Kubernetes mode turns them into Warning Events). */
  readonly onDiagnostic?: (diagnostic: Diagnostic) => void;
}

interface FamilyState {
  readonly family: IpFamily;
  readonly options: RulesetOptions;
  readonly base: BaseRuleset;
  /** Applied fragments by Service key. */
  fragments: Map<string, ServiceFragment>;
  /** Map/set element key → owning Service (externalIPs may collide across Services). */
  owners: Map<string, string>;
  /** Rules and elements in `fragments`, kept as syncs apply (metrics without a walk). */
  rules: number;
  elements: number;
  /** Endpoint IP → how many Services DNAT to it (one hairpin element however many). */
  hairpinRefs: Map<string, number>;
}

/** Element ownership as a sync sees it: the applied owners plus this sync's changes. */
class OwnerView {
  readonly delta = new Map<string, string | undefined>();
  constructor(readonly base: ReadonlyMap<string, string>) {}
  get(id: string): string | undefined {
    return this.delta.has(id) ? this.delta.get(id) : this.base.get(id);
  }
  set(id: string, key: string): void {
    this.delta.set(id, key);
  }
  delete(id: string): void {
    this.delta.set(id, undefined);
  }
}

function fragmentSize(fragment: ServiceFragment | undefined): { rules: number; elements: number } {
  let rules = 0;
  for (const chain of fragment?.chains.values() ?? []) rules += chain.rules.length;
  return { rules, elements: fragment?.elements.length ?? 0 };
}

export class ServiceProxier {
  readonly #options: ProxierOptions;
  readonly #log: Logger;
  readonly #families: FamilyState[];
  readonly #minSyncMs: number;
  readonly #syncPeriodMs: number;
  /** Service keys whose Service or slices changed since the last applied sync. */
  #dirty = new Set<string>();
  /** EndpointSlice key → Service key it was last seen for (deletes carry no labels). */
  readonly #sliceOwner = new Map<string, string>();
  readonly #slicesByService = new Map<string, Set<string>>();
  #needFull = true;
  #synced = false;
  #stopped = false;
  #syncing: Promise<void> | undefined;
  /** The next sync for pending changes (or a retry). */
  #timer: NodeJS.Timeout | undefined;
  /** The periodic full resync, re-armed after every sync. */
  #resyncTimer: NodeJS.Timeout | undefined;
  #lastSyncStart = -Infinity;
  #unsubscribe: (() => void) | undefined;
  #firstApplied = false;
  #lastSuccess = 0;
  #failingSince: number | undefined;
  /** Last diagnostics logged per object, so each is said once. */
  readonly #reported = new Map<string, string>();
  /** Services that lost an element key to another Service, by `family key`. */
  /** `family key` of each Service that lost an element key to another → the element ids it lost. */
  readonly #lostConflict = new Map<string, Set<string>>();

  constructor(options: ProxierOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'service-proxy' });
    this.#minSyncMs = options.minSyncPeriodMs ?? 1000;
    this.#syncPeriodMs = options.syncPeriodMs ?? 30_000;
    this.#families = (options.families ?? [4, 6]).map((family) => {
      const rulesetOptions: RulesetOptions = {
        family,
        nodeName: options.nodeName,
        clusterCIDRs: (options.clusterCIDRs ?? []).filter((c) => c.ip.family === family),
        ...(options.nodePortCIDRs !== undefined && { nodePortCIDRs: options.nodePortCIDRs.filter((c) => c.ip.family === family) }),
      };
      return { family, options: rulesetOptions, base: buildBaseRuleset(rulesetOptions), fragments: new Map(), owners: new Map(), rules: 0, elements: 0, hairpinRefs: new Map() };
    });
    // --nodeport-addresses with no CIDR of a family: no NodePorts in that family.
  }

  /** Subscribes to the store. Nothing is written before markSynced(). */
  start(): void {
    this.#unsubscribe = this.#options.store.subscribe((change) => this.#onChange(change));
    for (const key of this.#options.store.keys('EndpointSlice')) this.#trackSlice(key);
  }

  /** Services and EndpointSlices have listed once: the first (full) sync may run. */
  markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#schedule(0);
  }

  /** True once a sync has been applied (healthz). */
  get healthy(): boolean {
    if (!this.#firstApplied) return false;
    // A sync failing for two periods in a row means the rules no longer follow the cluster.
    return this.#failingSince === undefined || Date.now() - this.#failingSince < 2 * this.#syncPeriodMs;
  }

  get lastSuccess(): number {
    return this.#lastSuccess;
  }

  /** Runs a sync now (after markSynced) and waits for it; for tests and benchmarks. */
  async syncNow(options: { full?: boolean } = {}): Promise<void> {
    if (options.full) this.#needFull = true;
    if (this.#syncing) await this.#syncing;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#runSync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    clearTimeout(this.#resyncTimer);
    await this.#syncing;
  }

  #onChange(change: StoreChange): void {
    if (change.kind === 'Service') this.#dirty.add(change.key);
    else if (change.kind === 'EndpointSlice') {
      const before = this.#sliceOwner.get(change.key);
      if (before !== undefined) this.#dirty.add(before);
      const after = this.#trackSlice(change.key);
      if (after !== undefined) this.#dirty.add(after);
    } else if (change.kind === 'Node') {
      this.#checkNode(change.key);
      return;
    } else return;
    if (this.#synced) this.#schedule(Math.max(0, this.#lastSyncStart + this.#minSyncMs - Date.now()));
  }

  /** Re-indexes one slice; returns the Service key it now belongs to. */
  #trackSlice(sliceKey: string): string | undefined {
    const before = this.#sliceOwner.get(sliceKey);
    if (before !== undefined) {
      this.#slicesByService.get(before)?.delete(sliceKey);
      if (this.#slicesByService.get(before)?.size === 0) this.#slicesByService.delete(before);
      this.#sliceOwner.delete(sliceKey);
    }
    const slice = this.#options.store.get('EndpointSlice', sliceKey) as EndpointSlice | undefined;
    const service = slice?.metadata.labels?.[SERVICE_NAME_LABEL];
    if (slice === undefined || service === undefined) return undefined;
    const serviceKey = `${slice.metadata.namespace ?? 'default'}/${service}`;
    this.#sliceOwner.set(sliceKey, serviceKey);
    let set = this.#slicesByService.get(serviceKey);
    if (!set) this.#slicesByService.set(serviceKey, (set = new Set()));
    set.add(sliceKey);
    return serviceKey;
  }

  #checkNode(name: string): void {
    const node = this.#options.store.get('Node', name);
    if (node?.kind !== 'Node') return this.#report(`Node ${name}`, []);
    const problems: ServiceDiagnostic[] =
      (node.status?.addresses ?? []).length === 0 ? [{ object: `Node ${name}`, field: 'status.addresses', message: 'the Node has no addresses; ignored' }] : [];
    this.#report(`Node ${name}`, problems);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#timer !== undefined) return;
    if (this.#syncing) {
      // Runs again when the current sync ends (see #runSync).
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#runSync();
    }, delayMs);
  }

  async #runSync(): Promise<void> {
    if (this.#stopped || !this.#synced) return;
    if (this.#syncing) return this.#syncing;
    this.#syncing = this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    await this.#syncing;
  }

  async #sync(): Promise<void> {
    const started = performance.now();
    this.#lastSyncStart = Date.now();
    const full = this.#needFull;
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const keys = full ? this.#options.store.keys('Service').concat([...dirty]) : [...dirty];
    const services = [...new Set(keys)].sort();
    let operations = 0;
    const outcomes: Array<{ before: readonly PortOutcome[]; after: readonly PortOutcome[] }> = [];
    try {
      for (const state of this.#families) {
        const { updates, owners, changes } = this.#buildFamily(state, services, full);
        const hairpinBase = full ? new Map<string, number>() : state.hairpinRefs;
        const hairpin = hairpinDelta(hairpinBase, full ? [...updates.values()].map((after) => ({ before: undefined, after })) : changes);
        const table = { family: tableFamily(state.family), name: this.#options.tableName ?? PROXY_TABLE_NAME };
        let tx;
        if (full) {
          const existing = await this.#options.nft.listTable(table);
          const present = new Set(existing?.chains ?? []);
          // The applied state is trusted only when this process applied it, the last sync succeeded
          // and its chains still exist; a new process finds the previous one's table: rewrite it all.
          const trusted = this.#firstApplied && this.#failingSince === undefined && existing !== undefined && [...state.fragments.values()].every((f) => [...f.chains.keys()].every((c) => present.has(c)));
          const wanted = new Map<string, ServiceFragment>();
          for (const [key, fragment] of updates) if (fragment) wanted.set(key, fragment);
          tx = renderFullSync(table, state.base, wanted, existing, trusted ? state.fragments : undefined, [...hairpin.counts].filter(([, n]) => n > 0).map(([ip]) => ip).sort().map((ip) => hairpinElement(ip)));
        } else tx = renderPartialSync(table, changes, hairpin);
        await this.#options.nft.run(tx);
        operations += tx.size;
        for (const change of changes) outcomes.push({ before: change.before?.ports ?? [], after: change.after?.ports ?? [] });
        // Commit per family at once: a later family's failure must not make us forget this one.
        this.#commit(state, full, updates, owners, changes);
        for (const [ip, count] of hairpin.counts) {
          if (count > 0) hairpinBase.set(ip, count);
          else hairpinBase.delete(ip);
        }
        state.hairpinRefs = hairpinBase;
      }
    } catch (error) {
      this.#needFull = true;
      for (const key of dirty) this.#dirty.add(key);
      this.#failingSince ??= Date.now();
      this.#log.error(
        { code: 'PORTICO_ERR_SERVICE_PROXY_SYNC', err: (error as Error).message, kind: (error as { kind?: string }).kind, full },
        `service-proxy: ${full ? 'full' : 'partial'} sync failed (the previous rules stay in place); retrying in ${this.#syncPeriodMs / 1000}s: ${(error as Error).message}`,
      );
      this.#options.observer?.syncFailed(error, full);
      // kube-proxy's retry: the next full sync after --sync-period (sooner if something changes).
      this.#scheduleAfterSync(undefined);
      return;
    }
    this.#needFull = false;
    this.#failingSince = undefined;
    this.#firstApplied = true;
    this.#lastSuccess = Date.now();
    await this.#afterSync(outcomes);
    const seconds = (performance.now() - started) / 1000;
    const counts = this.#counts();
    this.#options.observer?.synced({ full, seconds, services: services.length, operations, ...counts });
    this.#log.debug({ full, seconds, services: services.length, operations, ...counts }, 'service-proxy: sync applied');
    this.#scheduleAfterSync(this.#dirty.size > 0 ? this.#minSyncMs : undefined);
  }

  #scheduleAfterSync(delayMs: number | undefined): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (delayMs !== undefined) this.#schedule(delayMs);
    // The periodic full resync restores anything changed by hand; every sync pushes it back.
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = undefined;
      this.#needFull = true;
      void this.#runSync();
    }, this.#syncPeriodMs);
  }

  /**
   * Rebuilds the fragments of `services` for one family (all of them on a full sync) without
   * touching the applied state: a failed transaction must leave it as it was.
   */
  #buildFamily(state: FamilyState, services: readonly string[], full: boolean) {
    const updates = new Map<string, ServiceFragment | undefined>();
    const owners = new OwnerView(full ? new Map() : state.owners);
    const changes: FragmentChange[] = [];
    const released = new Set<string>();
    for (const key of services) {
      const before = state.fragments.get(key);
      if (!full && before) {
        for (const e of before.elements) {
          const id = `${e.set}\u0000${e.key}`;
          if (owners.get(id) === key) {
            owners.delete(id);
            released.add(id);
          }
        }
      }
      const after = this.#buildService(state, key, owners);
      updates.set(key, after);
      changes.push({ before, after });
    }
    // A key another Service gave up may now belong to one that lost it earlier: rebuild those too.
    // Only those that lost one of the released keys (a rebuild of each one per sync is O(conflicts)).
    if (!full && released.size > 0) {
      for (const [id, lostIds] of this.#lostConflict) {
        if (![...lostIds].some((lostId) => released.has(lostId))) continue;
        const [family, key] = [Number(id.slice(0, 1)), id.slice(2)];
        if (family !== state.family || updates.has(key)) continue;
        const before = state.fragments.get(key);
        const after = this.#buildService(state, key, owners);
        updates.set(key, after);
        changes.push({ before, after });
      }
    }
    return { updates, owners, changes };
  }

  #commit(state: FamilyState, full: boolean, updates: Map<string, ServiceFragment | undefined>, owners: OwnerView, changes: readonly FragmentChange[]): void {
    if (full) {
      state.fragments = new Map();
      state.owners = new Map();
      state.rules = 0;
      state.elements = 0;
    }
    for (const [key, fragment] of updates) {
      if (fragment) state.fragments.set(key, fragment);
      else state.fragments.delete(key);
    }
    for (const [id, key] of owners.delta) {
      if (key === undefined) state.owners.delete(id);
      else state.owners.set(id, key);
    }
    for (const { before, after } of full ? changes.map((c) => ({ before: undefined, after: c.after })) : changes) {
      const was = fragmentSize(before);
      const now = fragmentSize(after);
      state.rules += now.rules - was.rules;
      state.elements += now.elements - was.elements;
    }
  }

  #buildService(state: FamilyState, key: string, owners: OwnerView): ServiceFragment | undefined {
    const service = this.#options.store.get('Service', key) as Service | undefined;
    const slices = this.#slicesFor(key);
    if (!service) {
      if (slices.length > 0 && state.family === this.#families[0]!.family) {
        this.#report(`EndpointSlices of ${key}`, [
          { object: `EndpointSlice ${slices[0]!.metadata.namespace}/${slices[0]!.metadata.name}`, field: `metadata.labels["${SERVICE_NAME_LABEL}"]`, message: `names Service ${key}, which does not exist; ignored` },
        ]);
      }
      this.#report(`Service ${key}`, []);
      return undefined;
    }
    this.#report(`EndpointSlices of ${key}`, []);
    const compiled = compileServicePorts(service, state.family);
    const diagnostics = [...compiled.diagnostics];
    if (compiled.ports.length === 0) {
      this.#report(`Service ${key}`, diagnostics);
      return undefined;
    }
    const addressType = state.family === 4 ? 'IPv4' : 'IPv6';
    const usable = slices.filter((s) => s.metadata.labels?.[HEADLESS_LABEL] === undefined);
    const endpoints = new Map<string, ServiceEndpoint[]>();
    for (const port of compiled.ports) {
      endpoints.set(port.id, resolveSliceEndpoints(usable, { portName: port.portName, addressType, nodeName: this.#options.nodeName }));
    }
    const built = buildServiceFragment(compiled.ports, endpoints, state.options);
    // An element key (an externalIP:port two Services both claim) belongs to whoever had it first.
    const lostIds = new Set<string>();
    const elements = built.elements.filter((e) => {
      const id = `${e.set}\u0000${e.key}`;
      const owner = owners.get(id);
      if (owner !== undefined && owner !== key) {
        lostIds.add(id);
        // One report per entry point, not one per endpoint slot of it.
        if (!ENDPOINT_MAP.test(e.set)) diagnostics.push({ object: `Service ${key}`, field: 'spec.externalIPs', message: `${e.key.replace(/ \. /g, ' ')} is already used by Service ${owner}; ignored` });
        return false;
      }
      owners.set(id, key);
      return true;
    });
    const lost = elements.length !== built.elements.length;
    if (lost) this.#lostConflict.set(`${state.family} ${key}`, lostIds);
    else this.#lostConflict.delete(`${state.family} ${key}`);
    this.#report(`Service ${key}`, diagnostics);
    return lost ? { ...built, elements } : built;
  }

  #slicesFor(serviceKey: string): EndpointSlice[] {
    const keys = this.#slicesByService.get(serviceKey);
    if (!keys) return [];
    const slices: EndpointSlice[] = [];
    for (const key of [...keys].sort()) {
      const slice = this.#options.store.get('EndpointSlice', key) as EndpointSlice | undefined;
      if (slice) slices.push(slice);
    }
    return slices;
  }

  async #afterSync(outcomes: ReadonlyArray<{ before: readonly PortOutcome[]; after: readonly PortOutcome[] }>): Promise<void> {
    if (this.#options.conntrack) {
      try {
        await clearStaleConntrack(this.#options.conntrack, outcomes);
      } catch (error) {
        this.#log.warn({ code: 'PORTICO_ERR_SERVICE_PROXY_CONNTRACK', err: (error as Error).message }, `service-proxy: clearing stale UDP conntrack entries failed (UDP clients of removed endpoints may stall until their flows expire): ${(error as Error).message}`);
      }
    }
    if (this.#options.healthChecks) {
      const targets = new Map<number, HealthCheckTarget>();
      for (const state of this.#families) {
        for (const fragment of state.fragments.values()) {
          for (const port of fragment.ports) {
            const hc = port.info.healthCheckNodePort;
            if (hc === undefined) continue;
            const seen = targets.get(hc);
            targets.set(hc, { namespace: port.info.namespace, name: port.info.name, localEndpoints: Math.max(seen?.localEndpoints ?? 0, port.localReady) });
          }
        }
      }
      try {
        await this.#options.healthChecks.sync(targets);
      } catch (error) {
        this.#log.warn({ err: (error as Error).message }, `service-proxy: health-check servers: ${(error as Error).message}`);
      }
    }
  }

  #counts(): { rules: number; elements: number } {
    let rules = 0;
    let elements = 0;
    for (const state of this.#families) {
      for (const chain of state.base.chains.values()) rules += chain.rules.length;
      rules += state.rules;
      elements += state.elements;
    }
    return { rules, elements };
  }

  /** Logs an object's diagnostics when they differ from what was last said about it. */
  #report(id: string, diagnostics: readonly ServiceDiagnostic[]): void {
    const text = diagnostics.map((d) => `${d.field}: ${d.message}`).join('; ');
    if ((this.#reported.get(id) ?? '') === text) return;
    if (text === '') {
      this.#reported.delete(id);
      this.#log.info({ object: id }, `${id} is valid again`);
      return;
    }
    this.#reported.set(id, text);
    for (const d of diagnostics) {
      const code = d.object.startsWith('Node') ? 'PORTICO_ERR_SERVICE_PROXY_NODE' : 'PORTICO_ERR_SERVICE_PROXY_OBJECT';
      this.#log.error({ code, object: d.object, field: d.field }, `${d.object} ${d.field}: ${d.message}`);
      // `Kind ns/name` or `Kind name` (cluster-scoped).
      const [kind = '', ref = ''] = d.object.split(' ');
      const slash = ref.indexOf('/');
      const object = slash < 0 ? { kind, name: ref } : { kind, namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
      this.#options.onDiagnostic?.({ severity: 'error', code, object, field: d.field, message: d.message });
    }
  }
}

const ENDPOINT_MAP = /^(?:service|nodeport)-endpoints-/;

function hairpinElement(ip: string): ElementState {
  return { set: HAIRPIN_SET, key: `${ip} . ${ip}` };
}

/**
 * The new refcounts of the endpoint IPs `changes` touch (not a copy of all of them: a partial sync
 * must not cost O(endpoints)), and the elements that appear or disappear. `current` is not changed.
 */
function hairpinDelta(current: ReadonlyMap<string, number>, changes: readonly FragmentChange[]) {
  const counts = new Map<string, number>();
  for (const { before, after } of changes) {
    for (const ip of before?.hairpin ?? []) counts.set(ip, (counts.get(ip) ?? current.get(ip) ?? 0) - 1);
    for (const ip of after?.hairpin ?? []) counts.set(ip, (counts.get(ip) ?? current.get(ip) ?? 0) + 1);
  }
  const adds: ElementState[] = [];
  const deletes: ElementState[] = [];
  for (const [ip, count] of counts) {
    const was = current.get(ip) ?? 0;
    if (was === 0 && count > 0) adds.push(hairpinElement(ip));
    else if (was > 0 && count <= 0) deletes.push(hairpinElement(ip));
  }
  return { counts, adds, deletes };
}

/**
 * UDP has no connection to reset: a conntrack entry NATed to a gone endpoint keeps a client
 * sending into the void. Clear entries to removed endpoints, and (as kube-proxy does) entries of
 * Services that just got endpoints, which were created while the traffic was rejected.
 */
export async function clearStaleConntrack(
  conntrack: ConntrackCleaner,
  outcomes: ReadonlyArray<{ before: readonly PortOutcome[]; after: readonly PortOutcome[] }>,
): Promise<void> {
  for (const { before, after } of outcomes) {
    const next = new Map(after.map((p) => [p.info.id, p]));
    for (const old of before) {
      if (old.info.protocol !== 'UDP') continue;
      const now = next.get(old.info.id);
      const kept = new Set(now?.endpointIPs ?? []);
      for (const ip of old.endpointIPs) {
        if (kept.has(ip)) continue;
        for (const vip of [old.info.clusterIP, ...old.info.externalIPs, ...old.info.loadBalancerIPs]) await conntrack.clearEndpoint({ serviceIP: vip, endpointIP: ip, protocol: 'udp' });
        if (old.info.nodePort !== undefined) await conntrack.clearNodePort({ nodePort: old.info.nodePort, endpointIP: ip, protocol: 'udp' });
      }
    }
    const previous = new Map(before.map((p) => [p.info.id, p]));
    for (const now of after) {
      if (now.info.protocol !== 'UDP' || !now.hasEndpoints || previous.get(now.info.id)?.hasEndpoints) continue;
      for (const vip of [now.info.clusterIP, ...now.info.externalIPs, ...now.info.loadBalancerIPs]) await conntrack.clearServiceIP({ serviceIP: vip, protocol: 'udp' });
      if (now.info.nodePort !== undefined) await conntrack.clearNodePortAll({ nodePort: now.info.nodePort, protocol: 'udp' });
    }
  }
}
