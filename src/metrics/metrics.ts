import { hostname } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type HistogramConfiguration } from 'prom-client';
import type { RequestObserver } from '../model/request-observer.js';
import type { Route, RouteMatch } from '../model/route-model.js';
import { readBuildInfo, type BuildInfo } from './build-info.js';

/** Which part a rebuild recompiled (the widest): routes, endpoints only, or certificates only. */
export type RebuildKind = 'routes' | 'endpoints' | 'tls';

export interface PorticoMetricsOptions {
  /** Default process/Node.js metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …). Default true. */
  defaultMetrics?: boolean;
  /** Histogram buckets for request and upstream durations (seconds). */
  durationBuckets?: number[];
  /**
   * Also export the request and configuration metrics under ingress-nginx's names and labels
   * (`nginx_ingress_controller_*`, see NGINX_* below and the README's mapping), so its dashboards
   * work unchanged: 'nginx' (the default) or 'none'.
   */
  compat?: MetricsCompat;
  /** ingress-nginx's constant labels: controller_class (IngressClass spec.controller), controller_namespace, controller_pod. */
  controller?: Partial<ControllerLabels>;
  /** Version, commit, Node.js: default readBuildInfo(). */
  build?: BuildInfo;
}

export type MetricsCompat = 'nginx' | 'none';
export const METRICS_COMPAT: readonly MetricsCompat[] = ['nginx', 'none'];

export type ControllerLabels = Readonly<Record<'controller_class' | 'controller_namespace' | 'controller_pod', string>>;

/** ingress-nginx's defaults: POD_NAMESPACE (else `default`), POD_NAME (else the hostname, which is the pod's name in a pod). */
export function controllerLabels(controllerClass: string, env: NodeJS.ProcessEnv = process.env): ControllerLabels {
  return { controller_class: controllerClass, controller_namespace: env.POD_NAMESPACE || 'default', controller_pod: env.POD_NAME || hostname() };
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REBUILD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Request and response sizes of Portico's own histograms (bytes). */
const SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];
/** ingress-nginx's defaults: --time-buckets, --length-buckets, --size-buckets. */
const NGINX_TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NGINX_LENGTH_BUCKETS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const NGINX_SIZE_BUCKETS = [10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];
/** ingress-nginx's per-request label names (socket.go requestTags, with metrics-per-host). */
const NGINX_REQUEST_LABELS = ['status', 'method', 'path', 'namespace', 'ingress', 'service', 'canary', 'host'] as const;
const CONTROLLER_LABELS = ['controller_class', 'controller_namespace', 'controller_pod'] as const;
/**
 * The method label: these as they are, any other token as OTHER, so a client inventing methods
 * cannot add series. Index × 1000 + status is a request's key in its path's series map.
 */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length - 1;

/** Families a worker reports to the primary (summed there): the per-request ones. */
export const REQUEST_METRIC_NAMES: readonly string[] = [
  'portico_requests_total',
  'portico_request_duration_seconds',
  'portico_upstream_duration_seconds',
  'portico_request_size_bytes',
  'portico_response_size_bytes',
  'nginx_ingress_controller_requests',
  'nginx_ingress_controller_request_duration_seconds',
  'nginx_ingress_controller_response_duration_seconds',
  'nginx_ingress_controller_request_size',
  'nginx_ingress_controller_response_size',
  'nginx_ingress_controller_bytes_sent',
];

/** Pre-resolved children for one (ingress, service): the hot path touches no label objects. */
interface RouteSeries {
  readonly labels: readonly [ingress: string, namespace: string, service: string];
  readonly counters: Array<SeriesCounter | undefined>;
  readonly duration: SeriesHistogram;
  readonly upstream: SeriesHistogram;
  readonly requestSize: SeriesHistogram;
  readonly responseSize: SeriesHistogram;
}

