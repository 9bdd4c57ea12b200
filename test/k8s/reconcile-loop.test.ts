import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReconcileLoop } from '../../src/k8s/reconcile-loop.js';

describe('ReconcileLoop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('makes one pass of a burst, one more for changes during a pass, and retries a failed pass with backoff', async () => {
    const results = [true, true, false, true];
    const passes: number[] = [];
    let release: (() => void) | undefined;
    const loop = new ReconcileLoop({
      delayMs: 10,
      canRun: () => true,
      retryBackoff: { initialMs: 100, jitter: 0 },
      pass: async () => {
        passes.push(Date.now());
        if (passes.length === 1) await new Promise<void>((resolve) => (release = resolve));
        return results[passes.length - 1]!;
      },
    });
    const start = Date.now();
    for (let i = 0; i < 5; i++) loop.schedule();
    await vi.advanceTimersByTimeAsync(10);
    expect(passes).toHaveLength(1);
    loop.schedule(); // during the pass: exactly one more after it
    loop.schedule();
    release!();
    await vi.advanceTimersByTimeAsync(10);
    expect(passes).toHaveLength(2);
    loop.schedule(); // this one fails…
    await vi.advanceTimersByTimeAsync(10);
    expect(passes).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(99);
    expect(passes).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(2); // …and is retried after the backoff (then a 0 ms timer: 1 ms in Node)
    expect(passes.map((at) => at - start)).toEqual([10, 20, 30, 131]);
    await loop.idle();
    await loop.stop();
    loop.schedule();
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes).toHaveLength(4);
  });

  it('does not schedule while canRun says no', async () => {
    let allowed = false;
    let count = 0;
    const loop = new ReconcileLoop({ delayMs: 1, canRun: () => allowed, pass: async () => (count++, true) });
    loop.schedule();
    await vi.advanceTimersByTimeAsync(10);
    expect(count).toBe(0);
    allowed = true;
    loop.schedule();
    await vi.advanceTimersByTimeAsync(10);
    expect(count).toBe(1);
  });
});
