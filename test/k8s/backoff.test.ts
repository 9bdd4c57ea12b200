import { describe, expect, it } from 'vitest';
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
    const controller = new AbortController();
    const started = Date.now();
    const slept = sleep(10_000, controller.signal);
    controller.abort();
    await slept;
    expect(Date.now() - started).toBeLessThan(100);
  });
});
