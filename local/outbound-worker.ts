import { isOutboundQueueMessage } from '../core/outbound';
import type { Logger } from '../core/logger';
import type { Queue, QueueDelivery } from '../core/ports';
import type { OutboundQueueMessage } from '../core/types';

/**
 * The local stand-in for the outbound Service Bus trigger: keeps up to `concurrency`
 * deliveries in flight (one slow relay does not hold up the others), each through
 * `deliver` (core/outbound.ts processOutbound, which schedules its own retries as new
 * queue messages), then completes it. A delivery that throws (the store or blobs
 * unavailable) is abandoned with backoff and tried again; a body that is not an
 * outbound message is dead-lettered at once.
 */
export class OutboundWorker {
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly queue: Queue<OutboundQueueMessage>,
    private readonly deliver: (message: OutboundQueueMessage) => Promise<void>,
    private readonly logger: Logger,
    private readonly opts: { concurrency: number; idlePollMs: number; retryBaseMs: number } = { concurrency: 16, idlePollMs: 500, retryBaseMs: 1000 },
  ) {
    queue.onSend?.(() => this.wake());
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops taking new work and waits for the deliveries in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await Promise.all(this.inFlight);
    this.loop = null;
  }

  wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.opts.concurrency - this.inFlight.size;
      let deliveries: QueueDelivery<OutboundQueueMessage>[] = [];
      if (free > 0) {
        try {
          deliveries = await this.queue.receive(free);
        } catch (err) {
          this.logger.error({ err }, 'outbound queue receive failed');
        }
      }
      for (const d of deliveries) {
        const task = this.handle(d).finally(() => {
          this.inFlight.delete(task);
          this.wake();
        });
        this.inFlight.add(task);
      }
      if (deliveries.length === 0 || this.inFlight.size >= this.opts.concurrency) {
        // a scheduled retry becomes visible without a send: poll for it
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.wakeUp = null;
            resolve();
          }, this.opts.idlePollMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async handle(d: QueueDelivery<OutboundQueueMessage>): Promise<void> {
    if (!isOutboundQueueMessage(d.body)) {
      await this.queue.deadLetter(d, 'InvalidOutboundMessage').catch((err) => this.logger.error({ err }, 'dead-letter failed'));
      return;
    }
    try {
      await this.deliver(d.body);
      await this.queue.complete(d);
    } catch (err) {
      const retryInMs = Math.min(5 * 60_000, this.opts.retryBaseMs * 2 ** (d.deliveryCount - 1));
      this.logger.error({ err, messageId: d.id, attempt: d.deliveryCount, retryInMs }, 'outbound delivery failed; will retry');
      await this.queue.abandon(d, { retryInMs, error: err instanceof Error ? err.message : String(err) }).catch((e) => this.logger.error({ err: e }, 'abandon failed'));
    }
  }
}
