import type { InvocationContext } from '@azure/functions';
import { MailError } from '../core/errors';
import { fileInbound, isInboundQueueMessage } from '../core/inbound';
import type { Logger } from '../core/logger';
import type { MailStore } from '../core/ports';

/** The Service Bus binding's connection setting and queue name (app settings). */
export const INBOUND_TRIGGER = { name: 'inbound-file', connection: 'NIMBUS_SERVICEBUS_CONNECTION', queueName: '%NIMBUS_SERVICEBUS_QUEUE%' } as const;

/** The host hands over a JSON body already parsed; a body sent as bytes or text is parsed here. */
export function decodeBody(message: unknown): unknown {
  try {
    if (Buffer.isBuffer(message) || message instanceof Uint8Array) return JSON.parse(Buffer.from(message).toString('utf8'));
    if (typeof message === 'string') return JSON.parse(message);
  } catch {
    return undefined;
  }
  return message;
}

/**
 * The Service Bus queue trigger (one message per invocation): files an inbound
 * message into every recipient's mailbox (core/inbound.ts, shared with the local
 * worker). Throwing hands the message back to Service Bus, which redelivers it and,
 * after the queue's maxDeliveryCount, moves it to the dead-letter queue; so
 * a transient fault (Cosmos DB throttled past the retries) is retried, and a poison
 * message (a body that is not an inbound message) ends in the dead-letter queue
 * without holding up the messages behind it. Filing is idempotent per (user, inbound
 * id), so a redelivery after a partial success files nothing twice.
 */
export function createInboundTrigger(getContext: () => { store: MailStore; logger: Logger }) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const { store, logger } = getContext();
    const meta = context.triggerMetadata ?? {};
    const body = decodeBody(message);
    if (!isInboundQueueMessage(body)) {
      logger.error({ messageId: meta.messageId, deliveryCount: meta.deliveryCount }, 'unreadable inbound queue message; it is dead-lettered after the last delivery');
      throw new MailError('ValidationFailed', 'InvalidInboundMessage: the body is not an inbound queue message');
    }
    const filed = await fileInbound(store, [body], logger);
    logger.info({ messageId: body.id, copies: filed.length, deliveryCount: meta.deliveryCount }, 'inbound message filed');
  };
}
