// portico dns's Prometheus metrics (CoreDNS's coredns_dns_* and cache/forward families, under portico_dns_).
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ForwarderObserver, Upstream } from './forwarder.js';
import type { QueryObserver, Transport } from './handler.js';

/** Query types counted by name; any other is `other` (a client must not grow the label set). */
const TYPES = new Set(['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'TXT', 'MX', 'NS', 'SOA', 'ANY', 'HTTPS', 'SVCB', 'CAA', 'DS', 'DNSKEY']);

export class DnsMetrics implements QueryObserver, ForwarderObserver {
  readonly registry = new Registry();
  readonly #queries: Counter<'rcode' | 'type' | 'proto'>;
  readonly #malformed: Counter<'reason'>;
  readonly #cacheHits: Counter;
  readonly #cacheMisses: Counter;
  readonly #upstreamFailures: Counter<'upstream'>;
  readonly #names: Gauge;
  readonly #diagnostics: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#queries = new Counter({ name: 'portico_dns_queries_total', help: 'Queries answered, by response code, query type and transport.', labelNames: ['rcode', 'type', 'proto'], registers });
    this.#malformed = new Counter({ name: 'portico_dns_malformed_queries_total', help: 'Queries dropped or answered FORMERR, by reason.', labelNames: ['reason'], registers });
    this.#cacheHits = new Counter({ name: 'portico_dns_cache_hits_total', help: 'Forwarded queries answered from the cache.', registers });
    this.#cacheMisses = new Counter({ name: 'portico_dns_cache_misses_total', help: 'Forwarded queries not in the cache.', registers });
    this.#upstreamFailures = new Counter({ name: 'portico_dns_upstream_failures_total', help: 'Upstream queries that failed (refused, timed out), by upstream.', labelNames: ['upstream'], registers });
    this.#names = new Gauge({ name: 'portico_dns_zone_names', help: 'Owner names in the zone (and reverse names of cluster IPs).', registers });
    this.#diagnostics = new Gauge({ name: 'portico_dns_object_errors', help: 'Objects (or fields) skipped as invalid in the last zone build.', registers });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  query(rcode: string, type: string, transport: Transport): void {
    this.#queries.inc({ rcode, type: TYPES.has(type) ? type : 'other', proto: transport });
  }

  malformed(reason: string): void {
    this.#malformed.inc({ reason });
  }

  cacheHit(): void {
    this.#cacheHits.inc();
  }

  cacheMiss(): void {
    this.#cacheMisses.inc();
  }

  upstreamFailure(upstream: Upstream, _reason: string): void {
    this.#upstreamFailures.inc({ upstream: `${upstream.host}:${upstream.port}` });
  }

  zoneBuilt(names: number, diagnostics: number): void {
    this.#names.set(names);
    this.#diagnostics.set(diagnostics);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
