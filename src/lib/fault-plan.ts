// Fault injection for fakes: every fake side effect calls step(label); the plan fails the n-th
// one. Tests run an operation once to count its steps, then once per step with a fault there.

export class InjectedFault extends Error {
  readonly step: number;
  constructor(label: string, step: number) {
    super(`injected fault at step ${step} (${label})`);
    this.name = 'InjectedFault';
    this.step = step;
  }
}

export class FaultPlan {
  #failAt: number | undefined;
  readonly #labels: string[] = [];

  constructor(options: { failAt?: number } = {}) {
    this.#failAt = options.failAt;
  }

  /** Fails the step `stepsFromNow` steps ahead (0: the next one); setup before this runs clean. */
  arm(stepsFromNow: number): void {
    this.#failAt = this.#labels.length + stepsFromNow;
  }

  disarm(): void {
    this.#failAt = undefined;
  }

  /** Records a step; throws InjectedFault if this is the step to fail. */
  step(label: string): void {
    const index = this.#labels.length;
    this.#labels.push(label);
    if (index === this.#failAt) throw new InjectedFault(label, index);
  }

  get count(): number {
    return this.#labels.length;
  }

  get labels(): readonly string[] {
    return this.#labels;
  }
}
