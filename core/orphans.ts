import { isInboundKey } from './blob-keys';
import type { Logger } from './logger';
import type { BlobInfo, BlobStore, MailStore, QueueBrowser } from './ports';
import type { InboundQueueMessage, OutboundQueueMessage } from './types';

/**
 * Blobs nothing refers to any more, and their removal. A blob is referred to by a
 * record (MailStore.referencedBlobKeys: messages, drafts) or by a message still
 * waiting in a queue (a BlobReferenceSource). Orphans come from a crash between the
 * blob and the queue message, a queue send of unknown outcome, messages whose
 * recipients were all deleted before filing, dead-lettered messages, uploads to a
 * draft that never saved, and temporary files of interrupted uploads.
 */

/** A holder of blob references besides the records: a queue's waiting messages. */
export interface BlobReferenceSource {
  name: string;
  /** Whether it can refer to this key at all; it is asked only about those. */
  mayRefer(key: string): boolean;
  /**
   * Of `keys`, those it refers to. `bounded`: the asker is a request (a delete), not
   * the sweeper: past a short look, answer every key as referred to (kept; the
   * sweeper decides later, with the whole look).
   */
  referenced(keys: Set<string>, opts: { bounded: boolean }): Promise<Set<string>>;
}

/** Messages looked at by a bounded check before it gives up. */
const BOUNDED_QUEUE_LOOK = 2000;

/** A queue as a reference holder: every live message's blob keys (`keysOf`). */
export function queueReferences<T>(name: string, queue: QueueBrowser<T>, keysOf: (body: T) => string[], mayRefer: (key: string) => boolean): BlobReferenceSource {
  return {
    name,
    mayRefer,
    async referenced(keys, opts) {
      const found = new Set<string>();
      let looked = 0;
      for await (const body of queue.browse()) {
        if (opts.bounded && ++looked > BOUNDED_QUEUE_LOOK) return new Set(keys);
        for (const key of keysOf(body)) if (keys.has(key)) found.add(key);
      }
      return found;
    },
  };
}

/** The queues (and other holders) whose messages refer to blobs. */
export interface ReferenceHolders {
  inbound: QueueBrowser<InboundQueueMessage>;
  /** Deliveries waiting (and scheduled retries): their bytes outlive a Sent copy deleted meanwhile. */
  outbound: QueueBrowser<OutboundQueueMessage>;
}

/**
 * Every holder of blob references besides the records, in one place: a new kind
 * (the sending issue's outbound queue) is one entry here, with its holder in
 * ReferenceHolders; a new kind of record is answered for by the stores'
 * referencedBlobKeys.
 */
export function blobReferenceSources(holders: ReferenceHolders): BlobReferenceSource[] {
  const rawKey = (m: { rawBlobKey?: unknown } | null | undefined) => (typeof m?.rawBlobKey === 'string' ? [m.rawBlobKey] : []);
  return [queueReferences('inbound queue', holders.inbound, rawKey, isInboundKey), queueReferences('outbound queue', holders.outbound, rawKey, isInboundKey)];
}

export interface SweepSettings {
  /** Blobs younger than this are never removed: their reference may be on its way (a queue send, a draft save). */
  graceMs: number;
  /** Find and log, remove nothing. */
  dryRun: boolean;
  /** Orphans handled in one sweep at most; the next sweep goes on. */
  maxPerSweep?: number;
}

export interface SweepReport {
  /** Blobs listed, and of those older than the grace period. */
  scanned: number;
  old: number;
  /** Old blobs nothing refers to; `removed` of them (0 in a dry run), `bytes` their size. */
  orphans: number;
  removed: number;
  bytes: number;
  /** Temporary files of interrupted uploads found (removed unless a dry run). */
  unfinished: { count: number; bytes: number };
  dryRun: boolean;
  /** The sweep stopped at maxPerSweep orphans: more may be left for the next. */
  more: boolean;
  ms: number;
}

/** Orphans named in the log per sweep, at most. */
const LOGGED_KEYS = 100;

export class OrphanSweeper {
  private running: Promise<SweepReport> | null = null;

  constructor(
    private readonly deps: { store: MailStore; blobs: BlobStore; sources: BlobReferenceSource[]; logger: Logger },
    readonly settings: SweepSettings,
  ) {}

