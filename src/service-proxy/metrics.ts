// The service proxy's Prometheus metrics (kube-proxy's sync_proxy_rules_* family, under portico_).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncObserver, SyncResult } from './proxier.js';

export class ServiceProxyMetrics implements SyncObserver {
  readonly registry = new Registry();
  readonly #duration: Histogram<'mode'>;
  readonly #last: Gauge;
  readonly #failures: Counter<'mode'>;
  readonly #syncs: Counter<'mode'>;
  readonly #rules: Gauge;
  readonly #elements: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#duration = new Histogram({
      name: 'portico_service_proxy_sync_duration_seconds',
      help: 'Time to build and apply one nftables sync, by mode (full, partial).',
      labelNames: ['mode'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#last = new Gauge({ name: 'portico_service_proxy_last_sync_timestamp_seconds', help: 'When the last successful sync was applied (Unix time).', registers });
    this.#failures = new Counter({ name: 'portico_service_proxy_sync_failures_total', help: 'Syncs whose nft transaction failed (the previous rules stayed).', labelNames: ['mode'], registers });
    this.#syncs = new Counter({ name: 'portico_service_proxy_syncs_total', help: 'Syncs applied, by mode.', labelNames: ['mode'], registers });
    this.#rules = new Gauge({ name: 'portico_service_proxy_rules', help: 'nftables rules programmed (all families).', registers });
    this.#elements = new Gauge({ name: 'portico_service_proxy_map_elements', help: 'Set and map elements programmed (all families).', registers });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  synced(result: SyncResult): void {
    const mode = result.full ? 'full' : 'partial';
    this.#duration.observe({ mode }, result.seconds);
    this.#syncs.inc({ mode });
    this.#last.set(Date.now() / 1000);
    this.#rules.set(result.rules);
    this.#elements.set(result.elements);
  }

  syncFailed(_error: unknown, full: boolean): void {
    this.#failures.inc({ mode: full ? 'full' : 'partial' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
