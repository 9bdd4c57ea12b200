// The load-balancing strategy contract. One module per strategy (round-robin.ts, …), Traefik style:
// a strategy only chooses among endpoints; pools, retries and health live elsewhere.
import type { BackendRef, Endpoint } from '../model/route-model.js';

export interface Balancer {
  /**
   * The endpoint for the next request, or undefined when there is none. `exclude` holds endpoint
   * keys to skip (retries after connect failures); when every endpoint is excluded, the result is
   * undefined.
   */
  pick(exclude?: ReadonlySet<string>): Endpoint | undefined;
  /**
   * Replaces the membership in place. Strategy state (the rotation position) survives, so an
   * endpoint-only change does not reset the distribution.
   */
  setEndpoints(endpoints: readonly Endpoint[]): void;
  /** Number of endpoints currently eligible. */
  readonly size: number;
}

/** Builds the balancer of one backend; BackendRegistry calls it once per new backend. */
export type BalancerFactory = (backend: BackendRef) => Balancer;
