import type { HttpRequest, HttpRequestParams } from '@azure/functions';

const utf8 = new TextDecoder();

/**
 * The HttpRequest the local host hands the Functions handlers: the body is already in
 * memory (http-server.ts reads it, within its limit, after the caller is authenticated),
 * so it is read from there. @azure/functions' own HttpRequest wraps an undici Request
 * (an AbortSignal, a body stream, a stream reader for text()): about 70 µs of CPU per
 * request, against a few µs here. The body reads behave as the Fetch API's do: text() is
 * UTF-8 without a byte-order mark, json() parses that, each body may be read once
 * (a second read rejects with TypeError), and formData() is undici's own (multipart
 * parsing is not redone here). Reading `body` as a stream counts as reading it once the
 * stream is locked to a reader, as with fetch. `user` is always null: the Functions host
 * fills it from x-ms-client-principal headers set by App Service authentication, which
 * the local host does not have (a client could send them). local/local-request.test.ts
 * compares it with the original.
 */
export class LocalHttpRequest implements HttpRequest {
  readonly user = null;
  private used = false;
  private stream: ReadableStream | null = null;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Headers,
    readonly query: URLSearchParams,
    readonly params: HttpRequestParams,
    private readonly bytes: Buffer | null,
  ) {}

  get body(): ReadableStream | null {
    if (!this.bytes) return null;
    this.stream ??= new Blob([this.bytes]).stream();
    return this.stream;
  }

  get bodyUsed(): boolean {
    return this.used || Boolean(this.stream?.locked);
  }

  /** The body's bytes, once: as the Fetch API, a second read is refused. */
  private take(): Promise<Buffer> {
    if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    this.used = true;
    return Promise.resolve(this.bytes ?? Buffer.alloc(0));
  }

  readonly text = async (): Promise<string> => utf8.decode(await this.take());

  readonly json = async (): Promise<unknown> => JSON.parse(await this.text());

  readonly arrayBuffer = async (): Promise<ArrayBuffer> => {
    const bytes = await this.take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };

  readonly blob = async (): Promise<Blob> => new Blob([await this.take()], { type: this.headers.get('content-type') ?? '' });

  readonly formData = async (): Promise<FormData> => {
    const bytes = await this.take();
    return new Request(this.url, { method: this.method, headers: this.headers, body: bytes.length ? bytes : undefined }).formData();
  };

  readonly clone = (): HttpRequest => {
    if (this.bodyUsed) throw new TypeError('Body has already been consumed');
    return new LocalHttpRequest(this.method, this.url, new Headers(this.headers), new URLSearchParams(this.query), { ...this.params }, this.bytes);
  };
}
