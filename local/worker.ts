import { fileInbound, isInboundQueueMessage } from '../core/inbound';
import type { Logger } from '../core/logger';
import type { MailStore, Queue, QueueDelivery } from '../core/ports';
import type { InboundQueueMessage } from '../core/types';
import { QueueLoop } from './queue-loop';

export interface WorkerOptions {
  batchSize?: number;
  idlePollMs?: number;
  /** Backoff for a failed delivery: base * 2^(attempt-1), capped. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/**
 * The local stand-in for the Service Bus trigger: receives inbound queue messages in
 * batches and files them. A batch is filed in one store call (one group commit); if
 * that fails, each message is tried alone so one bad message cannot hold up others.
 */
export class InboundWorker extends QueueLoop {
  private readonly opts: Required<WorkerOptions>;

  constructor(
    private readonly store: MailStore,
    private readonly queue: Queue<InboundQueueMessage>,
    private readonly logger: Logger,
    opts: WorkerOptions = {},
  ) {
    const all = { batchSize: 64, idlePollMs: 500, retryBaseMs: 1000, retryMaxMs: 5 * 60_000, ...opts };
    super(all.idlePollMs);
    this.opts = all;
    queue.onSend?.(() => this.wake());
  }

  protected async turn(): Promise<boolean> {
    let deliveries: QueueDelivery<InboundQueueMessage>[] = [];
    try {
      deliveries = await this.queue.receive(this.opts.batchSize);
    } catch (err) {
      this.logger.error({ err }, 'queue receive failed');
    }
    if (deliveries.length === 0) return false;
    await this.processBatch(deliveries);
    return true;
  }

  /** Files one batch; exposed for tests that drive the worker step by step. */
  async processBatch(deliveries: QueueDelivery<InboundQueueMessage>[]): Promise<void> {
    const valid: QueueDelivery<InboundQueueMessage>[] = [];
    for (const d of deliveries) {
      if (isInboundQueueMessage(d.body)) valid.push(d);
      else await this.queue.deadLetter(d, 'InvalidInboundMessage').catch((err) => this.logger.error({ err }, 'dead-letter failed'));
    }
    if (valid.length === 0) return;
    try {
      await fileInbound(this.store, valid.map((d) => d.body), this.logger);
      await Promise.all(valid.map((d) => this.queue.complete(d)));
      return;
    } catch (err) {
      if (valid.length === 1) {
        await this.fail(valid[0], err);
        return;
      }
      this.logger.warn({ err, batch: valid.length }, 'batch filing failed; filing one by one');
    }
    for (const d of valid) {
      try {
        await fileInbound(this.store, [d.body], this.logger);
        await this.queue.complete(d);
      } catch (err) {
        await this.fail(d, err);
      }
    }
  }

  private async fail(d: QueueDelivery<InboundQueueMessage>, err: unknown): Promise<void> {
    const retryInMs = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (d.deliveryCount - 1));
    this.logger.error({ err, messageId: d.id, attempt: d.deliveryCount, retryInMs }, 'filing failed; will retry');
    await this.queue.abandon(d, { retryInMs, error: err instanceof Error ? err.message : String(err) }).catch((e) => this.logger.error({ err: e }, 'abandon failed'));
  }
}
