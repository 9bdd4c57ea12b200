// Undo actions registered as ADD makes changes, run newest first when a later step fails, so a
// failed ADD leaves the host as it found it. Undo failures are logged and do not hide the cause.

export class Rollback {
  readonly #steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];
  readonly #log: (message: string) => void;

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  push(what: string, undo: () => Promise<unknown>): void {
    this.#steps.push({ what, undo });
  }

  get size(): number {
    return this.#steps.length;
  }

  async run(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step.undo();
      } catch (error) {
        this.#log(`rollback: could not ${step.what}: ${(error as Error).message}`);
      }
    }
  }
}