/** One (host, path, ingress, service, canary): the nginx_ingress_controller_* series per method and status, made on first use. */
interface NginxPathSeries {
  /** host, path, namespace, ingress, service, canary (the controller's constant labels are added per series). */
  readonly labels: Readonly<Record<'path' | 'namespace' | 'ingress' | 'service' | 'canary' | 'host', string>>;
  /** method index × 1000 + status → series. */
  readonly byRequest: Map<number, NginxSeries>;
}
interface NginxSeries {
  readonly requests: SeriesCounter;
  readonly duration: SeriesHistogram;
  readonly response: SeriesHistogram;
  readonly requestSize: SeriesHistogram;
  readonly responseSize: SeriesHistogram;
  readonly bytesSent: SeriesHistogram;
}
/** A route's nginx series: the main backend's, and a canary's (the backend a canary step chose). */
interface NginxRouteSeries {
  readonly host: string;
  readonly main: NginxPathSeries;
  canary: NginxPathSeries | undefined;
  readonly next: NginxRouteSeries | undefined;
}

/** The nginx_ingress_controller_* families (compat 'nginx'). */
interface NginxFamilies {
  readonly requests: Counter<string>;
  readonly duration: Histogram<string>;
  readonly response: Histogram<string>;
  readonly requestSize: Histogram<string>;
  readonly responseSize: Histogram<string>;
  readonly bytesSent: Histogram<string>;
  readonly configHash: Gauge<string>;
  readonly lastReloadOk: Gauge<string>;
  readonly lastReloadOkAt: Gauge<string>;
  readonly reloads: Counter<string>;
  readonly reloadErrors: Counter<string>;
}

// prom-client's labelled children re-derive their series per call (a label hash string built,
// the labels validated, a lookup): about 2 µs per request for one counter and two histograms. The
// children below add to the very series entry prom-client keeps (its `hashMap`, which it renders
// and resets), found once through prom-client's own call; whenever that entry is no longer the
// one in the map (reset(), remove(), or a prom-client whose internals differ) they take
// prom-client's own path again. test/metrics/metrics.test.ts renders both ways and compares.

/** The parts of a prom-client metric the children below rely on. */
interface SeriesMap<Entry> {
  hashMap?: Record<string, Entry>;
}
interface HistogramEntry {
  sum: number;
  count: number;
  bucketValues: Record<string, number>;
}

/** Where a child's prom-client entry is, while it is still there. */
class EntryRef<Entry> {
  #map: Record<string, Entry> | undefined;
  #key = '';
  entry: Entry | undefined;
  constructor(readonly metric: SeriesMap<Entry>) {}
  /** The entry, or undefined when prom-client has replaced or dropped it. */
  current(): Entry | undefined {
    const entry = this.entry;
    if (entry === undefined) return undefined;
    const map = this.metric.hashMap;
    return map === this.#map && map !== undefined && map[this.#key] === entry ? entry : undefined;
  }
  /**
   * After prom-client's own call: finds the entry whose labels are `labels`, first under the key
   * prom-client 15 files it (`name:value,` per label name in sorted order), else by a scan.
   */
  resolve(labels: Readonly<Record<string, string>>, isEntry: (value: unknown) => value is Entry): void {
    this.entry = undefined;
    const map = this.metric.hashMap;
    if (map === null || typeof map !== 'object') return;
    const names = Object.keys(labels);
    const matches = (value: unknown): value is Entry => {
      const entryLabels = (value as { labels?: Record<string, unknown> } | undefined)?.labels;
      return isEntry(value) && entryLabels !== undefined && Object.keys(entryLabels).length === names.length && names.every((n) => entryLabels[n] === labels[n]);
    };
    const guess = [...names].sort().map((n) => `${n}:${labels[n]},`).join('');
    const keys = Object.hasOwn(map, guess) ? [guess] : Object.keys(map);
    for (const key of keys) {
      const value = map[key];
      if (!matches(value)) continue;
      this.#map = map;
      this.#key = key;
      this.entry = value;
      return;
    }
  }
}

const isHistogramEntry = (value: unknown): value is HistogramEntry =>
  typeof (value as HistogramEntry | undefined)?.sum === 'number' && typeof (value as HistogramEntry).count === 'number' && typeof (value as HistogramEntry).bucketValues === 'object';
const isCounterEntry = (value: unknown): value is { value: number } => typeof (value as { value?: unknown } | undefined)?.value === 'number';

/**
 * The children of one histogram whose bucket counts wait for the next scrape: prom-client keys
 * bucketValues by String(bound), and an object keyed by whole numbers as far apart as 100 and 1e7
 * (byte sizes) is a V8 dictionary, about 100 ns per `+= 1` (the fractional second bounds are fast
 * named properties). So a child adds to sum and count at once and counts buckets in its own array,
 * added to the entry by the histogram's collect(), which prom-client calls before every render or
 * getMetricsAsJSON(). Children are held weakly: those of gone routes are collected.
 */
