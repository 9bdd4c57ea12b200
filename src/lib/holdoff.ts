export interface HoldoffOptions {
  /** Run this long after the last trigger… */
  delayMs: number;
  /** …but never later than this after the first trigger of a burst. */
  maxDelayMs: number;
  run: () => void;
}

/**
 * Coalesces bursts of triggers into one run (Contour's holdoff): a quiet period of `delayMs`,
 * capped at `maxDelayMs` so a constant stream of events cannot starve the run.
 */
export class Holdoff {
  readonly #options: HoldoffOptions;
  #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #firstTriggerAt = 0;

  constructor(options: HoldoffOptions) {
    this.#options = options;
    this.#maxDelayMs = options.maxDelayMs;
  }

  /** The cap on a burst's delay; changing it applies from the next trigger. */
  get maxDelayMs(): number {
    return this.#maxDelayMs;
  }

  set maxDelayMs(ms: number) {
    this.#maxDelayMs = ms;
  }

  trigger(): void {
    const now = Date.now();
    if (this.#timer === undefined) this.#firstTriggerAt = now;
    else clearTimeout(this.#timer);
    const deadline = this.#firstTriggerAt + this.#maxDelayMs;
    const wait = Math.max(0, Math.min(this.#options.delayMs, deadline - now));
    this.#timer = setTimeout(this.#fire, wait);
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Runs now if a run is pending. */
  flush(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#fire();
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire = (): void => {
    this.#timer = undefined;
    this.#options.run();
  };
}
