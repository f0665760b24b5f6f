import type { TokenCredential } from '@azure/identity';
import { ServiceBusClient, parseServiceBusConnectionString, type ServiceBusClientOptions, type ServiceBusSender } from '@azure/service-bus';
import Long from 'long';
import { MailError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { QueueBrowser, QueueSender } from '../../core/ports';

/** Either a connection string (shared access key) or the namespace and a token credential (managed identity). */
export type ServiceBusConnection = { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential };

export type ServiceBusSenderOptions = ServiceBusConnection & {
  queue: string;
  /** Retries of one send after the first try, with exponential backoff from retryDelayMs. */
  maxRetries?: number;
  retryDelayMs?: number;
  /** How long one try may take, connecting included. */
  tryTimeoutMs?: number;
};

/** A client for either connection form. */
function serviceBusClient(connection: ServiceBusConnection, options: ServiceBusClientOptions): ServiceBusClient {
  return 'connectionString' in connection ? new ServiceBusClient(connection.connectionString, options) : new ServiceBusClient(connection.fullyQualifiedNamespace, connection.credential, options);
}

/**
 * Service Bus error codes that mean the service refused the message: it was surely
 * not queued. Anything else after the message may have gone out (a timeout waiting
 * for the settlement, a dropped connection, an unknown error) leaves the outcome
 * unknown: the message may be in the queue.
 */
const REFUSED = new Set(['ServiceBusy', 'QuotaExceeded', 'MessageSizeExceeded', 'MessagingEntityNotFound', 'MessagingEntityDisabled', 'UnauthorizedAccess']);

function refused(err: unknown): boolean {
  return (err as { name?: string }).name === 'ServiceBusError' && REFUSED.has(String((err as { code?: string }).code));
}

/**
 * The SMTP edge's side of Service Bus. The connection is opened on first use (a
 * container that never receives mail never connects) and reopened by the SDK after
 * a drop. The queue message id is the inbound message id, so with duplicate
 * detection on the queue a retried send after an unknown outcome is dropped by
 * Service Bus, and filing is idempotent anyway.
 *
 * Retries are made here, not by the SDK, because only here is every try's outcome
 * seen: a try that timed out may have queued the message even if the last try was
 * refused. When the tries run out the caller gets TemporaryFailure (the edge's 451)
 * with `outcome` `not-done` if every try was refused by the service, else `unknown`.
 * With a token credential it asks for https://servicebus.azure.net//.default and
 * needs the Azure Service Bus Data Sender role on the namespace or queue.
 */
export class ServiceBusQueueSender<T> implements QueueSender<T> {
  private client: ServiceBusClient | null = null;
  private sender: ServiceBusSender | null = null;

  constructor(
    private readonly opts: ServiceBusSenderOptions,
    private readonly logger?: Logger,
  ) {
    // connecting waits for the first message, but a malformed connection string is known now
    if (!('connectionString' in opts)) return;
    const parsed = parseServiceBusConnectionString(opts.connectionString);
    if (!parsed.fullyQualifiedNamespace || !(parsed.sharedAccessKey || parsed.sharedAccessSignature)) throw new Error('the connection string needs Endpoint=sb://… and SharedAccessKey(Name) or SharedAccessSignature');
  }

  private getSender(): ServiceBusSender {
    if (!this.sender) {
      this.client = serviceBusClient(this.opts, { retryOptions: { maxRetries: 0, timeoutInMs: this.opts.tryTimeoutMs ?? 30_000 } });
      this.sender = this.client.createSender(this.opts.queue);
    }
    return this.sender;
  }

  async send(id: string, body: T, opts: { notBefore?: number } = {}): Promise<void> {
    // a scheduled message travels with the x-opt-scheduled-enqueue-time annotation; Service Bus holds it until then
    const scheduled = opts.notBefore !== undefined && opts.notBefore > Date.now() ? { scheduledEnqueueTimeUtc: new Date(opts.notBefore) } : {};
    const tries = 1 + (this.opts.maxRetries ?? 3);
    const baseMs = this.opts.retryDelayMs ?? 200;
    let mayBeQueued = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.getSender().sendMessages({ messageId: id, body, contentType: 'application/json', ...scheduled });
        if (mayBeQueued) this.logger?.warn({ messageId: id, attempt }, 'service bus send succeeded after a try whose outcome was unknown (duplicate detection drops a second copy)');
        return;
      } catch (err) {
        const wasRefused = refused(err);
        if (!wasRefused) mayBeQueued = true;
        // a try of unknown outcome is always worth another: with the same id it cannot queue twice
        const retryable = !wasRefused || (err as { retryable?: boolean }).retryable !== false;
        if (attempt >= tries || !retryable) {
          const outcome = mayBeQueued ? 'unknown' : 'not-done';
          this.logger?.error({ err, messageId: id, attempts: attempt, outcome }, 'service bus send failed');
          throw new MailError('TemporaryFailure', undefined, { cause: err, outcome });
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, baseMs * 2 ** (attempt - 1))));
      }
    }
  }

  /** Readiness: opens the link (a batch needs the queue's size limit from the service). */
  async ping(): Promise<void> {
    await this.getSender().createMessageBatch();
  }

  async close(): Promise<void> {
    await this.sender?.close();
    await this.client?.close();
    this.sender = null;
    this.client = null;
  }
}

/**
 * Browsing a Service Bus queue by peeking (nothing is locked or taken): each
 * browse opens a receiver, peeks a page at a time from the oldest message on, and
 * closes it. Peeking shows active, locked and deferred messages, not dead-lettered
 * ones. Needs Listen rights (the Functions app's connection has them; with a token
 * credential, the Azure Service Bus Data Receiver role its trigger needs anyway).
 */
export class ServiceBusQueueBrowser<T> implements QueueBrowser<T> {
  private client: ServiceBusClient | null = null;

  constructor(private readonly opts: ServiceBusConnection & { queue: string; pageSize?: number; tryTimeoutMs?: number }) {}

  async *browse(): AsyncIterable<T> {
    this.client ??= serviceBusClient(this.opts, { retryOptions: { maxRetries: 3, timeoutInMs: this.opts.tryTimeoutMs ?? 30_000 } });
    const receiver = this.client.createReceiver(this.opts.queue);
    try {
      // from the oldest on, by sequence number (without one, peeking goes on from where the client's last peek ended)
      let next = Long.ONE;
      for (;;) {
        const page = await receiver.peekMessages(this.opts.pageSize ?? 250, { fromSequenceNumber: next });
        for (const message of page) yield message.body as T;
        if (page.length === 0) return;
        next = (page[page.length - 1].sequenceNumber ?? next).add(1);
      }
    } catch (err) {
      throw new MailError('TemporaryFailure', 'could not browse the queue', { cause: err });
    } finally {
      await receiver.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = null;
  }
}
