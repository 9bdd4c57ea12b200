// Round robin over a backend's endpoints, in the order given (the model sorts them by key).
import type { Endpoint } from '../model/route-model.js';
import type { Balancer } from './balancer.js';

export class RoundRobin implements Balancer {
  #endpoints: readonly Endpoint[];
  /** Index of the next endpoint to hand out. */
  #next = 0;
  /** Key of the endpoint handed out last; anchors the position across membership changes. */
  #lastKey: string | undefined;

  constructor(endpoints: readonly Endpoint[] = []) {
    this.#endpoints = endpoints;
  }

  get size(): number {
    return this.#endpoints.length;
  }

  pick(exclude?: ReadonlySet<string>): Endpoint | undefined {
    const endpoints = this.#endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    let i = this.#next;
    if (i >= n) i = 0;
    let endpoint = endpoints[i]!;
    if (exclude !== undefined && exclude.has(endpoint.key)) {
      // Retries only: walk on to the first endpoint not excluded.
      let tries = 1;
      do {
        if (tries++ === n) return undefined;
        i = i + 1 === n ? 0 : i + 1;
        endpoint = endpoints[i]!;
      } while (exclude.has(endpoint.key));
    }
    this.#next = i + 1;
    this.#lastKey = endpoint.key;
    return endpoint;
  }

  /**
   * Keeps the rotation going where it was: the next pick is the endpoint that follows the last one
   * handed out, in key order. If that endpoint was removed, the rotation continues with the first
   * key after it, so removals and additions never restart the cycle at the first endpoint.
   */
  setEndpoints(endpoints: readonly Endpoint[]): void {
    this.#endpoints = endpoints;
    const last = this.#lastKey;
    if (last === undefined) {
      this.#next = 0;
      return;
    }
    let next = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const key = endpoints[i]!.key;
      if (key === last) {
        next = i + 1;
        break;
      }
      if (key > last) {
        next = i;
        break;
      }
    }
    this.#next = next >= endpoints.length ? 0 : next;
  }
}