class PendingBuckets {
  #children: Array<WeakRef<SeriesHistogram>> = [];

  add(child: SeriesHistogram): void {
    this.#children.push(new WeakRef(child));
  }

  readonly flush = (): void => {
    const children = this.#children;
    let kept = 0;
    for (const ref of children) {
      const child = ref.deref();
      if (child === undefined) continue;
      child.flush();
      children[kept++] = ref;
    }
    children.length = kept;
  };
}

const PENDING = new WeakMap<object, PendingBuckets>();

/** A prom-client Histogram whose SeriesHistogram children count buckets between scrapes (PendingBuckets). */
function pendingHistogram<T extends string>(config: HistogramConfiguration<T>): Histogram<T> {
  const pending = new PendingBuckets();
  const histogram = new Histogram<T>({ ...config, collect: pending.flush });
  PENDING.set(histogram, pending);
  return histogram;
}

/** One labelled histogram series: observe() as prom-client's, without the per-call label work. */
class SeriesHistogram {
  readonly #child: Histogram.Internal<string>;
  readonly #labels: Readonly<Record<string, string>>;
  readonly #ref: EntryRef<HistogramEntry>;
  /** Upper bounds and their property names in the entry's bucketValues (String(bound), as prom-client indexes them). */
  readonly #bounds: readonly number[];
  readonly #boundKeys: readonly string[];
  /** Bucket counts not yet in the entry (PendingBuckets); undefined: added to the entry at once. */
  readonly #pending: Float64Array | undefined;

  constructor(histogram: Histogram<string>, labels: Readonly<Record<string, string>>, buckets: readonly number[]) {
    this.#child = histogram.labels(labels);
    this.#labels = labels;
    this.#ref = new EntryRef(histogram as unknown as SeriesMap<HistogramEntry>);
    this.#bounds = buckets;
    this.#boundKeys = buckets.map(String);
    const pending = PENDING.get(histogram);
    this.#pending = pending === undefined ? undefined : new Float64Array(buckets.length);
    pending?.add(this);
  }

  observe(value: number): void {
    const entry = Number.isFinite(value) ? this.#ref.current() : undefined;
    if (entry === undefined) {
      // What is pending belongs to the entry found before: added if it is still there, else dropped.
      this.flush();
      this.#child.observe(value);
      this.#ref.resolve(this.#labels, isHistogramEntry);
      return;
    }
    entry.sum += value;
    entry.count += 1;
    // The first bound >= value (prom-client's findBound); above the last one only +Inf counts it.
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        const pending = this.#pending;
        if (pending !== undefined) pending[i]! += 1;
        else entry.bucketValues[this.#boundKeys[i]!]! += 1;
        return;
      }
    }
  }

  /** Adds the pending bucket counts to the entry, if it is still prom-client's. */
  flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    const entry = this.#ref.current();
    for (let i = 0; i < pending.length; i++) {
      if (pending[i] === 0) continue;
      if (entry !== undefined) entry.bucketValues[this.#boundKeys[i]!]! += pending[i]!;
      pending[i] = 0;
    }
  }
}

/** One labelled counter series: inc() by one, as prom-client's. */
class SeriesCounter {
  readonly #child: Counter.Internal;
  readonly #labels: Readonly<Record<string, string>>;
  readonly #ref: EntryRef<{ value: number }>;

  constructor(counter: Counter<string>, labels: Readonly<Record<string, string>>) {
    this.#child = counter.labels(labels);
    this.#labels = labels;
    this.#ref = new EntryRef(counter as unknown as SeriesMap<{ value: number }>);
  }

  inc(): void {
    const entry = this.#ref.current();
    if (entry === undefined) {
      this.#child.inc();
      this.#ref.resolve(this.#labels, isCounterEntry);
      return;
    }
    entry.value += 1;
  }
}

/**
 * Portico's Prometheus registry, served on the admin port at /metrics (`contentType`, `render()`).
 * Per-request recording is observeRequest(); children are cached per (ingress, service) in nested
 * maps keyed by the strings the RouteMatch already holds, so a request allocates nothing. With
 * compat 'nginx' each request also lands in ingress-nginx's series: cached per route (host, path),
 * per backend (main or canary), then per method and status, each made on first use.
 */
