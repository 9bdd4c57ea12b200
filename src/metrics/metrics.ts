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
  readonly counters: Array<Counter.Internal | undefined>;
  readonly duration: Histogram.Internal<string>;
  readonly upstream: Histogram.Internal<string>;
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

  constructor(options: PorticoMetricsOptions = {}) {
    const registers = [this.registry];
    const buckets = options.durationBuckets ?? DEFAULT_BUCKETS;
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
      counter = this.#requests.labels(...series.labels, STATUS_CLASSES[index]!);
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
      series = {
        labels,
        counters: [],
        duration: this.#requestDuration.labels(...labels),
        upstream: this.#upstreamDuration.labels(...labels),
      };
      byBackend.set(backendKey, series);
    }
    return series;
  }
}
