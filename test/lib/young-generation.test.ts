import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { capYoungGeneration, nodeFlagGiven, type YoungGenerationHeap } from '../../src/lib/young-generation.js';

const MB = 1024 * 1024;

function fakeHeap(): YoungGenerationHeap & { size: number; factors: number[]; gc(): void; observing: boolean } {
  let listener: (() => void) | undefined;
  return {
    size: 2 * MB,
    factors: [],
    observing: false,
    newSpaceBytes() {
      return this.size;
    },
    setGrowthFactor(factor) {
      this.factors.push(factor);
    },
    onGc(l) {
      listener = l;
      this.observing = true;
      return () => {
        listener = undefined;
        this.observing = false;
      };
    },
    gc() {
      listener?.();
    },
  };
}

describe('capYoungGeneration', () => {
  it('stops growth once the new space reaches two semi-spaces, lets it grow again below, and restores the default on stop', () => {
    const heap = fakeHeap();
    const cap = capYoungGeneration({ maxSemiSpaceMb: 4, heap });
    expect(heap.factors).toEqual([]);
    heap.size = 4 * MB;
    heap.gc();
    expect(heap.factors).toEqual([]);
    heap.size = 8 * MB;
    heap.gc();
    heap.gc();
    expect(heap.factors).toEqual([1]);
    heap.size = 4 * MB; // V8 shrank it (low allocation rate)
    heap.gc();
    expect(heap.factors).toEqual([1, 2]);
    heap.size = 16 * MB;
    heap.gc();
    expect(heap.factors).toEqual([1, 2, 1]);
    cap.stop();
    expect(heap.factors).toEqual([1, 2, 1, 2]);
    expect(heap.observing).toBe(false);
  });

  it('a process already at the cap stops growth at once', () => {
    const heap = fakeHeap();
    heap.size = 8 * MB;
    capYoungGeneration({ maxSemiSpaceMb: 4, heap }).stop();
    expect(heap.factors).toEqual([1, 2]);
  });

  // Real V8: a workload that grows the new space to 32 MB and more keeps it at the cap (one resize
  // past it at worst, as GC entries arrive batched).
  it('holds a real V8 new space near the cap', () => {
    const script = (capped: boolean) => `
      import v8 from 'node:v8';
      import { capYoungGeneration } from ${JSON.stringify(new URL('../../src/lib/young-generation.ts', import.meta.url).href)};
      ${capped ? 'capYoungGeneration({ maxSemiSpaceMb: 4 });' : ''}
      let keep = [];
      for (let j = 0; j < 300; j++) {
        for (let i = 0; i < 1e4; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 20000) keep = []; }
        await new Promise((r) => setImmediate(r));
      }
      process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));`;
    const run = (capped: boolean) => Number(execFileSync(process.execPath, ['--experimental-strip-types', '--no-warnings', '--input-type=module', '-e', script(capped)], { encoding: 'utf8' }));
    expect(run(false)).toBeGreaterThan(16 * MB);
    expect(run(true)).toBeLessThanOrEqual(16 * MB);
  });
});

describe('nodeFlagGiven', () => {
  it('finds a flag with or without a value, in dashes or underscores, in execArgv or NODE_OPTIONS', () => {
    expect(nodeFlagGiven('--max-semi-space-size', ['--max-semi-space-size=8'], undefined)).toBe(true);
    expect(nodeFlagGiven('--max-semi-space-size', [], '--inspect --max_semi_space_size=2')).toBe(true);
    expect(nodeFlagGiven('--max-semi-space-size', ['--max-semi-space-size'], undefined)).toBe(true);
    expect(nodeFlagGiven('--max-semi-space-size', ['--max-semi-space-size-x=1'], '')).toBe(false);
    expect(nodeFlagGiven('--max-semi-space-size', [], undefined)).toBe(false);
  });
});
