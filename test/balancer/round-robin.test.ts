import { describe, expect, it } from 'vitest';
import { RoundRobin } from '../../src/balancer/round-robin.js';
import type { Endpoint } from '../../src/model/route-model.js';

function ep(last: number): Endpoint {
  return { key: `10.0.0.${last}:80`, address: `10.0.0.${last}`, port: 80, ready: true, serving: true, terminating: false };
}

function picks(rr: RoundRobin, n: number, exclude?: ReadonlySet<string>): string[] {
  return Array.from({ length: n }, () => rr.pick(exclude)?.key ?? 'none');
}

describe('RoundRobin', () => {
  it('cycles through the endpoints in order', () => {
    const rr = new RoundRobin([ep(1), ep(2), ep(3)]);
    expect(picks(rr, 7)).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
    expect(rr.size).toBe(3);
  });

  it('returns undefined without endpoints', () => {
    const rr = new RoundRobin();
    expect(rr.pick()).toBeUndefined();
    expect(rr.size).toBe(0);
  });

  it('skips the excluded endpoint and moves the rotation on', () => {
    const rr = new RoundRobin([ep(1), ep(2), ep(3)]);
    expect(rr.pick()?.key).toBe('10.0.0.1:80');
    expect(rr.pick(new Set(['10.0.0.2:80']))?.key).toBe('10.0.0.3:80');
    expect(rr.pick()?.key).toBe('10.0.0.1:80');
    expect(rr.pick(new Set(['10.0.0.9:80']))?.key).toBe('10.0.0.2:80');
  });

  it('skips every excluded endpoint (each failed one once per request)', () => {
    const rr = new RoundRobin([ep(1), ep(2), ep(3), ep(4)]);
    expect(rr.pick(new Set(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']))?.key).toBe('10.0.0.4:80');
    expect(rr.pick(new Set(['10.0.0.1:80', '10.0.0.3:80']))?.key).toBe('10.0.0.2:80');
    expect(rr.pick(new Set(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']))).toBeUndefined();
    expect(rr.pick()?.key).toBe('10.0.0.3:80');
  });

  it('returns undefined when the only endpoint is excluded', () => {
    const rr = new RoundRobin([ep(1)]);
    expect(rr.pick(new Set(['10.0.0.1:80']))).toBeUndefined();
    expect(rr.pick()?.key).toBe('10.0.0.1:80');
  });

  it('keeps its position when membership changes', () => {
    const rr = new RoundRobin([ep(1), ep(2), ep(3), ep(4)]);
    expect(picks(rr, 2)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    // Same membership, new objects (a resync): nothing moves.
    rr.setEndpoints([ep(1), ep(2), ep(3), ep(4)]);
    expect(rr.pick()?.key).toBe('10.0.0.3:80');
    // The last picked (.3) is removed: continue with the next key after it.
    rr.setEndpoints([ep(1), ep(2), ep(4), ep(5)]);
    expect(picks(rr, 3)).toEqual(['10.0.0.4:80', '10.0.0.5:80', '10.0.0.1:80']);
    // An endpoint is added before the current position: the rotation does not restart.
    rr.setEndpoints([ep(0), ep(1), ep(2), ep(4), ep(5)]);
    expect(picks(rr, 5)).toEqual(['10.0.0.2:80', '10.0.0.4:80', '10.0.0.5:80', '10.0.0.0:80', '10.0.0.1:80']);
  });

  it('wraps when everything after the last pick is removed, and survives emptying', () => {
    const rr = new RoundRobin([ep(1), ep(2), ep(3)]);
    expect(picks(rr, 3).at(-1)).toBe('10.0.0.3:80');
    rr.setEndpoints([ep(1), ep(2)]);
    expect(rr.pick()?.key).toBe('10.0.0.1:80');
    rr.setEndpoints([]);
    expect(rr.pick()).toBeUndefined();
    rr.setEndpoints([ep(7), ep(8)]);
    expect(picks(rr, 2)).toEqual(['10.0.0.7:80', '10.0.0.8:80']);
  });

  it('spreads evenly', () => {
    const endpoints = Array.from({ length: 10 }, (_, i) => ep(i + 1));
    const rr = new RoundRobin(endpoints);
    const counts = new Map<string, number>();
    for (const key of picks(rr, 100)) counts.set(key, (counts.get(key) ?? 0) + 1);
    expect([...counts.values()]).toEqual(Array(10).fill(10));
  });
});
