import { compileBackendDiagnostics } from '../compile/backend-diagnostics.js';
import { compileBackends, compileRoutes, type CompileOptions } from '../compile/index.js';
import { Holdoff } from '../lib/holdoff.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectKind } from '../model/k8s-objects.js';
import type { BackendEndpoints, BuildChanges, BuildPart, Diagnostic, RouteLookup, RouteModel } from '../model/route-model.js';
import { RouteTable } from '../routing/route-table.js';
import { pipelineExtender, RateLimitStore, type PipelineMatch } from '../proxy/policies/pipeline.js';
import { compileTls, type TlsPlan } from '../tls/compile-tls.js';
import { configHash } from './config-hash.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';

/** Where compiled state goes: the proxy's atomic route swap and the backend registry. */
export interface RouteSink {
  setRoutes(lookup: RouteLookup<PipelineMatch>): void;
}
export interface BackendSink {
  sync(next: ReadonlyMap<string, BackendEndpoints>): void;
}

export interface TlsSink {
  apply(plan: TlsPlan): { fallbackChanged: boolean };
}

export interface ControllerTlsOptions {
  readonly sink: TlsSink;
  /** `namespace/name` of --default-ssl-certificate. */
  readonly defaultSecret?: string;
  /** Called after a plan whose default certificate changed was applied (the listener re-reads it). */
  readonly onDefaultCertificateChange?: () => void;
  /** Clock for certificate validity; tests pin it. */
  readonly now?: () => Date;
  /** How often certificate validity is re-checked without any change (expiry happens silently). */
  readonly recheckMs?: number;
}


/** What a build recompiled. */
export type { BuildChanges, BuildPart };

/** How a build is counted (portico_rebuilds_total{kind}): the widest part it recompiled. */
export function buildKind(changes: BuildChanges): BuildPart {
  return changes.routes ? 'routes' : changes.endpoints ? 'endpoints' : 'tls';
}

/** Told about every successful build (status writers, Events, metrics). */
export interface ControllerObserver {
  /** After every build; `model.diagnostics` includes the TLS and backend (endpoint) ones. */
  configurationBuilt?(model: RouteModel, changed: BuildChanges): void;
  rebuilt?(kind: BuildPart, seconds: number): void;
  /** A build threw; the last good configuration keeps serving and the build is retried on the next change. */
  rebuildFailed?(error: unknown): void;
}

export interface ControllerOptions {
  store: ObjectStore;
  compile: CompileOptions;
  routes: RouteSink;
  backends: BackendSink;
  logger: Logger;
  /** Quiet period after the last event before rebuilding (default 10 ms). */
  holdoffMs?: number;
  /**
   * Upper bound on how long a burst of events can delay a rebuild (default 50 ms); raised to twice
   * the last build's duration when builds are slower, so a constant stream of changes to a large
   * configuration cannot keep a core busy rebuilding.
   */
  maxHoldoffMs?: number;
  /** Clock for build durations, ms (tests pin it). */
  now?: () => number;
  /** TLS termination: certificates per host from Ingress spec.tls and Secrets. */
  tls?: ControllerTlsOptions;
  observers?: readonly ControllerObserver[];
}

export interface ControllerStats {
  routeBuilds: number;
  tlsApplies: number;
  endpointSyncs: number;
  lastBuildMs: number;
  lastSyncAt: number | undefined;
}

/** Which part a change of each kind makes dirty (Secrets only with TLS; Nodes never). */
const PART_OF_KIND: Partial<Record<ObjectKind, BuildPart>> = {
  Ingress: 'routes',
  IngressClass: 'routes',
  Service: 'endpoints',
  EndpointSlice: 'endpoints',
  Secret: 'tls',
};

const ALL_PARTS: readonly BuildPart[] = ['routes', 'tls', 'endpoints'];

/**
 * The one rebuild loop. Store events mark what is dirty; a holdoff coalesces bursts; nothing is
 * built before the sources report their initial sync. Route changes recompile the model and swap
 * a new RouteTable; endpoint-only changes re-resolve endpoints and leave the table alone.
 */
