import { afterEach, describe, expect, it, vi } from 'vitest';
import { Holdoff } from '../../src/lib/holdoff.js';

describe('Holdoff', () => {
  afterEach(() => vi.useRealTimers());

  it('runs once after a quiet period', () => {
    vi.useFakeTimers();
    let runs = 0;
    const holdoff = new Holdoff({ delayMs: 20, maxDelayMs: 200, run: () => runs++ });
    holdoff.trigger();
    vi.advanceTimersByTime(10);
    holdoff.trigger();
    vi.advanceTimersByTime(19);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(1);
    expect(runs).toBe(1);
  });

  it('never delays a burst beyond maxDelayMs', () => {
    vi.useFakeTimers();
    let runs = 0;
    const holdoff = new Holdoff({ delayMs: 20, maxDelayMs: 100, run: () => runs++ });
    for (let t = 0; t < 100; t += 10) {
      holdoff.trigger();
      vi.advanceTimersByTime(10);
    }
    expect(runs).toBe(1);
  });

  it('flush runs a pending burst now, cancel drops it', () => {
    vi.useFakeTimers();
    let runs = 0;
    const holdoff = new Holdoff({ delayMs: 20, maxDelayMs: 100, run: () => runs++ });
    holdoff.flush();
    expect(runs).toBe(0);
    holdoff.trigger();
    holdoff.flush();
    expect(runs).toBe(1);
    holdoff.trigger();
    holdoff.cancel();
    vi.advanceTimersByTime(200);
    expect(runs).toBe(1);
  });

  it('applies a changed maxDelayMs from the next burst', () => {
    vi.useFakeTimers();
    let runs = 0;
    const holdoff = new Holdoff({ delayMs: 20, maxDelayMs: 100, run: () => runs++ });
    holdoff.maxDelayMs = 40;
    for (let t = 0; t < 40; t += 10) {
      holdoff.trigger();
      vi.advanceTimersByTime(10);
    }
    expect(runs).toBe(1);
    expect(holdoff.maxDelayMs).toBe(40);
  });
});
