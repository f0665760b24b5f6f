/** The smallest and largest buffers the pool keeps: sizes are powers of two in between. */
const MIN_CLASS = 4 * 1024;
export const MAX_POOLED_BYTES_EACH = 256 * 1024;
/** At most this much memory waits in the pool. */
const MAX_POOLED_TOTAL = 8 * 1024 * 1024;
/** A pool not taken from for this long (to twice this long) is emptied (after a burst of mail, say). */
const IDLE_DROP_MS = 30_000;

function sizeClass(size: number): number {
  let c = MIN_CLASS;
  while (c < size) c *= 2;
  return c;
}

/**
 * Buffers for blobs that cross to the writer thread (EmbeddedDb.write lends them; the
 * writer sends them back once its write has run). Every inline blob used to get a new
 * buffer: at 100 KB a message that was an allocation on fresh pages, zeroed and then
 * copied over, and the buffers that had crossed stayed behind as garbage in the writer
 * thread until its next collection (tens of MB under load). A buffer taken here may hold
 * an earlier blob's bytes past the view it is handed out as; only that view is ever read.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private pooled = 0;
  private takenSinceCheck = false;
  private timer: NodeJS.Timeout | null = null;

  /** A view of `size` bytes (contents undefined), on a pooled buffer when one of its class is free. */
  take(size: number): Uint8Array<ArrayBuffer> {
    this.takenSinceCheck = true;
    if (size > MAX_POOLED_BYTES_EACH) return new Uint8Array(size);
    const cls = sizeClass(size);
    const buffer = this.free.get(cls)?.pop();
    if (buffer) {
      this.pooled -= cls;
      return new Uint8Array(buffer, 0, size);
    }
    return new Uint8Array(new ArrayBuffer(cls), 0, size);
  }

  /** A buffer back from the writer thread: kept for the next take if it is one of the pool's sizes and there is room. */
  give(buffer: ArrayBuffer): void {
    const cls = buffer.byteLength;
    if (cls < MIN_CLASS || cls > MAX_POOLED_BYTES_EACH || sizeClass(cls) !== cls) return;
    if (this.pooled + cls > MAX_POOLED_TOTAL) return;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buffer);
    this.pooled += cls;
    this.timer ??= setInterval(() => this.dropIfIdle(), IDLE_DROP_MS).unref();
  }

  /** Bytes waiting in the pool. */
  get pooledBytes(): number {
    return this.pooled;
  }

  private dropIfIdle(): void {
    if (this.takenSinceCheck) {
      this.takenSinceCheck = false;
      return;
    }
    this.clear();
  }

  /** Lets every pooled buffer go. */
  clear(): void {
    this.free.clear();
    this.pooled = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