export class Controller {
  readonly #options: ControllerOptions;
  readonly #log: Logger;
  readonly #holdoff: Holdoff;
  readonly #now: () => number;
  /** Builds each route's steps; its rate-limit zones outlive builds. */
  readonly #extend = pipelineExtender({ rateLimits: new RateLimitStore() });
  #unsubscribe: (() => void) | undefined;
  #synced = false;
  /** What changed since the last successful build; everything at first. */
  #dirty = new Set<BuildPart>(ALL_PARTS);
  #model: RouteModel | undefined;
  #tlsDiagnostics: readonly Diagnostic[] = [];
  /** The last applied plan: its certificates outlive a Secret that stops parsing. */
  #tlsPlan: TlsPlan | undefined;
  #backendDiagnostics: readonly Diagnostic[] = [];
  #tlsTimer: NodeJS.Timeout | undefined;
  #reportedDiagnostics = new Set<string>();
  readonly stats: ControllerStats = { routeBuilds: 0, tlsApplies: 0, endpointSyncs: 0, lastBuildMs: 0, lastSyncAt: undefined };

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'controller' });
    this.#now = options.now ?? (() => performance.now());
    this.#holdoff = new Holdoff({
      delayMs: options.holdoffMs ?? 10,
      maxDelayMs: options.maxHoldoffMs ?? 50,
      run: () => this.rebuild(),
    });
  }

  start(): void {
    this.#unsubscribe = this.#options.store.subscribe(this.#onChange);
    const tls = this.#options.tls;
    if (tls) {
      this.#tlsTimer = setInterval(() => this.#markDirty('tls'), tls.recheckMs ?? 3_600_000);
      this.#tlsTimer.unref();
    }
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#holdoff.cancel();
    clearInterval(this.#tlsTimer);
  }

  /** Called once every source has delivered its initial state: builds at once and becomes ready. */
  markSynced(): void {
    this.#synced = true;
    this.#holdoff.cancel();
    this.rebuild();
  }

  get ready(): boolean {
    return this.#synced && this.#model !== undefined;
  }

  get model(): RouteModel | undefined {
    return this.#model;
  }

  /** configHash() of the routes and TLS plan serving now (0 before the first build); recomputed by routes and TLS builds only. */
  get configHash(): number {
    return this.#configHash;
  }
  #configHash = 0;

  /** The current cap on a burst's rebuild delay (see maxHoldoffMs). */
  get maxHoldoffMs(): number {
    return this.#holdoff.maxDelayMs;
  }

  #onChange = (change: StoreChange): void => {
    // A Secret an auth annotation reads is part of the routes (its users are in the basicAuth policy).
    if (change.kind === 'Secret' && this.#model?.authSecrets?.includes(change.key)) this.#markDirty('routes');
    // The --configmap ConfigMap and the header lists it names are part of the routes' defaults.
    if (change.kind === 'ConfigMap' && (change.key === this.#options.compile.configMap || this.#model?.configMaps?.includes(change.key))) this.#markDirty('routes');
    const part = PART_OF_KIND[change.kind];
    if (part === undefined || (part === 'tls' && !this.#options.tls)) return;
    this.#markDirty(part);
  };

  #markDirty(part: BuildPart): void {
    this.#dirty.add(part);
    if (this.#synced) this.#holdoff.trigger();
  }

  /**
   * What a build of `dirty` recompiles: a route change (or the first build) recompiles everything,
   * since certificates and endpoints follow from the routes' hosts and backends.
   */
  #plan(dirty: ReadonlySet<BuildPart>): BuildChanges {
    const routes = dirty.has('routes') || this.#model === undefined;
    const tls = this.#options.tls !== undefined && (routes || dirty.has('tls'));
    return { routes, tls, endpoints: routes || dirty.has('endpoints') };
  }

  /**
   * Applies whatever is dirty now. Never throws: a failed build keeps the last good state, and what
   * it was building stays dirty, so the next trigger (any event) builds it again.
   */
  rebuild(): void {
    if (!this.#synced || this.#dirty.size === 0) return;
    const started = this.#now();
    const snapshot = this.#options.store.snapshot();
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const changes = this.#plan(dirty);
    try {
      let table: RouteTable<PipelineMatch> | undefined;
      if (changes.routes) {
        const model = compileRoutes(snapshot, this.#options.compile);
        // Each route's steps are composed here, once per build, not per request.
        table = RouteTable.build(model, { extend: this.#extend });
        this.#model = model;
        this.stats.routeBuilds++;
      }
      const model = this.#model!;
      const tls = this.#options.tls;
      if (tls && changes.tls) {
        // Certificates before routes: a host that just gained TLS has its certificate when routed.
        const plan = compileTls(model.tls, snapshot.secrets, {
          now: tls.now?.() ?? new Date(),
          ...(tls.defaultSecret !== undefined && { defaultSecret: tls.defaultSecret }),
          ...(this.#tlsPlan !== undefined && { lastValid: this.#tlsPlan.certificates }),
        });
        this.#tlsPlan = plan;
        if (tls.sink.apply(plan).fallbackChanged) tls.onDefaultCertificateChange?.();
        this.#tlsDiagnostics = plan.diagnostics;
        this.stats.tlsApplies++;
      }
      if (changes.endpoints) {
        const endpoints = compileBackends(snapshot, model.backends);
        // Backends first, so a new route never points at a backend the registry doesn't know yet.
        this.#options.backends.sync(endpoints);
        this.stats.endpointSyncs++;
        this.#backendDiagnostics = compileBackendDiagnostics(model, endpoints);
      }
      if (table) this.#options.routes.setRoutes(table);
      if (changes.routes || changes.tls) this.#configHash = configHash(model, this.#tlsPlan);
      const diagnostics = [...model.diagnostics, ...this.#tlsDiagnostics, ...this.#backendDiagnostics];
      this.#reportDiagnostics(diagnostics);
      const built: RouteModel = { ...model, diagnostics };
      this.stats.lastBuildMs = this.#now() - started;
      this.#holdoff.maxDelayMs = Math.max(this.#options.maxHoldoffMs ?? 50, 2 * this.stats.lastBuildMs);
      this.stats.lastSyncAt = Date.now();
      const kind = buildKind(changes);
      for (const observer of this.#options.observers ?? []) {
        observer.configurationBuilt?.(built, changes);
        observer.rebuilt?.(kind, this.stats.lastBuildMs / 1000);
      }
      this.#log.debug({ ...changes, kind, ms: Number(this.stats.lastBuildMs.toFixed(2)) }, `${kind} rebuilt`);
    } catch (error) {
      // Keep serving the last good table. Everything this build touched may be half-applied: mark
      // it all dirty again, together with what was dirty, for the next trigger.
      for (const part of dirty) this.#dirty.add(part);
      for (const part of ALL_PARTS) if (changes[part]) this.#dirty.add(part);
      this.#log.error({ err: error as Error, ...changes }, 'rebuild failed; the last good configuration keeps serving');
      for (const observer of this.#options.observers ?? []) observer.rebuildFailed?.(error);
    }
  }

  #reportDiagnostics(diagnostics: readonly Diagnostic[]): void {
    const current = new Set<string>();
    for (const diagnostic of diagnostics) {
      const id = `${diagnostic.code} ${diagnostic.object.kind} ${diagnostic.object.namespace ?? ''}/${diagnostic.object.name} ${diagnostic.field ?? ''} ${diagnostic.message}`;
      current.add(id);
      if (this.#reportedDiagnostics.has(id)) continue;
      const { object } = diagnostic;
      const name = object.namespace ? `${object.namespace}/${object.name}` : object.name;
      this.#log[diagnostic.severity === 'error' ? 'error' : 'warn'](
        { code: diagnostic.code, object: `${object.kind} ${name}`, field: diagnostic.field },
        `${object.kind} ${name}${diagnostic.field ? ` ${diagnostic.field}` : ''}: ${diagnostic.message}`,
      );
    }
    this.#reportedDiagnostics = current;
  }
}
