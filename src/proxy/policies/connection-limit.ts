// limit-connections: nginx's limit_conn per client address, one zone per Ingress. nginx counts
// client connections being served; Portico routes per request (a kept-alive connection may carry
// requests for several Ingresses), so it counts this Ingress's requests in flight per client
// address: admitted when the step runs, released when the response is over (relayed, answered,
// failed or abandoned). Over the limit: 503, as ingress-nginx. Per process: with --workers N each
// worker counts its own.
import { parseCidr, parseIp, prefixContains, type IpPrefix } from '../../lib/cidr.js';
import type { ConnectionLimitPolicy } from '../../model/route-model.js';
import type { RequestStep, StepAnswer } from './step.js';

const OVER: StepAnswer = Object.freeze({ kind: 'error', status: 503, code: 'PORTICO_ERR_PROXY_CONNECTION_LIMITED' });

/** In-flight counts per zone and client; a zone exists only while some request of it is in flight. */
export class ConnectionLimitStore {
  readonly #zones = new Map<string, Map<string, number>>();

  /** Counts a request of `client` in `zone` when it is under `max`; returns its release, or undefined when over. */
  admit(zone: string, client: string, max: number): (() => void) | undefined {
    let counts = this.#zones.get(zone);
    const current = counts?.get(client) ?? 0;
    if (current >= max) return undefined;
    if (counts === undefined) this.#zones.set(zone, (counts = new Map()));
    counts.set(client, current + 1);
    const held = counts;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (held.get(client) ?? 1) - 1;
      if (left > 0) held.set(client, left);
      else {
        held.delete(client);
        if (held.size === 0 && this.#zones.get(zone) === held) this.#zones.delete(zone);
      }
    };
  }

  /** Requests in flight for `client` in `zone` (tests, debug). */
  inFlight(zone: string, client: string): number {
    return this.#zones.get(zone)?.get(client) ?? 0;
  }

  get zones(): number {
    return this.#zones.size;
  }
}

export function connectionLimitStep(policy: ConnectionLimitPolicy, zone: string, store: ConnectionLimitStore): RequestStep {
  const exempt = (policy.exempt ?? []).map((text) => parseCidr(text)).filter((p): p is IpPrefix => p !== undefined);
  const isExempt = (address: string): boolean => {
    if (exempt.length === 0) return false;
    const ip = parseIp(address);
    return ip !== undefined && exempt.some((prefix) => prefixContains(prefix, ip));
  };
  // ConfigMap limit-conn-status-code: another status for the same refusal.
  const over: StepAnswer = policy.status === undefined || policy.status === 503 ? OVER : Object.freeze({ kind: 'error', status: policy.status, code: 'PORTICO_ERR_PROXY_CONNECTION_LIMITED' });
  return {
    name: 'limit-connections',
    run: (request, edits) => {
      if (isExempt(request.clientAddress)) return undefined;
      const release = store.admit(zone, request.clientAddress, policy.max);
      if (release === undefined) return over;
      edits.release = release;
      return undefined;
    },
  };
}
