import { compileBackendDiagnostics } from '../compile/backend-diagnostics.js';
import { compileBackends, compileRoutes, type CompileOptions } from '../compile/index.js';
import { Holdoff } from '../lib/holdoff.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectKind } from '../model/k8s-objects.js';
import type { BackendEndpoints, Diagnostic, RouteLookup, RouteModel } from '../model/route-model.js';
import { RouteTable } from '../routing/route-table.js';
import { compileTls, type TlsPlan } from '../tls/compile-tls.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';

/** Where compiled state goes: the proxy's atomic route swap and the backend registry. */
export interface RouteSink {
  setRoutes(lookup: RouteLookup): void;
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

/** What a build recompiled: routes (Ingress/IngressClass), certificates, endpoints. */
export interface BuildChanges {
  readonly routes: boolean;
  readonly tls: boolean;
  readonly endpoints: boolean;
}

/** Told about every successful build (status writers, Events, metrics). */
export interface ControllerObserver {
  /** After every build; `model.diagnostics` includes the TLS and backend (endpoint) ones. */
  configurationBuilt?(model: RouteModel, changed: BuildChanges): void;
  rebuilt?(kind: 'routes' | 'endpoints', seconds: number): void;
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

/** Kinds whose changes can alter routes; Service/EndpointSlice changes only touch endpoints. */
const ROUTE_KINDS: ReadonlySet<ObjectKind> = new Set(['Ingress', 'IngressClass']);
const ENDPOINT_KINDS: ReadonlySet<ObjectKind> = new Set(['Service', 'EndpointSlice']);

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
  #unsubscribe: (() => void) | undefined;
  #synced = false;
  #routesDirty = true;
  #endpointsDirty = true;
  #model: RouteModel | undefined;
  #tlsDirty = true;
  #tlsDiagnostics: readonly Diagnostic[] = [];
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
      this.#tlsTimer = setInterval(() => {
        this.#tlsDirty = true;
        if (this.#synced) this.#holdoff.trigger();
      }, tls.recheckMs ?? 3_600_000);
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

  /** The current cap on a burst's rebuild delay (see maxHoldoffMs). */
  get maxHoldoffMs(): number {
    return this.#holdoff.maxDelayMs;
  }

  #onChange = (change: StoreChange): void => {
    if (ROUTE_KINDS.has(change.kind)) this.#routesDirty = true;
    else if (ENDPOINT_KINDS.has(change.kind)) this.#endpointsDirty = true;
    else if (change.kind === 'Secret' && this.#options.tls) this.#tlsDirty = true;
    else return;
    if (this.#synced) this.#holdoff.trigger();
  };

  /** Applies whatever is dirty now. Never throws: a failed build keeps the last good state. */
  rebuild(): void {
    if (!this.#synced || (!this.#routesDirty && !this.#endpointsDirty && !this.#tlsDirty)) return;
    const started = this.#now();
    const snapshot = this.#options.store.snapshot();
    const routesChanged = this.#routesDirty;
    const endpointsChanged = this.#endpointsDirty;
    const tlsChanged = this.#tlsDirty;
    this.#routesDirty = false;
    this.#endpointsDirty = false;
    this.#tlsDirty = false;
    try {
      let table: RouteTable | undefined;
      if (routesChanged || this.#model === undefined) {
        const model = compileRoutes(snapshot, this.#options.compile);
        table = RouteTable.build(model);
        this.#model = model;
        this.stats.routeBuilds++;
      }
      const tls = this.#options.tls;
      if (tls && (table || tlsChanged)) {
        // Certificates before routes: a host that just gained TLS has its certificate when routed.
        const plan = compileTls(this.#model.tls, snapshot.secrets, {
          now: tls.now?.() ?? new Date(),
          ...(tls.defaultSecret !== undefined && { defaultSecret: tls.defaultSecret }),
        });
        if (tls.sink.apply(plan).fallbackChanged) tls.onDefaultCertificateChange?.();
        this.#tlsDiagnostics = plan.diagnostics;
        this.stats.tlsApplies++;
      }
      if (table || endpointsChanged) {
        const endpoints = compileBackends(snapshot, this.#model.backends);
        // Backends first, so a new route never points at a backend the registry doesn't know yet.
        this.#options.backends.sync(endpoints);
        this.stats.endpointSyncs++;
        this.#backendDiagnostics = compileBackendDiagnostics(this.#model, endpoints);
      }
      if (table) this.#options.routes.setRoutes(table);
      const diagnostics = [...this.#model.diagnostics, ...this.#tlsDiagnostics, ...this.#backendDiagnostics];
      this.#reportDiagnostics(diagnostics);
      const built: RouteModel = { ...this.#model, diagnostics };
      this.stats.lastBuildMs = this.#now() - started;
      this.#holdoff.maxDelayMs = Math.max(this.#options.maxHoldoffMs ?? 50, 2 * this.stats.lastBuildMs);
      this.stats.lastSyncAt = Date.now();
      for (const observer of this.#options.observers ?? []) {
        observer.configurationBuilt?.(built, { routes: table !== undefined, tls: tlsChanged || table !== undefined, endpoints: endpointsChanged || table !== undefined });
        observer.rebuilt?.(routesChanged ? 'routes' : 'endpoints', this.stats.lastBuildMs / 1000);
      }
      this.#log.debug(
        { routes: routesChanged, endpoints: endpointsChanged, tls: tlsChanged, ms: Number(this.stats.lastBuildMs.toFixed(2)) },
        routesChanged ? 'routes rebuilt' : endpointsChanged ? 'endpoints updated' : 'certificates updated',
      );
    } catch (error) {
      // Keep serving the last good table; retry on the next event.
      this.#routesDirty ||= routesChanged;
      this.#endpointsDirty = true;
      this.#tlsDirty = true;
      this.#log.error({ err: error as Error }, 'rebuild failed; the last good configuration keeps serving');
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
