// limit-rps / limit-rpm: nginx's limit_req with `burst=rate×multiplier nodelay`, per client
// address (the connection's, never a header), one zone per Ingress. Each client has an `excess`
// that drains at the rate; a request that would push it past the burst gets 503 and changes
// nothing. State lives in zones that outlive route-table builds (a configuration change must not
// hand every client a fresh burst) and is bounded: at most ZONE_CLIENTS addresses per zone, least
// recently seen dropped first, as nginx's zone expiry does. It is per process: with
// --workers N each worker counts its own connections.
import { parseCidr, parseIp, prefixContains, type IpPrefix } from '../../lib/cidr.js';
import type { RateLimitPolicy } from '../../model/route-model.js';
import type { RequestStep, StepAnswer } from './step.js';

const LIMITED: StepAnswer = Object.freeze({ kind: 'error', status: 503, code: 'PORTICO_ERR_PROXY_RATE_LIMITED' });
export const ZONE_CLIENTS = 65_536;

interface ClientState {
  /** Requests in the bucket beyond the steady rate. */
  excess: number;
  /** ms (the store's clock) of the last accepted request. */
  last: number;
}

/** One zone: a rate and a burst, per client address. */
export class RateLimitZone {
  readonly #clients = new Map<string, ClientState>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #max: number;

  constructor(options: { readonly perSecond: number; readonly burst: number; readonly maxClients?: number }) {
    this.#perMs = options.perSecond / 1000;
    this.#burst = options.burst;
    this.#max = options.maxClients ?? ZONE_CLIENTS;
  }

  /** Whether a request from `client` at `now` (ms) is within the limit; counts it when it is. */
  admit(client: string, now: number): boolean {
    const state = this.#clients.get(client);
    if (state === undefined) {
      if (this.#clients.size >= this.#max) this.#clients.delete(this.#clients.keys().next().value!);
      this.#clients.set(client, { excess: 0, last: now });
      return true;
    }
    // nginx: drain, add this request, then clamp at 0 (a fully drained client starts over at 0).
    const excess = Math.max(0, state.excess - this.#perMs * Math.max(0, now - state.last) + 1);
    if (excess > this.#burst) return false;
    state.excess = excess;
    state.last = now;
    // Most recently seen last, so eviction takes the longest idle.
    this.#clients.delete(client);
    this.#clients.set(client, state);
    return true;
  }

  get size(): number {
    return this.#clients.size;
  }
}

/**
 * Zones by identity (Ingress + rate + burst), found again by the next route-table build while the
 * old table still holds them; held weakly, so a zone no table uses any more goes with its table.
 */
export class RateLimitStore {
  readonly #zones = new Map<string, WeakRef<RateLimitZone>>();
  readonly now: () => number;

  constructor(options: { readonly now?: () => number } = {}) {
    this.now = options.now ?? (() => performance.now());
  }

  zone(key: string, perSecond: number, burst: number): RateLimitZone {
    const id = `${key}|${perSecond}|${burst}`;
    const live = this.#zones.get(id)?.deref();
    if (live !== undefined) return live;
    if (this.#zones.size >= 64) for (const [other, ref] of this.#zones) if (ref.deref() === undefined) this.#zones.delete(other);
    const zone = new RateLimitZone({ perSecond, burst });
    this.#zones.set(id, new WeakRef(zone));
    return zone;
  }
}

export function rateLimitStep(policy: RateLimitPolicy, zoneKey: string, store: RateLimitStore): RequestStep {
  const zones: RateLimitZone[] = [];
  if (policy.rps !== undefined) zones.push(store.zone(`${zoneKey}/rps`, policy.rps, policy.rps * policy.burstMultiplier));
  if (policy.rpm !== undefined) zones.push(store.zone(`${zoneKey}/rpm`, policy.rpm / 60, policy.rpm * policy.burstMultiplier));
  const exempt = (policy.exempt ?? []).map((text) => parseCidr(text)).filter((p): p is IpPrefix => p !== undefined);
  const isExempt = (address: string): boolean => {
    if (exempt.length === 0) return false;
    const ip = parseIp(address);
    return ip !== undefined && exempt.some((prefix) => prefixContains(prefix, ip));
  };
  // ConfigMap limit-req-status-code: another status for the same refusal.
  const limited: StepAnswer = policy.status === undefined || policy.status === 503 ? LIMITED : Object.freeze({ kind: 'error', status: policy.status, code: 'PORTICO_ERR_PROXY_RATE_LIMITED' });
  return {
    name: 'rate-limit',
    run: (request) => {
      if (isExempt(request.clientAddress)) return undefined;
      const now = store.now();
      for (const zone of zones) if (!zone.admit(request.clientAddress, now)) return limited;
      return undefined;
    },
  };
}
