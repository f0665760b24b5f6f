import { blobWrites } from './embedded-blob-store';
import { indexPendingBodies, mailStoreWrites } from './sqlite-mail-store';
import type { Statements } from './sqlite';
import { compactSegments } from './blob-segments';
import { queueWrites } from './sqlite-queue';

/** Every named write the embedded adapters make; the writer thread runs them. */
export const writeOps = {
  ...mailStoreWrites,
  ...blobWrites,
  ...queueWrites,
  /** Health: proves the writer thread answers (an empty transaction writes nothing). */
  'db.ping'(): true {
    return true;
  },
};
export type WriteOps = typeof writeOps;
export type WriteOpName = keyof WriteOps;

/** Work the writer thread does when no write has come for a while; each returns true while more is waiting. */
export const idleTasks: Array<(s: Statements) => boolean> = [indexPendingBodies, compactSegments];
