import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteMatch } from '../model/route-model.js';

/**
 * What the proxy calls once per finished request. proxy/ cannot import metrics/, so it declares
 * this shape itself; PorticoMetrics satisfies it structurally.
 */
export interface RequestObserver {
  /**
   * @param match the matched route, undefined for 404s / bad requests
   * @param status the status sent to the client (499 when it went away first)
   * @param seconds whole request duration
   * @param upstreamSeconds time to the upstream's response headers; undefined when none was asked
   */
  observeRequest(match: RouteMatch | undefined, status: number, seconds: number, upstreamSeconds?: number): void;
}

/** Which part a rebuild recompiled (the widest): routes, endpoints only, or certificates only. */
export type RebuildKind = 'routes' | 'endpoints' | 'tls';

export interface PorticoMetricsOptions {
  /** Default process/Node.js metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …). Default true. */
  defaultMetrics?: boolean;
  /** Histogram buckets for request and upstream durations (seconds). */
  durationBuckets?: number[];
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REBUILD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Pre-resolved children for one (ingress, service): the hot path touches no label objects. */
interface RouteSeries {
  readonly labels: readonly [ingress: string, namespace: string, service: string];
  readonly counters: Array<SeriesCounter | undefined>;
  readonly duration: SeriesHistogram;
  readonly upstream: SeriesHistogram;
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

/** One labelled histogram series: observe() as prom-client's, without the per-call label work. */
class SeriesHistogram {
  readonly #child: Histogram.Internal<string>;
  readonly #labels: Readonly<Record<string, string>>;
  readonly #ref: EntryRef<HistogramEntry>;
  /** Upper bounds and their property names in the entry's bucketValues (String(bound), as prom-client indexes them). */
  readonly #bounds: readonly number[];
  readonly #boundKeys: readonly string[];

  constructor(histogram: Histogram<string>, labels: Readonly<Record<string, string>>, buckets: readonly number[]) {
    this.#child = histogram.labels(labels);
    this.#labels = labels;
    this.#ref = new EntryRef(histogram as unknown as SeriesMap<HistogramEntry>);
    this.#bounds = buckets;
    this.#boundKeys = buckets.map(String);
  }

  observe(value: number): void {
    const entry = Number.isFinite(value) ? this.#ref.current() : undefined;
    if (entry === undefined) {
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
        entry.bucketValues[this.#boundKeys[i]!]! += 1;
        return;
      }
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
 * maps keyed by the strings the RouteMatch already holds, so a request allocates nothing.
 */
export class PorticoMetrics implements RequestObserver {
  readonly registry = new Registry();
  readonly #requests: Counter<'ingress' | 'namespace' | 'service' | 'status_class'>;
  readonly #requestDuration: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #upstreamDuration: Histogram<'ingress' | 'namespace' | 'service'>;
  readonly #rebuilds: Counter<'kind'>;
  readonly #rebuildDuration: Histogram<'kind'>;
  readonly #lastSync: Gauge;
  readonly #informerRestarts: Counter<'kind'>;
  readonly #leader: Gauge;
  readonly #statusWrites: Counter<'result'>;
  readonly #certificateExpiry: Gauge<'host' | 'secret'>;
  readonly #handshakeFailures: Counter<'reason'>;
  readonly #connectionsRejected: Counter<'reason'>;
  /** ingress key (`ns/name`, '' for none) → backend key → series. */
  readonly #series = new Map<string, Map<string, RouteSeries>>();
  readonly #buckets: readonly number[];

  constructor(options: PorticoMetricsOptions = {}) {
    const registers = [this.registry];
    const buckets = options.durationBuckets ?? DEFAULT_BUCKETS;
    this.#buckets = buckets;
    const routeLabels = ['ingress', 'namespace', 'service'] as const;
    this.#requests = new Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by Ingress, namespace, backend Service and status class (1xx-5xx).',
      labelNames: [...routeLabels, 'status_class'],
      registers,
    });
    this.#requestDuration = new Histogram({
      name: 'portico_request_duration_seconds',
      help: 'Time from the request arriving to its response ending.',
      labelNames: routeLabels,
      buckets,
      registers,
    });
    this.#upstreamDuration = new Histogram({
      name: 'portico_upstream_duration_seconds',
      help: 'Time from sending the request upstream to the upstream response headers.',
      labelNames: routeLabels,
      buckets,
      registers,
    });
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
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
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

  observeRequest(match: RouteMatch | undefined, status: number, seconds: number, upstreamSeconds?: number): void {
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
    if (upstreamSeconds !== undefined && upstreamSeconds >= 0) series.upstream.observe(upstreamSeconds);
  }

  observeRebuild(kind: RebuildKind, seconds: number): void {
    this.#rebuilds.labels(kind).inc();
    this.#rebuildDuration.labels(kind).observe(seconds);
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
    for (const [ingressKey, byBackend] of this.#series) {
      if (keep.has(ingressKey)) continue;
      for (const series of byBackend.values()) {
        const [ingress, namespace, service] = series.labels;
        const labels = { ingress, namespace, service };
        this.#requestDuration.remove(labels);
        this.#upstreamDuration.remove(labels);
        for (const statusClass of STATUS_CLASSES) this.#requests.remove({ ...labels, status_class: statusClass });
      }
      this.#series.delete(ingressKey);
    }
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
      };
      byBackend.set(backendKey, series);
    }
    return series;
  }
}
