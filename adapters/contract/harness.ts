/**
 * Runs `fn` against a fresh adapter from `make` and always cleans up after it,
 * so every contract case starts empty.
 */
export function withFresh<A, T>(make: (opts: A) => Promise<T & { cleanup(): Promise<void> }>, opts: A, fn: (made: T) => Promise<void>): () => Promise<void> {
  return async () => {
    const made = await make(opts);
    try {
      await fn(made);
    } finally {
      await made.cleanup();
    }
  };
}
