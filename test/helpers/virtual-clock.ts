/**
 * Virtual time for code that takes `now` and `sleep` (LeaderElector, …): time moves only when the
 * test steps it, so assertions about "how long" count virtual milliseconds, never the wall clock.
 * Real I/O still happens in between; `step` waits until every participant is asleep again before
 * it moves time, so a busy machine only makes the test slower, never different.
 */
export class VirtualClock {
  #time: number;
  readonly #sleepers = new Set<{ at: number; wake: () => void }>();
  #onSleep: Array<() => void> = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#time = start;
  }

  readonly now = (): number => this.#time;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = {
        at: this.#time + ms,
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal?.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      signal?.addEventListener('abort', sleeper.wake, { once: true });
      this.#sleepers.add(sleeper);
      for (const notify of this.#onSleep.splice(0)) notify();
    });

  /** How many sleeps are pending. */
  get sleeping(): number {
    return this.#sleepers.size;
  }

  /** Resolves once at least `count` sleeps are pending (the participants are all waiting). */
  async settle(count: number): Promise<void> {
    while (this.#sleepers.size < count) await new Promise<void>((resolve) => this.#onSleep.push(resolve));
  }

  /** Waits for `participants` sleepers, then jumps to the earliest deadline and wakes what is due. */
  async step(participants: number): Promise<void> {
    await this.settle(participants);
    const next = Math.min(...[...this.#sleepers].map((s) => s.at));
    this.#time = Math.max(this.#time, next);
    for (const sleeper of [...this.#sleepers]) if (sleeper.at <= this.#time) sleeper.wake();
  }

  /** Steps until `done()` holds (checked with every participant asleep); throws after `limitMs` of virtual time. Returns the virtual ms it took. */
  async runUntil(done: () => boolean, options: { participants: number; limitMs: number; what: string }): Promise<number> {
    const started = this.#time;
    for (;;) {
      // Checked only when every participant is asleep: what it did at this instant is done.
      await this.settle(options.participants);
      if (done()) return this.#time - started;
      if (this.#time - started > options.limitMs) throw new Error(`${options.what}: not within ${options.limitMs} virtual ms`);
      await this.step(options.participants);
    }
  }

  /** Steps through `ms` of virtual time; returns with every participant asleep again. */
  async runFor(ms: number, participants: number): Promise<void> {
    const until = this.#time + ms;
    for (;;) {
      await this.settle(participants);
      const next = Math.min(...[...this.#sleepers].map((s) => s.at));
      if (next > until) break;
      await this.step(participants);
    }
    this.#time = until;
  }
}
