/**
 * A module required when first used instead of at startup. The main thread loads the
 * MIME parser, the MIME composer, the SMTP client and mailauth this way: a server that
 * only receives mail does not load them there (the analysis thread parses and
 * authenticates; the domain checks load mailauth's SPF part), which keeps about 10 MB off
 * the main heap, and V8 lets an old space grow to about three times what is live in it
 * before collecting. The first use pays for the load instead of startup: a synchronous
 * require on the main thread, once (mailparser 0.15 s, mailauth 0.24 s on a slow 2-core
 * machine). A load that throws is tried again on the next use.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}
