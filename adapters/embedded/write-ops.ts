import { blobWrites } from './embedded-blob-store';
import { mailStoreWrites } from './sqlite-mail-store';
import { queueWrites } from './sqlite-queue';

/** Every named write the embedded adapters make; the writer thread runs them. */
export const writeOps = { ...mailStoreWrites, ...blobWrites, ...queueWrites };
export type WriteOps = typeof writeOps;
export type WriteOpName = keyof WriteOps;
