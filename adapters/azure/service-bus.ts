import type { TokenCredential } from '@azure/identity';
import { RetryMode, ServiceBusClient, parseServiceBusConnectionString, type ServiceBusClientOptions, type ServiceBusSender } from '@azure/service-bus';
import { MailError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { QueueSender } from '../../core/ports';

/** Either a connection string (shared access key) or the namespace and a token credential (managed identity). */
export type ServiceBusConnection = { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential };

export type ServiceBusSenderOptions = ServiceBusConnection & {
  queue: string;
  /** Retries of one send after the first try (the SDK backs off exponentially). */
  maxRetries?: number;
  retryDelayMs?: number;
  /** How long one try may take, connecting included. */
  tryTimeoutMs?: number;
};

/**
 * The SMTP edge's side of Service Bus. The connection is opened on first use (a
 * container that never receives mail never connects) and reopened by the SDK after
 * a drop. The queue message id is the inbound message id, so with duplicate
 * detection on the queue a retried send after an unknown outcome is dropped by
 * Service Bus, and filing is idempotent anyway. Transient failures are retried
 * with backoff; when they run out the caller gets TemporaryFailure (the edge's 451).
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
      const options: ServiceBusClientOptions = {
        retryOptions: { maxRetries: this.opts.maxRetries ?? 3, retryDelayInMs: this.opts.retryDelayMs ?? 200, maxRetryDelayInMs: 5_000, mode: RetryMode.Exponential, timeoutInMs: this.opts.tryTimeoutMs ?? 30_000 },
      };
      this.client = 'connectionString' in this.opts ? new ServiceBusClient(this.opts.connectionString, options) : new ServiceBusClient(this.opts.fullyQualifiedNamespace, this.opts.credential, options);
      this.sender = this.client.createSender(this.opts.queue);
    }
    return this.sender;
  }

  async send(id: string, body: T): Promise<void> {
    try {
      await this.getSender().sendMessages({ messageId: id, body, contentType: 'application/json' });
    } catch (err) {
      this.logger?.error({ err, messageId: id }, 'service bus send failed');
      throw new MailError('TemporaryFailure', undefined, { cause: err });
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
