import { Backoff, type BackoffOptions } from './backoff.js';

export interface ReconcileLoopOptions {
  /** Quiet time before a pass, so a burst of changes makes one. */
  delayMs: number;
  /** Whether a pass may be scheduled now (leader, synced, …). */
  canRun: () => boolean;
  /** One pass; resolves false when a write failed and the pass must be retried. */
  pass: () => Promise<boolean>;
  /** Retry delay after a failed pass. Default 500 ms doubling to 30 s. */
  retryBackoff?: BackoffOptions;
}

/**
 * One pass at a time, coalesced: a burst within delayMs makes one pass, a schedule() during a pass
 * makes exactly one more after it, and a failed pass is retried with backoff (reset by a pass that
 * succeeds). The status writers (Ingress, Service) reconcile this way.
 */
export class ReconcileLoop {
  readonly #options: ReconcileLoopOptions;
  readonly #backoff: Backoff;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: ReconcileLoopOptions) {
    this.#options = options;
    this.#backoff = new Backoff({ initialMs: 500, maxMs: 30_000, ...options.retryBackoff });
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  schedule(delayMs = this.#options.delayMs): void {
    if (this.#stopped || !this.#options.canRun()) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#run().finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.schedule();
        }
      });
    }, delayMs);
  }

  /** Resolves when no pass is running or scheduled (a retry after a failure counts as scheduled). */
  async idle(): Promise<void> {
    while (this.#running || this.#timer) await (this.#running ?? new Promise((resolve) => setTimeout(resolve, 5)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #run(): Promise<void> {
    const ok = await this.#options.pass();
    if (ok) {
      this.#backoff.reset();
      return;
    }
    if (this.#stopped) return;
    // The retry replaces any pass asked for meanwhile: it reconciles everything anyway.
    this.#again = false;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.schedule(0);
    }, this.#backoff.next());
  }
}
