import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { Backoff, sleep } from '../../src/k8s/backoff.js';

describe('Backoff', () => {
  it('grows exponentially to the cap and resets', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('jitters each delay down by at most the jitter fraction', () => {
    const low = new Backoff({ initialMs: 100, jitter: 0.5, random: () => 1 });
    const high = new Backoff({ initialMs: 100, jitter: 0.5, random: () => 0 });
    expect(low.next()).toBe(50);
    expect(high.next()).toBe(100);
  });

  it('sleep ends early when aborted', async () => {
    vi.useFakeTimers();
    onTestFinished(() => void vi.useRealTimers());
    const controller = new AbortController();
    let done = false;
    const slept = sleep(10_000, controller.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(done).toBe(false);
    controller.abort();
    await slept; // no timer advanced: the abort alone ended it
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0); // and its timer is gone
  });
});
