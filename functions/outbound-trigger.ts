import type { InvocationContext } from '@azure/functions';
import { MailError } from '../core/errors';
import { isOutboundQueueMessage, processOutbound } from '../core/outbound';
import { deliverDeps, type AppContext } from './app-context';
import { decodeBody } from './inbound-trigger';

/** The Service Bus binding of the outbound queue (app settings). */
export const OUTBOUND_TRIGGER = { name: 'outbound-deliver', connection: 'NIMBUS_SERVICEBUS_CONNECTION', queueName: '%NIMBUS_SERVICEBUS_OUTBOUND_QUEUE%' } as const;

/**
 * The outbound queue trigger (one message per invocation): one delivery attempt
 * through the configured transport (SendGrid in Azure, where port 25 is blocked),
 * the same core code the local worker runs. A retry is a new message scheduled for
 * the next attempt (scheduledEnqueueTimeUtc) before this one completes, so the
 * schedule is Nimbus's, not the queue's redelivery count. Throwing (the store or
 * Blob Storage unavailable) hands the message back to Service Bus to redeliver.
 */
export function createOutboundTrigger(getContext: () => AppContext) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const app = getContext();
    const body = decodeBody(message);
    if (!isOutboundQueueMessage(body)) {
      const meta = context.triggerMetadata ?? {};
      app.logger.error({ messageId: meta.messageId, deliveryCount: meta.deliveryCount }, 'unreadable outbound queue message; it is dead-lettered after the last delivery');
      throw new MailError('ValidationFailed', 'InvalidOutboundMessage: the body is not an outbound queue message');
    }
    await processOutbound(deliverDeps(app), body);
  };
}
