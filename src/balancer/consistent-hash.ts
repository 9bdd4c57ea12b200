// upstream-hash-by: rendezvous (highest random weight) hashing of a request key over a backend's
// endpoints. Every endpoint gets a score from the key and its own `ip:port`; the highest wins.
// Removing an endpoint moves only the keys it had (each to its runner-up), adding one takes an
// even share from all the others: the consistency nginx's chash (a ketama ring) gives, without a
// ring to rebuild when endpoints change.
import type { Endpoint } from '../model/route-model.js';

/** FNV-1a, 32 bits, over UTF-16 code units (the key is compared, never stored). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: every input bit reaches every output bit. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const endpointHashes = new Map<string, number>();
function endpointHash(key: string): number {
  let h = endpointHashes.get(key);
  if (h === undefined) {
    h = hash32(key);
    if (endpointHashes.size >= 65_536) endpointHashes.clear();
    endpointHashes.set(key, h);
  }
  return h;
}

/**
 * The endpoint for `key` among `endpoints` (skipping `exclude`d keys), or undefined when none is
 * left. Depends only on the key and the endpoints' keys, never on their order.
 */
export function pickByHash(key: string, endpoints: readonly Endpoint[], exclude?: ReadonlySet<string>): Endpoint | undefined {
  const k = hash32(key);
  let best: Endpoint | undefined;
  let bestScore = -1;
  for (const endpoint of endpoints) {
    if (exclude !== undefined && exclude.has(endpoint.key)) continue;
    const score = mix32(k ^ mix32(endpointHash(endpoint.key)));
    if (score > bestScore || (score === bestScore && best !== undefined && endpoint.key < best.key)) {
      best = endpoint;
      bestScore = score;
    }
  }
  return best;
}
