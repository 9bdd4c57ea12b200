// A fixed-size latency histogram: 1 µs buckets below 1 ms, then buckets 0.5 % wide up to about
// 10 minutes. Recording is O(1) and allocation-free, so a long load test keeps constant memory;
// percentiles are exact to the bucket width (≤ 1 µs or ≤ 0.5 %).

const LINEAR_US = 1000;
const GROWTH = 1.005;
const LOG_GROWTH = Math.log(GROWTH);
const MAX_US = 600e6;
const BUCKETS = LINEAR_US + Math.ceil(Math.log(MAX_US / LINEAR_US) / LOG_GROWTH) + 1;

function bucketOf(us: number): number {
  if (us < LINEAR_US) return us < 0 ? 0 : Math.floor(us);
  return Math.min(BUCKETS - 1, LINEAR_US + Math.floor(Math.log(us / LINEAR_US) / LOG_GROWTH));
}

/** The value a bucket reports: its lower bound (linear part) or its geometric middle. */
function valueOf(bucket: number): number {
  if (bucket < LINEAR_US) return bucket;
  return LINEAR_US * GROWTH ** (bucket - LINEAR_US + 0.5);
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #max = 0;

  /** Records one latency in milliseconds (fractional). */
  recordMs(ms: number): void {
    const us = ms * 1000;
    this.#counts[bucketOf(us)]!++;
    this.#count++;
    this.#sum += us;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#count;
  }

  /** Mean in ms (undefined when empty). */
  get meanMs(): number | undefined {
    return this.#count === 0 ? undefined : this.#sum / this.#count / 1000;
  }

  get maxMs(): number | undefined {
    return this.#count === 0 ? undefined : this.#max / 1000;
  }

  /** The q-quantile (0 < q ≤ 1) in ms; undefined when empty. */
  percentileMs(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b]!;
      if (seen >= rank) return Math.min(valueOf(b), this.#max) / 1000;
    }
    return this.#max / 1000;
  }
}