export class PorticoMetrics implements RequestObserver {
  readonly registry = new Registry();
  readonly #requests: Counter<'ingress' | 'namespace' | 'service' | 'status_class'>;
  readonly #requestDuration: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #upstreamDuration: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #requestSize: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #responseSize: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #rebuilds: Counter<'kind'>;
  readonly #rebuildDuration: Histogram<'kind'>;
  readonly #lastSync: Gauge;
  readonly #configHash: Gauge;
  readonly #informerRestarts: Counter<'kind'>;
  readonly #leader: Gauge;
  readonly #statusWrites: Counter<'result'>;
  readonly #certificateExpiry: Gauge<'host' | 'secret'>;
  readonly #handshakeFailures: Counter<'reason'>;
  readonly #connectionsRejected: Counter<'reason'>;
  /** ingress key (`ns/name`, '' for none) → backend key → series. */
  readonly #series = new Map<string, Map<string, RouteSeries>>();
  readonly #buckets: readonly number[];
  readonly #nginx: NginxFamilies | undefined;
  readonly #controller: ControllerLabels;
  /** Route → its nginx series per host (a linked list: a route object is almost always on one host). */
  #nginxRoutes = new WeakMap<Route, NginxRouteSeries>();
  /**
   * Every nginx path series by its labels, so the route objects of each new build find the children
   * (and their pending bucket counts) of the previous one; entries go with their Ingress (#retainNginx).
   */
  readonly #nginxPaths = new Map<string, NginxPathSeries>();
  /** Matches without a route (an Ingress defaultBackend) by backend key, and requests that matched nothing. */
  #nginxDefault = new Map<string, NginxPathSeries>();
  #nginxUnmatched: NginxPathSeries | undefined;
  #appliedHash: number | undefined;
  /** The Ingresses the last retainIngresses kept. */
  #retained: ReadonlySet<string> | undefined;
  /** A route or path series was made since the last retainIngresses walk. */
  #seriesAdded = false;

