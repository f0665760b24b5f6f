/**
 * The loop a local queue worker runs (the stand-in for a Service Bus trigger): a turn
 * at a time while running; after a turn with nothing to do it sleeps until `wake()`
 * (a send on its queue) or `idlePollMs` (a retry becomes visible by itself).
 */
export abstract class QueueLoop {
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;

  constructor(private readonly idlePollMs: number) {}

  /** One turn; true when it wants the next one at once (it found work and has room for more). */
  protected abstract turn(): Promise<boolean>;

  /** Waits for work still under way when the loop stops. */
  protected async drain(): Promise<void> {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await this.drain();
    this.loop = null;
  }

  wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (await this.turn()) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wakeUp = null;
          resolve();
        }, this.idlePollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
