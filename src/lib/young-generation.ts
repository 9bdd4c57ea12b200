// A run-time cap on V8's young generation, the fallback when a serving process cannot replace itself
// with the flag (serving-memory.ts): it acts only after startup has grown the new space. V8 reads --max-semi-space-size only when the isolate
// starts, so a process started without it lets its semi-spaces grow to 16 MB under load (new space
// 32–64 MB: about 20 MB more RSS beside the same CPU per request, bench/compare). The growth factor,
// though, is read at every resize: after each GC the new space is measured, and at the cap growth
// stops (factor 1); should V8 shrink it below the cap, the default factor returns.
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';

/** What the cap needs from V8 (a fake in tests). */
export interface YoungGenerationHeap {
  /** The new space's current size in bytes (both semi-spaces). */
  newSpaceBytes(): number;
  setGrowthFactor(factor: number): void;
  /** Calls `listener` after garbage collections (batched is fine); returns a function that stops. */
  onGc(listener: () => void): () => void;
}

/** The semi-space size Portico's serving processes keep to (workers get it as --max-semi-space-size). */
export const SEMI_SPACE_MB = 4;

/** V8's default --semi-space-growth-factor. */
const DEFAULT_GROWTH_FACTOR = 2;

export const v8YoungGenerationHeap: YoungGenerationHeap = {
  newSpaceBytes: () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0,
  setGrowthFactor: (factor) => v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`),
  onGc(listener) {
    const observer = new PerformanceObserver(() => listener());
    observer.observe({ entryTypes: ['gc'] });
    return () => observer.disconnect();
  },
};

export interface YoungGenerationCap {
  stop(): void;
}

/** Keeps the new space at most two semi-spaces of `maxSemiSpaceMb` (one resize past it at worst). */
export function capYoungGeneration(options: { readonly maxSemiSpaceMb: number; readonly heap?: YoungGenerationHeap }): YoungGenerationCap {
  const heap = options.heap ?? v8YoungGenerationHeap;
  const capBytes = 2 * options.maxSemiSpaceMb * 1024 * 1024;
  let growing = true;
  const check = (): void => {
    const atCap = heap.newSpaceBytes() >= capBytes;
    if (atCap === growing) {
      growing = !atCap;
      heap.setGrowthFactor(growing ? DEFAULT_GROWTH_FACTOR : 1);
    }
  };
  check();
  const stopObserving = heap.onGc(check);
  return {
    stop() {
      stopObserving();
      if (!growing) heap.setGrowthFactor(DEFAULT_GROWTH_FACTOR);
    },
  };
}

/** True when `flag` (`--name`, dashes or underscores) is among the Node flags or NODE_OPTIONS. */
export function nodeFlagGiven(flag: string, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const name = flag.replaceAll('_', '-');
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((given) => {
    const normal = given.replaceAll('_', '-');
    return normal === name || normal.startsWith(`${name}=`);
  });
}
