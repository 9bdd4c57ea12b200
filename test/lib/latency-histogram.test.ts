import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../src/lib/latency-histogram.js';

describe('LatencyHistogram', () => {
  it('is empty until something is recorded', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.percentileMs(0.5)).toBeUndefined();
    expect(h.meanMs).toBeUndefined();
  });

  it('keeps 1 µs resolution below 1 ms', () => {
    const h = new LatencyHistogram();
    for (let us = 1; us <= 1000; us++) h.recordMs(us / 1000 - 0.0000001);
    expect(h.count).toBe(1000);
    expect(h.percentileMs(0.5)).toBeCloseTo(0.499, 6);
    expect(h.percentileMs(0.99)).toBeCloseTo(0.989, 6);
  });

  it('stays within 0.5 % above 1 ms, and never reports above the max', () => {
    const h = new LatencyHistogram();
    const values = Array.from({ length: 10_000 }, (_, i) => 1 + i * 0.37); // 1 ms … 3.7 s
    for (const v of values) h.recordMs(v);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      expect(Math.abs(h.percentileMs(q)! - exact) / exact).toBeLessThan(0.005);
    }
    expect(h.percentileMs(1)).toBeLessThanOrEqual(h.maxMs!);
    expect(h.maxMs).toBeCloseTo(values.at(-1)!, 9);
    expect(h.meanMs).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
  });
});
