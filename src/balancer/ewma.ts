// load-balance: ewma, as ingress-nginx's balancer/ewma.lua (Finagle's peak EWMA): each endpoint
// keeps an exponentially weighted moving average of its upstream response time and of its success
// rate, both decaying with a 10 s time constant; a pick takes two distinct endpoints at random and
// sends the request to the one with the lower score (latency / success rate). An endpoint never
// measured scores 0, so new pods get traffic at once; an idle endpoint's average decays towards 0,
// so a pod that was slow once gets tried again. State is per process (per worker with --workers N),
// keyed by endpoint `ip:port`, bounded.
import type { Endpoint } from '../model/route-model.js';

export const EWMA_DECAY_MS = 10_000;
const MAX_ENDPOINTS = 65_536;

interface Stats {
  /** Response time, ms. */
  latency: number;
  /** 1: every response below 500; 0: every attempt failed. */
  success: number;
  /** The store's clock (ms) when last observed. */
  at: number;
}

export class EwmaStore {
  readonly #stats = new Map<string, Stats>();
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(options: { readonly now?: () => number; readonly random?: () => number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
  }

  /** An upstream answered after `ms` (ok: below 500), or failed (ok false, ms the time spent). */
  observe(endpointKey: string, ms: number, ok: boolean): void {
    const now = this.#now();
    const stats = this.#stats.get(endpointKey);
    if (stats === undefined) {
      if (this.#stats.size >= MAX_ENDPOINTS) this.#stats.delete(this.#stats.keys().next().value!);
      this.#stats.set(endpointKey, { latency: ms, success: ok ? 1 : 0, at: now });
      return;
    }
    const weight = Math.exp(-Math.max(0, now - stats.at) / EWMA_DECAY_MS);
    stats.latency = stats.latency * weight + ms * (1 - weight);
    stats.success = stats.success * weight + (ok ? 1 : 0) * (1 - weight);
    stats.at = now;
  }

  /** Lower is better: the decayed latency over the decayed success rate. */
  score(endpointKey: string): number {
    const stats = this.#stats.get(endpointKey);
    if (stats === undefined) return 0;
    // Read as ewma.lua does: decayed towards 0 (and success towards 1) by the time since the last sample.
    const weight = Math.exp(-Math.max(0, this.#now() - stats.at) / EWMA_DECAY_MS);
    const latency = stats.latency * weight;
    const success = stats.success * weight + (1 - weight);
    return latency / Math.max(success, 0.001);
  }

  /** The better of two distinct random endpoints not in `exclude` (the only one when one is left). */
  pick(endpoints: readonly Endpoint[], exclude?: ReadonlySet<string>): Endpoint | undefined {
    const eligible = exclude === undefined || exclude.size === 0 ? endpoints : endpoints.filter((e) => !exclude.has(e.key));
    const n = eligible.length;
    if (n <= 1) return eligible[0];
    const i = Math.min(n - 1, Math.floor(this.#random() * n));
    let j = Math.min(n - 2, Math.floor(this.#random() * (n - 1)));
    if (j >= i) j++;
    const a = eligible[i]!;
    const b = eligible[j]!;
    return this.score(b.key) < this.score(a.key) ? b : a;
  }

  get size(): number {
    return this.#stats.size;
  }
}
