import { isOutboundQueueMessage } from '../core/outbound';
import type { Logger } from '../core/logger';
import type { Queue, QueueDelivery } from '../core/ports';
import type { OutboundQueueMessage } from '../core/types';
import { QueueLoop } from './queue-loop';

/**
 * The local stand-in for the outbound Service Bus trigger: keeps up to `concurrency`
 * deliveries in flight (one slow relay does not hold up the others), each through
 * `deliver` (core/outbound.ts processOutbound, which schedules its own retries as new
 * queue messages), then completes it. A delivery that throws (the store or blobs
 * unavailable) is abandoned with backoff and tried again; a body that is not an
 * outbound message is dead-lettered at once.
 */
export class OutboundWorker extends QueueLoop {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly queue: Queue<OutboundQueueMessage>,
    private readonly deliver: (message: OutboundQueueMessage) => Promise<void>,
    private readonly logger: Logger,
    private readonly opts: { concurrency: number; idlePollMs: number; retryBaseMs: number } = { concurrency: 16, idlePollMs: 500, retryBaseMs: 1000 },
  ) {
    super(opts.idlePollMs);
    queue.onSend?.(() => this.wake());
  }

  protected async turn(): Promise<boolean> {
    const free = this.opts.concurrency - this.inFlight.size;
    if (free <= 0) return false; // a finished delivery wakes the loop
    let deliveries: QueueDelivery<OutboundQueueMessage>[] = [];
    try {
      deliveries = await this.queue.receive(free);
    } catch (err) {
      this.logger.error({ err }, 'outbound queue receive failed');
    }
    for (const d of deliveries) {
      const task = this.handle(d).finally(() => {
        this.inFlight.delete(task);
        this.wake();
      });
      this.inFlight.add(task);
    }
    return deliveries.length > 0 && this.inFlight.size < this.opts.concurrency;
  }

  protected async drain(): Promise<void> {
    await Promise.all(this.inFlight);
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
