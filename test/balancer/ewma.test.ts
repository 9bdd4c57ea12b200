import { describe, expect, it } from 'vitest';
import { EWMA_DECAY_MS, EwmaStore } from '../../src/balancer/ewma.js';
import type { Endpoint } from '../../src/model/route-model.js';

const ep = (i: number): Endpoint => ({ key: `10.0.0.${i}:80`, address: `10.0.0.${i}`, port: 80, ready: true, serving: true, terminating: false });

function store(randoms: number[] = []) {
  let now = 1_000;
  const queue = [...randoms];
  const s = new EwmaStore({ now: () => now, random: () => queue.shift() ?? 0 });
  return { s, advance: (ms: number) => (now += ms) };
}

describe('load-balance: ewma (peak EWMA, power of two choices)', () => {
  it('an endpoint never measured scores 0; the first sample is taken as is; later ones are averaged with the 10 s decay', () => {
    const { s, advance } = store();
    expect(s.score('10.0.0.1:80')).toBe(0);
    s.observe('10.0.0.1:80', 100, true);
    expect(s.score('10.0.0.1:80')).toBe(100);
    advance(EWMA_DECAY_MS);
    s.observe('10.0.0.1:80', 200, true);
    // weight e^-1 on the old value: 100·e⁻¹ + 200·(1 − e⁻¹)
    expect(s.score('10.0.0.1:80')).toBeCloseTo(100 * Math.exp(-1) + 200 * (1 - Math.exp(-1)), 6);
  });

  it('an idle endpoint’s score decays towards 0 (a pod slow once gets tried again)', () => {
    const { s, advance } = store();
    s.observe('10.0.0.1:80', 500, true);
    advance(EWMA_DECAY_MS * 2);
    expect(s.score('10.0.0.1:80')).toBeCloseTo(500 * Math.exp(-2), 6);
  });

  it('failures raise the score (latency over the success rate)', () => {
    const { s } = store();
    s.observe('10.0.0.1:80', 50, true);
    s.observe('10.0.0.2:80', 50, false);
    expect(s.score('10.0.0.2:80')).toBeGreaterThan(s.score('10.0.0.1:80') * 100);
  });

  it('picks two distinct endpoints at random and takes the lower score', () => {
    const endpoints = [ep(1), ep(2), ep(3)];
    // random 0 → index 0; then 0.6 × 2 → 1, shifted past 0 → index 2 (ep 3).
    const { s, advance } = store([0, 0.6, 0, 0.6]);
    s.observe(ep(1).key, 300, true);
    s.observe(ep(3).key, 20, true);
    expect(s.pick(endpoints)).toBe(endpoints[2]);
    advance(EWMA_DECAY_MS);
    s.observe(ep(1).key, 300, true);
    s.observe(ep(3).key, 10_000, true);
    expect(s.pick(endpoints)).toBe(endpoints[0]);
  });

  it('the two choices are always distinct; one endpoint left is the pick; exclude is honoured', () => {
    const endpoints = [ep(1), ep(2)];
    const { s } = store([0.99, 0.99, 0, 0]);
    s.observe(ep(2).key, 1, true);
    s.observe(ep(1).key, 1000, true);
    // Both randoms high: index 1, then index 0 (distinct) → the better, ep 2.
    expect(s.pick(endpoints)).toBe(endpoints[1]);
    expect(s.pick(endpoints, new Set([ep(2).key]))).toBe(endpoints[0]);
    expect(s.pick([ep(5)])).toEqual(ep(5));
    expect(s.pick([])).toBeUndefined();
    expect(s.pick(endpoints, new Set([ep(1).key, ep(2).key]))).toBeUndefined();
  });
});
