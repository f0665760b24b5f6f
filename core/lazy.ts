/**
 * A module required when first used instead of at startup. The main thread loads the
 * MIME parser, the MIME composer and mailauth this way: a server that only receives mail
 * never loads them there (the analysis thread parses and authenticates), which keeps
 * some 8 MB off the main heap, and V8 lets an old space grow to about three times what
 * is live in it before collecting.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}
