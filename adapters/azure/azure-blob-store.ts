import { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import type { BlobInfo, BlobStore } from '../../core/ports';
import { statusOf } from './retry';

/** Either a connection string (account key: azurite, hand-made accounts) or the account URL and a token credential (managed identity). */
export type AzureBlobConnection = { connectionString: string } | { accountUrl: string; credential: TokenCredential };

export type AzureBlobStoreOptions = AzureBlobConnection & {
  container: string;
  /** Bytes per staged block; memory per upload is about blockBytes × concurrency. */
  blockBytes?: number;
  concurrency?: number;
  /** Up to this size a Uint8Array goes up in one request; larger sources are staged in blocks. */
  singleShotMaxBytes?: number;
  retry?: StoragePipelineOptions['retryOptions'];
};

/**
 * BlobStore on Azure Blob Storage (block blobs). Uploads stream: a source is cut
 * into blocks that are staged as they fill and committed at the end, so a 25 MB
 * message holds at most blockBytes × concurrency in memory, and a source that fails
 * midway never commits: nothing appears under the key (staged blocks are discarded
 * by the service). Downloads stream the response body. The SDK retries transient
 * faults (429, 5xx, dropped connections) with exponential backoff. With a token
 * credential it asks for https://storage.azure.com/.default (Storage Blob Data
 * Contributor on the container is all it needs).
 */
export class AzureBlobStore implements BlobStore {
  private readonly container: ContainerClient;
  private ready: Promise<void> | null = null;
  private readonly blockBytes: number;
  private readonly concurrency: number;
  private readonly singleShotMaxBytes: number;

  constructor(opts: AzureBlobStoreOptions) {
    const pipeline: StoragePipelineOptions = { retryOptions: opts.retry ?? { maxTries: 4, retryDelayInMs: 100, maxRetryDelayInMs: 2_000 } };
    const service = 'connectionString' in opts ? BlobServiceClient.fromConnectionString(opts.connectionString, pipeline) : new BlobServiceClient(opts.accountUrl, opts.credential, pipeline);
    this.container = service.getContainerClient(opts.container);
    this.blockBytes = opts.blockBytes ?? 4 * 1024 * 1024;
    this.concurrency = opts.concurrency ?? 2;
    this.singleShotMaxBytes = opts.singleShotMaxBytes ?? 4 * 1024 * 1024;
  }

  private ensureContainer(): Promise<void> {
    if (!this.ready) {
      this.ready = this.container.createIfNotExists().then(() => undefined);
      this.ready.catch(() => (this.ready = null));
    }
    return this.ready;
  }

  async put(key: string, source: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ size: number }> {
    await this.ensureContainer();
    const blob = this.container.getBlockBlobClient(key);
    if (source instanceof Uint8Array && source.byteLength <= this.singleShotMaxBytes) {
      await blob.upload(source, source.byteLength);
      return { size: source.byteLength };
    }
    let size = 0;
    const chunks = source instanceof Uint8Array ? [source] : source;
    async function* counted() {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        yield chunk;
      }
    }
    // a source that throws ends this stream with its error, and the block list is never committed
    await blob.uploadStream(Readable.from(counted(), { objectMode: false }), this.blockBytes, this.concurrency);
    return { size };
  }

  async get(key: string): Promise<Readable | null> {
    await this.ensureContainer();
    try {
      const response = await this.container.getBlobClient(key).download();
      return (response.readableStreamBody as Readable | undefined) ?? null;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    await this.ensureContainer();
    try {
      return await this.container.getBlobClient(key).downloadToBuffer();
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    await this.ensureContainer();
    try {
      const props = await this.container.getBlobClient(key).getProperties();
      return { size: props.contentLength ?? 0 };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.ensureContainer();
    await this.container.getBlobClient(key).deleteIfExists();
  }

  /** Committed blobs only (a failed upload never shows here), a page of up to 5000 per request. */
  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    await this.ensureContainer();
    for await (const item of this.container.listBlobsFlat({ prefix })) {
      yield { key: item.name, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified.getTime() };
    }
  }

  /** Blob Storage discards uncommitted blocks by itself (after seven days): nothing to remove. */
  async removeUnfinished(): Promise<{ count: number; bytes: number }> {
    return { count: 0, bytes: 0 };
  }

  async ping(): Promise<void> {
    await this.ensureContainer();
    await this.container.getProperties();
  }

  async close(): Promise<void> {
    // HTTP keep-alive sockets close with the process; nothing to release
  }
}
