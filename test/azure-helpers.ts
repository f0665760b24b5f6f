import { HttpRequest, InvocationContext, type HttpFunctionOptions, type HttpResponseInit, type ServiceBusQueueFunctionOptions, type TimerFunctionOptions } from '@azure/functions';
import type { ActivityOptions, OrchestrationHandler } from 'durable-functions';
import { Readable } from 'node:stream';
import { startAzurite, startCosmosEmulator, startFakeServiceBus, type FakeServiceBus } from '../adapters/azure/emulators';
import { startLoopbackDnsServer, type LoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { loadConfig, type Config } from '../core/config';
import type { BlobStore } from '../core/ports';
import type { FunctionsRegistry } from '../functions/register';

/**
 * The Azure shape's stand-ins, all on 127.0.0.1: Cosmos DB (@vercel/cosmosdb-server),
 * Blob Storage (azurite) and a minimal Service Bus AMQP endpoint that the real SDK
 * sender talks to (adapters/azure/emulators.ts). The Functions host itself cannot
 * run here (azure-functions-core-tools downloads a binary), so tests register the
 * functions with a RecordingRegistry and invoke them as the host would.
 */
export interface AzureStack {
  cosmos: Awaited<ReturnType<typeof startCosmosEmulator>>;
  azurite: Awaited<ReturnType<typeof startAzurite>>;
  bus: FakeServiceBus;
  /** DNS for the edge and the Functions (NIMBUS_DNS_SERVERS points here; an empty table unless a test fills it). */
  dns: LoopbackDnsServer;
  /** Azure-mode settings pointing at the stand-ins; a fresh database and container per call. */
  config(env?: Record<string, string>): Config;
  /** The same, as environment variables. */
  env(env?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startAzureStack(): Promise<AzureStack> {
  const [cosmos, azurite, bus, dns] = await Promise.all([startCosmosEmulator(), startAzurite(), startFakeServiceBus(), startLoopbackDnsServer()]);
  const settings = (env: Record<string, string> = {}): Record<string, string> => {
    counter++;
    return {
      NIMBUS_MODE: 'azure',
      NIMBUS_COSMOS_ENDPOINT: cosmos.endpoint,
      NIMBUS_COSMOS_KEY: cosmos.key,
      NIMBUS_COSMOS_DATABASE: `azure-test-${process.pid}-${counter}`,
      NIMBUS_BLOB_CONNECTION_STRING: azurite.connectionString,
      NIMBUS_BLOB_CONTAINER: `mail-${process.pid}-${counter}`,
      NIMBUS_SERVICEBUS_CONNECTION: bus.connectionString,
      NIMBUS_SERVICEBUS_QUEUE: 'inbound',
      NIMBUS_JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
      NIMBUS_SETUP_TOKEN: 'test-setup-token-0123',
      NIMBUS_SMTP_HOST: '127.0.0.1',
      NIMBUS_SMTP_PORT: '0',
      NIMBUS_SUBMISSION_PORT: '0',
      NIMBUS_SUBMISSION_TLS_PORT: '0',
      NIMBUS_HOSTNAME: 'mx.test',
      NIMBUS_LOG_LEVEL: 'silent',
      NIMBUS_DNS_SERVERS: dns.address,
      NIMBUS_DNS_TIMEOUT_MS: '1000',
      ...env,
    };
  };
  return {
    cosmos,
    azurite,
    bus,
    dns,
    config: (env) => loadConfig(settings(env)),
    env: settings,
    async stop() {
      await Promise.all([cosmos.stop(), azurite.stop(), bus.stop(), dns.stop()]);
    },
  };
}

/** Records what the Functions entry registers, so tests can compare and invoke it. */
export class RecordingRegistry implements FunctionsRegistry {
  readonly httpFunctions = new Map<string, HttpFunctionOptions>();
  readonly serviceBusFunctions = new Map<string, ServiceBusQueueFunctionOptions>();
  http(name: string, options: HttpFunctionOptions): void {
    if (this.httpFunctions.has(name)) throw new Error(`function ${name} registered twice`);
    this.httpFunctions.set(name, options);
  }
  serviceBusQueue(name: string, options: ServiceBusQueueFunctionOptions): void {
    if (this.serviceBusFunctions.has(name)) throw new Error(`function ${name} registered twice`);
    this.serviceBusFunctions.set(name, options);
  }
  readonly timerFunctions = new Map<string, TimerFunctionOptions>();
  readonly orchestrations = new Map<string, OrchestrationHandler>();
  readonly activities = new Map<string, ActivityOptions>();
  timer(name: string, options: TimerFunctionOptions): void {
    if (this.timerFunctions.has(name)) throw new Error(`function ${name} registered twice`);
    this.timerFunctions.set(name, options);
  }

  /** Fires a timer function as the host does on its schedule. */
  async tick(name: string): Promise<void> {
    const fn = this.timerFunctions.get(name);
    if (!fn) throw new Error(`no function ${name}`);
    await fn.handler({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, new InvocationContext({ functionName: name, invocationId: `timer-${Date.now()}` }));
  }
  orchestration(name: string, handler: OrchestrationHandler): void {
    if (this.orchestrations.has(name)) throw new Error(`function ${name} registered twice`);
    this.orchestrations.set(name, handler);
  }
  activity(name: string, options: ActivityOptions): void {
    if (this.activities.has(name)) throw new Error(`function ${name} registered twice`);
    this.activities.set(name, options);
  }

  /** Calls an HTTP function the way the host does: an HttpRequest in, an HttpResponseInit out (body read to bytes). */
  async call(name: string, req: { method: string; path?: string; params?: Record<string, string>; query?: Record<string, string>; body?: unknown; token?: string }): Promise<{ status: number; json: any; bytes: Buffer; headers: Headers }> {
    const fn = this.httpFunctions.get(name);
    if (!fn) throw new Error(`no function ${name}`);
    const headers: Record<string, string> = { 'x-forwarded-for': '127.0.0.1' };
    if (req.token) headers.authorization = `Bearer ${req.token}`;
    let body: { string: string } | undefined;
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = { string: JSON.stringify(req.body) };
    }
    const request = new HttpRequest({ method: req.method, url: `http://functions.test/api/${req.path ?? name}`, headers, query: req.query ?? {}, params: req.params ?? {}, body });
    const res = (await fn.handler(request, new InvocationContext({ functionName: name, invocationId: `test-${Date.now()}` }))) as HttpResponseInit;
    let bytes: Buffer;
    if (res.jsonBody !== undefined) bytes = Buffer.from(JSON.stringify(res.jsonBody));
    else if (res.body instanceof Readable) {
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(Buffer.from(c));
      bytes = Buffer.concat(chunks);
    } else if (typeof res.body === 'string') bytes = Buffer.from(res.body);
    else if (res.body instanceof Uint8Array) bytes = Buffer.from(res.body);
    else bytes = Buffer.alloc(0);
    const text = bytes.toString('utf8');
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status ?? 200, json, bytes, headers: new Headers(res.headers as Record<string, string>) };
  }

  /** Delivers one Service Bus message to the queue trigger as the host does (cardinality one). */
  async deliver(name: string, body: unknown, meta: { messageId: string; deliveryCount: number }): Promise<void> {
    const fn = this.serviceBusFunctions.get(name);
    if (!fn) throw new Error(`no function ${name}`);
    await fn.handler(body, new InvocationContext({ functionName: name, invocationId: `sb-${meta.messageId}-${meta.deliveryCount}`, triggerMetadata: meta }));
  }
}

/** The keys a BlobStore lists, in order. */
export async function listKeys(blobs: BlobStore, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const blob of blobs.list(prefix)) keys.push(blob.key);
  return keys;
}