  /**
   * After records were deleted: removes those of `keys` nothing refers to any more
   * (a copy of the same message still waiting in the queue for another recipient
   * keeps its bytes). Never fails the caller: what it cannot decide or remove is
   * left to the sweeper. Not affected by the dry run, which is the sweeper's.
   */
  async release(keys: string[]): Promise<void> {
    if (!keys.length) return;
    try {
      const unused = await this.unreferenced(new Set(keys), { bounded: true });
      await Promise.all([...unused].map((key) => this.deps.blobs.delete(key).catch((err) => this.deps.logger.error({ err, blobKey: key }, 'could not remove blob; the orphan sweeper will'))));
    } catch (err) {
      this.deps.logger.warn({ err, keys: keys.length }, 'could not check who refers to blobs; the orphan sweeper will remove them');
    }
  }

  /**
   * Records first, then the other holders, then the records again: a queue message
   * is settled only after the copies filed from it are stored, so a copy filed while
   * the queue was being looked at is seen by the second look at the records.
   */
  private async unreferenced(keys: Set<string>, opts: { bounded: boolean }, recordsKnown = false): Promise<Set<string>> {
    const left = new Set(keys);
    const drop = (found: Set<string>) => found.forEach((k) => left.delete(k));
    if (!recordsKnown) drop(await this.deps.store.referencedBlobKeys([...left]));
    for (const source of this.deps.sources) {
      const asked = new Set([...left].filter((k) => source.mayRefer(k)));
      if (asked.size) drop(await source.referenced(asked, opts));
    }
    if (left.size) drop(await this.deps.store.referencedBlobKeys([...left]));
    return left;
  }

  /** One sweep (a sweep already running is joined, not doubled). `now` is for tests. */
  sweep(now = Date.now()): Promise<SweepReport> {
    this.running ??= this.run(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(now: number): Promise<SweepReport> {
    const started = Date.now();
    const { blobs, store, logger } = this.deps;
    const { dryRun, graceMs } = this.settings;
    const max = this.settings.maxPerSweep ?? 10_000;
    const cutOff = now - graceMs;
    const report: SweepReport = { scanned: 0, old: 0, orphans: 0, removed: 0, bytes: 0, unfinished: { count: 0, bytes: 0 }, dryRun, more: false, ms: 0 };
    report.unfinished = await blobs.removeUnfinished({ olderThan: cutOff, dryRun });

    // pass 1: old blobs no record refers to, a page at a time
    const suspects = new Map<string, BlobInfo>();
    let page: BlobInfo[] = [];
    const checkPage = async () => {
      const referenced = await store.referencedBlobKeys(page.map((b) => b.key));
      for (const blob of page) if (!referenced.has(blob.key)) suspects.set(blob.key, blob);
      page = [];
    };
    for await (const blob of blobs.list()) {
      report.scanned++;
      if (blob.lastModified >= cutOff) continue;
      report.old++;
      page.push(blob);
      if (page.length >= 200) await checkPage();
      if (suspects.size >= max) {
        report.more = true;
        break;
      }
    }
    if (page.length) await checkPage();

    // pass 2: the queues, looked at once for all suspects, then the records again
    const orphans = suspects.size ? await this.unreferenced(new Set(suspects.keys()), { bounded: false }, true) : new Set<string>();
    report.orphans = orphans.size;
    let logged = 0;
    for (const key of orphans) {
      const blob = suspects.get(key)!;
      if (!dryRun) {
        try {
          await blobs.delete(key);
        } catch (err) {
          logger.error({ err, blobKey: key }, 'orphan sweep: could not remove blob');
          continue;
        }
        report.removed++;
      }
      report.bytes += blob.size;
      if (logged++ < LOGGED_KEYS) logger.info({ blobKey: key, size: blob.size, lastModified: new Date(blob.lastModified).toISOString(), dryRun }, dryRun ? 'orphan sweep (dry run): would remove blob' : 'orphan sweep: removed blob');
    }
    report.ms = Date.now() - started;
    logger.info({ ...report, graceHours: graceMs / 3_600_000 }, dryRun ? `orphan sweep (dry run): ${report.orphans} orphaned blobs found, none removed` : `orphan sweep: ${report.removed} orphaned blobs removed`);
    return report;
  }
}