  constructor(options: PorticoMetricsOptions = {}) {
    const registers = [this.registry];
    const buckets = options.durationBuckets ?? DEFAULT_BUCKETS;
    this.#buckets = buckets;
    this.#controller = { ...controllerLabels(''), ...options.controller };
    const build = options.build ?? readBuildInfo();
    const routeLabels = ['ingress', 'namespace', 'service'] as const;
    this.#requests = new Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by Ingress, namespace, backend Service and status class (1xx-5xx).',
      labelNames: [...routeLabels, 'status_class'],
      registers,
    });
    this.#requestDuration = pendingHistogram({
      name: 'portico_request_duration_seconds',
      help: 'Time from the request arriving to its response ending.',
      labelNames: routeLabels,
      buckets,
      registers,
    });
    this.#upstreamDuration = pendingHistogram({
      name: 'portico_upstream_duration_seconds',
      help: 'Time from sending the request upstream to the upstream response headers.',
      labelNames: routeLabels,
      buckets,
      registers,
    });
    this.#requestSize = pendingHistogram({
      name: 'portico_request_size_bytes',
      help: 'Request size received from the client: request line, headers and body (nginx $request_length).',
      labelNames: routeLabels,
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.#responseSize = pendingHistogram({
      name: 'portico_response_size_bytes',
      help: 'Response size sent to the client: status line, headers and body (nginx $bytes_sent).',
      labelNames: routeLabels,
      buckets: SIZE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'portico_build_info',
      help: "A constant 1 labelled with Portico's version, git commit ('' when unknown) and Node.js version.",
      labelNames: ['version', 'commit', 'node'],
      registers,
    }).set({ version: build.version, commit: build.commit, node: build.node }, 1);
    this.#rebuilds = new Counter({
      name: 'portico_rebuilds_total',
      help: 'Rebuilds applied: routes (full recompile and table swap) or endpoints (fast path).',
      labelNames: ['kind'],
      registers,
    });
    this.#rebuildDuration = new Histogram({
      name: 'portico_rebuild_duration_seconds',
      help: 'Duration of rebuilds, by kind.',
      labelNames: ['kind'],
      buckets: REBUILD_BUCKETS,
      registers,
    });
    this.#lastSync = new Gauge({
      name: 'portico_last_sync_timestamp_seconds',
      help: 'Unix time of the last successful configuration sync (rebuild applied).',
      registers,
    });
    this.#configHash = new Gauge({
      name: 'portico_config_hash',
      help: 'Hash of the configuration serving now (routes, their policies, TLS hosts and certificates): it changes exactly when a routes or TLS rebuild changed something.',
      registers,
    });
    this.#informerRestarts = new Counter({
      name: 'portico_informer_restarts_total',
      help: 'Kubernetes list/watch restarts after errors or expired resourceVersions, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.#leader = new Gauge({
      name: 'portico_leader',
      help: '1 while this replica holds the leader lease (and writes Ingress status), else 0.',
      registers,
    });
    this.#statusWrites = new Counter({
      name: 'portico_status_writes_total',
      help: 'Ingress status writes, by result (ok, error).',
      labelNames: ['result'],
      registers,
    });
    this.#certificateExpiry = new Gauge({
      name: 'portico_ssl_certificate_expiry_timestamp_seconds',
      help: 'When the certificate serving each TLS host expires (Unix time); secret="" is the default certificate.',
      labelNames: ['host', 'secret'],
      registers,
    });
    this.#handshakeFailures = new Counter({
      name: 'portico_tls_handshake_failures_total',
      help: 'Failed TLS handshakes on the HTTPS listener, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.#connectionsRejected = new Counter({
      name: 'portico_connections_rejected_total',
      help: 'Client connections refused before any request (engine data plane), by reason: client-limit (over --max-connections-per-client).',
      labelNames: ['reason'],
      registers,
    });
    this.#connectionsRejected.inc({ reason: 'client-limit' }, 0);
    for (const kind of ['routes', 'endpoints'] as const) this.#rebuilds.inc({ kind }, 0);
    this.#leader.set(0);
    this.#nginx = (options.compat ?? 'nginx') === 'nginx' ? this.#nginxFamilies(build) : undefined;
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** ingress-nginx's families (socket.go, controller.go), with its names, labels and default buckets. */
  #nginxFamilies(build: BuildInfo): NginxFamilies {
    const registers = [this.registry];
    const labelNames = [...NGINX_REQUEST_LABELS, ...CONTROLLER_LABELS];
    const histogram = (name: string, help: string, buckets: readonly number[]) =>
      pendingHistogram({ name: `nginx_ingress_controller_${name}`, help, labelNames, buckets: [...buckets], registers });
    const gauge = (name: string, help: string, extra: readonly string[] = []) =>
      new Gauge({ name: `nginx_ingress_controller_${name}`, help, labelNames: [...CONTROLLER_LABELS, ...extra], registers });
    const controller = this.#controller;
    gauge('build_info', "A metric with a constant '1' labeled with information about the build (Portico's: release = version, build = git commit).", ['release', 'build', 'repository']).set(
      { ...controller, release: build.version, build: build.commit, repository: build.repository },
      1,
    );
    const families: NginxFamilies = {
      requests: new Counter({ name: 'nginx_ingress_controller_requests', help: 'The total number of client requests', labelNames, registers }),
      duration: histogram('request_duration_seconds', 'The request processing time in seconds', NGINX_TIME_BUCKETS),
      response: histogram('response_duration_seconds', "The time spent on receiving the response from the upstream server (Portico: to the upstream's response headers)", NGINX_TIME_BUCKETS),
      requestSize: histogram('request_size', 'The request length (including request line, header, and request body)', NGINX_LENGTH_BUCKETS),
      responseSize: histogram('response_size', 'The response length (including status line, header, and response body)', NGINX_LENGTH_BUCKETS),
      bytesSent: histogram('bytes_sent', 'DEPRECATED The number of bytes sent to a client', NGINX_SIZE_BUCKETS),
      configHash: gauge('config_hash', 'Running configuration hash actually running'),
      lastReloadOk: gauge('config_last_reload_successful', 'Whether the last configuration reload attempt was successful (Portico: the last routes or TLS rebuild)'),
      lastReloadOkAt: gauge('config_last_reload_successful_timestamp_seconds', 'Timestamp of the last successful configuration reload.'),
      reloads: new Counter({ name: 'nginx_ingress_controller_success', help: 'Cumulative number of Ingress controller reload operations (Portico: routes or TLS rebuilds applied)', labelNames: CONTROLLER_LABELS, registers }),
      reloadErrors: new Counter({ name: 'nginx_ingress_controller_errors', help: 'Cumulative number of Ingress controller errors during reload operations (Portico: failed rebuilds)', labelNames: CONTROLLER_LABELS, registers }),
    };
    // Before the first configuration: no reload yet, as ingress-nginx starts.
    families.configHash.set(controller, 0);
    families.lastReloadOk.set(controller, 0);
    families.lastReloadOkAt.set(controller, 0);
    families.reloads.inc(controller, 0);
    families.reloadErrors.inc(controller, 0);
    return families;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Replaces the per-host expiry series with the hosts TLS serves now. */
  setCertificates(hosts: Iterable<{ host: string; secret: string | undefined; notAfter: Date | undefined }>): void {
    this.#certificateExpiry.reset();
    for (const { host, secret, notAfter } of hosts) {
      if (notAfter !== undefined) this.#certificateExpiry.set({ host, secret: secret ?? '' }, Math.floor(notAfter.getTime() / 1000));
    }
  }

  connectionRejected(reason: 'client-limit'): void {
    this.#connectionsRejected.inc({ reason });
  }

  handshakeFailed(reason: string): void {
    this.#handshakeFailures.inc({ reason });
  }

  observeRequest(
    match: RouteMatch | undefined,
    status: number,
    seconds: number,
    upstreamSeconds?: number,
    method?: string,
    requestBytes?: number,
    responseBytes?: number,
  ): void {
    const series = this.#seriesFor(match);
    const index = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 4;
    let counter = series.counters[index];
    if (counter === undefined) {
      const [ingress, namespace, service] = series.labels;
      counter = new SeriesCounter(this.#requests, { ingress, namespace, service, status_class: STATUS_CLASSES[index]! });
      series.counters[index] = counter;
    }
    counter.inc();
    series.duration.observe(seconds);
    const upstream = upstreamSeconds !== undefined && upstreamSeconds >= 0;
    if (upstream) series.upstream.observe(upstreamSeconds);
    if (requestBytes !== undefined) series.requestSize.observe(requestBytes);
    if (responseBytes !== undefined) series.responseSize.observe(responseBytes);
    if (this.#nginx === undefined) return;
    const nginx = this.#nginxSeriesFor(this.#nginxPathFor(match), method, status);
    nginx.requests.inc();
    nginx.duration.observe(seconds);
    if (upstream) nginx.response.observe(upstreamSeconds);
    if (requestBytes !== undefined) nginx.requestSize.observe(requestBytes);
    if (responseBytes !== undefined) {
      nginx.responseSize.observe(responseBytes);
      nginx.bytesSent.observe(responseBytes);
    }
  }

  observeRebuild(kind: RebuildKind, seconds: number): void {
    this.#rebuilds.labels(kind).inc();
    this.#rebuildDuration.labels(kind).observe(seconds);
  }

  /**
   * After a routes or TLS rebuild was applied (what ingress-nginx calls a reload; an endpoints-only
   * build is its dynamic, reload-free update): the hash of the configuration now serving. A rebuild
   * that changed nothing (the same hash) is no reload, as ingress-nginx skips an identical one.
   */
  configurationApplied(hash: number, epochMs: number = Date.now()): void {
    // ingress-nginx reloads only when the configuration differs from the running one.
    if (hash === this.#appliedHash) return;
    this.#appliedHash = hash;
    this.#configHash.set(hash);
    const nginx = this.#nginx;
    if (nginx === undefined) return;
    const labels = this.#controller;
    nginx.configHash.set(labels, hash);
    nginx.lastReloadOk.set(labels, 1);
    nginx.lastReloadOkAt.set(labels, Math.floor(epochMs / 1000));
    nginx.reloads.inc(labels);
  }

  /** A rebuild failed (the last good configuration keeps serving). */
  configurationFailed(): void {
    const nginx = this.#nginx;
    if (nginx === undefined) return;
    nginx.lastReloadOk.set(this.#controller, 0);
    nginx.reloadErrors.inc(this.#controller);
  }

  /** After each successful rebuild: `Date.now()`. */
  setLastSync(epochMs: number): void {
    this.#lastSync.set(epochMs / 1000);
  }

  /** KubernetesSource onRestart. */
  informerRestarted(kind: string): void {
    this.#informerRestarts.labels(kind).inc();
  }

  /** Pre-creates restart counters at 0 so dashboards see every kind. */
  declareInformers(kinds: Iterable<string>): void {
    for (const kind of kinds) this.#informerRestarts.inc({ kind }, 0);
  }

  setLeader(leader: boolean): void {
    this.#leader.set(leader ? 1 : 0);
  }

  statusWrite(ok: boolean): void {
    this.#statusWrites.labels(ok ? 'ok' : 'error').inc();
  }

  /**
   * Drops the series of Ingresses that no longer exist (call after a route rebuild with
   * RouteModel.ownedIngresses), so deleted Ingresses don't grow the registry forever.
   */
  retainIngresses(keys: Iterable<string>): void {
    const keep = new Set(keys);
    keep.add('');
    // Most rebuilds keep every Ingress: then there is nothing to drop, and walking every series
    // (ingress-nginx's are per host, path, method and status) on each of them is wasted.
    // A series made since the last walk may be a gone Ingress's (a request in flight across the
    // rebuild that deleted it): then walk even if the set is the same.
    const last = this.#retained;
    this.#retained = keep;
    if (!this.#seriesAdded && last !== undefined && last.size === keep.size && [...keep].every((key) => last.has(key))) return;
    this.#seriesAdded = false;
    for (const [ingressKey, byBackend] of this.#series) {
      if (keep.has(ingressKey)) continue;
      for (const series of byBackend.values()) {
        const [ingress, namespace, service] = series.labels;
        const labels = { ingress, namespace, service };
        this.#requestDuration.remove(labels);
        this.#upstreamDuration.remove(labels);
        this.#requestSize.remove(labels);
        this.#responseSize.remove(labels);
        for (const statusClass of STATUS_CLASSES) this.#requests.remove({ ...labels, status_class: statusClass });
      }
      this.#series.delete(ingressKey);
    }
    if (this.#nginx !== undefined) this.#retainNginx(keep);
  }

  /** ingress-nginx's RemoveMetrics: every nginx request series whose namespace/ingress is gone. */
  #retainNginx(keep: ReadonlySet<string>): void {
    const families = this.#nginx!;
    for (const family of [families.requests, families.duration, families.response, families.requestSize, families.responseSize, families.bytesSent]) {
      const values = (family as unknown as { hashMap?: Record<string, { labels?: Record<string, string> }> }).hashMap;
      if (values === undefined) continue;
      for (const entry of Object.values(values)) {
        const labels = entry.labels;
        if (labels === undefined || labels.ingress === '') continue;
        if (!keep.has(`${labels.namespace}/${labels.ingress}`)) family.remove(labels);
      }
    }
    // The children of gone Ingresses go (their series are gone); the lookups are rebuilt from #nginxPaths.
    for (const [key, path] of this.#nginxPaths) {
      if (path.labels.ingress !== '' && !keep.has(`${path.labels.namespace}/${path.labels.ingress}`)) this.#nginxPaths.delete(key);
    }
    this.#nginxRoutes = new WeakMap();
    this.#nginxDefault = new Map();
  }

  #seriesFor(match: RouteMatch | undefined): RouteSeries {
    const ingressKey = match?.ingress ?? '';
    const backendKey = match?.backend.key ?? '';
    let byBackend = this.#series.get(ingressKey);
    if (byBackend === undefined) {
      byBackend = new Map();
      this.#series.set(ingressKey, byBackend);
    }
    let series = byBackend.get(backendKey);
    if (series === undefined) {
      const slash = ingressKey.indexOf('/');
      const labels = [
        slash < 0 ? ingressKey : ingressKey.slice(slash + 1),
        match ? (slash < 0 ? match.backend.namespace : ingressKey.slice(0, slash)) : '',
        match?.backend.service ?? '',
      ] as const;
      const named = { ingress: labels[0], namespace: labels[1], service: labels[2] };
      series = {
        labels,
        counters: [],
        duration: new SeriesHistogram(this.#requestDuration, named, this.#buckets),
        upstream: new SeriesHistogram(this.#upstreamDuration, named, this.#buckets),
        requestSize: new SeriesHistogram(this.#requestSize, named, SIZE_BUCKETS),
        responseSize: new SeriesHistogram(this.#responseSize, named, SIZE_BUCKETS),
      };
      byBackend.set(backendKey, series);
      this.#seriesAdded = true;
    }
    return series;
  }

  /**
   * The nginx labels of a match, as ingress-nginx sets them: host and path are the Ingress rule's
   * (never the request's), ingress/namespace/service the route's main backend, canary the canary's
   * Service when a canary served. A request that matched nothing gets empty labels (ingress-nginx's
   * default backend), so raw hosts and URLs never make series.
   */
  #nginxPathFor(match: RouteMatch | undefined): NginxPathSeries {
    if (match === undefined) return (this.#nginxUnmatched ??= this.#nginxPath('', '', '', '', '', ''));
    const route = match.route;
    if (route === undefined) {
      const key = match.backend.key;
      let path = this.#nginxDefault.get(key);
      if (path === undefined) {
        const [namespace, ingress] = splitIngress(match.ingress, match.backend.namespace);
        path = this.#nginxPath('', '', namespace, ingress, match.backend.service, '');
        this.#nginxDefault.set(key, path);
      }
      return path;
    }
    const host = match.host ?? '';
    const first = this.#nginxRoutes.get(route);
    let entry = first;
    while (entry !== undefined && entry.host !== host) entry = entry.next;
    if (entry === undefined) {
      const [namespace, ingress] = splitIngress(route.ingress, route.backend.namespace);
      entry = { host, main: this.#nginxPath(host, route.path, namespace, ingress, route.backend.service, ''), canary: undefined, next: first };
      this.#nginxRoutes.set(route, entry);
    }
    const backend = match.backend;
    if (backend === route.backend || backend.key === route.backend.key) return entry.main;
    let canary = entry.canary;
    if (canary === undefined || canary.labels.canary !== backend.service) {
      const main = entry.main.labels;
      canary = this.#nginxPath(main.host, main.path, main.namespace, main.ingress, main.service, backend.service);
      entry.canary = canary;
    }
    return canary;
  }

  /** The path series with these labels (once per route object and build, not per request). */
  #nginxPath(host: string, path: string, namespace: string, ingress: string, service: string, canary: string): NginxPathSeries {
    const key = `${host}\n${path}\n${namespace}\n${ingress}\n${service}\n${canary}`;
    let series = this.#nginxPaths.get(key);
    if (series === undefined) {
      // ingress-nginx's label order (socket.go requestTags), as the exposition shows them.
      series = { labels: { path, namespace, ingress, service, canary, host }, byRequest: new Map() };
      this.#nginxPaths.set(key, series);
      this.#seriesAdded = true;
    }
    return series;
  }

  #nginxSeriesFor(path: NginxPathSeries, method: string | undefined, status: number): NginxSeries {
    const methodIndex = method === undefined ? OTHER_METHOD : (METHOD_INDEX.get(method) ?? OTHER_METHOD);
    const code = status >= 100 && status < 600 ? status | 0 : 0;
    const key = methodIndex * 1000 + code;
    let series = path.byRequest.get(key);
    if (series === undefined) {
      const families = this.#nginx!;
      const labels = { status: String(code), method: METHODS[methodIndex]!, ...path.labels, ...this.#controller };
      series = {
        requests: new SeriesCounter(families.requests, labels),
        duration: new SeriesHistogram(families.duration, labels, NGINX_TIME_BUCKETS),
        response: new SeriesHistogram(families.response, labels, NGINX_TIME_BUCKETS),
        requestSize: new SeriesHistogram(families.requestSize, labels, NGINX_LENGTH_BUCKETS),
        responseSize: new SeriesHistogram(families.responseSize, labels, NGINX_LENGTH_BUCKETS),
        bytesSent: new SeriesHistogram(families.bytesSent, labels, NGINX_SIZE_BUCKETS),
      };
      path.byRequest.set(key, series);
    }
    return series;
  }
}

/** `namespace/name` → [namespace, name]; a key without a slash is a name in `namespace`. */
function splitIngress(key: string, namespace: string): [string, string] {
  const slash = key.indexOf('/');
  return slash < 0 ? [namespace, key] : [key.slice(0, slash), key.slice(slash + 1)];
}
