import { describe, expect, it } from 'vitest';
import { pickByHash } from '../../src/balancer/consistent-hash.js';
import type { Endpoint } from '../../src/model/route-model.js';

const ep = (i: number): Endpoint => ({ key: `10.0.0.${i}:8080`, address: `10.0.0.${i}`, port: 8080, ready: true, serving: true, terminating: false });
const endpoints = [1, 2, 3, 4, 5].map(ep);
const keys = Array.from({ length: 2000 }, (_, i) => `/item/${i}`);

describe('upstream-hash-by: rendezvous hashing', () => {
  it('the same key always gets the same endpoint, whatever the order of the endpoints', () => {
    for (const key of keys.slice(0, 50)) {
      const first = pickByHash(key, endpoints)!;
      expect(pickByHash(key, endpoints)).toBe(first);
      expect(pickByHash(key, [...endpoints].reverse())!.key).toBe(first.key);
    }
  });

  it('spreads keys over every endpoint (each within ±30% of an even share)', () => {
    const counts = new Map<string, number>();
    for (const key of keys) counts.set(pickByHash(key, endpoints)!.key, (counts.get(pickByHash(key, endpoints)!.key) ?? 0) + 1);
    expect(counts.size).toBe(5);
    for (const n of counts.values()) expect(Math.abs(n - 400)).toBeLessThan(120);
  });

  it('removing an endpoint moves only the keys it had; adding one takes keys only onto itself', () => {
    const before = new Map(keys.map((k) => [k, pickByHash(k, endpoints)!.key]));
    const without = endpoints.filter((e) => e.key !== '10.0.0.3:8080');
    for (const key of keys) {
      const now = pickByHash(key, without)!.key;
      if (before.get(key) !== '10.0.0.3:8080') expect(now).toBe(before.get(key));
      else expect(now).not.toBe('10.0.0.3:8080');
    }
    const withSixth = [...endpoints, ep(6)];
    let moved = 0;
    for (const key of keys) {
      const now = pickByHash(key, withSixth)!.key;
      if (now !== before.get(key)) {
        expect(now).toBe('10.0.0.6:8080');
        moved++;
      }
    }
    expect(moved).toBeGreaterThan(200);
    expect(moved).toBeLessThan(480);
  });

  it('exclude skips endpoints (the runner-up takes the key); nothing left or no endpoints: undefined', () => {
    const first = pickByHash('/a', endpoints)!;
    const second = pickByHash('/a', endpoints, new Set([first.key]))!;
    expect(second.key).not.toBe(first.key);
    expect(pickByHash('/a', endpoints.filter((e) => e !== first))).toBe(second);
    expect(pickByHash('/a', endpoints, new Set(endpoints.map((e) => e.key)))).toBeUndefined();
    expect(pickByHash('/a', [])).toBeUndefined();
  });
});
