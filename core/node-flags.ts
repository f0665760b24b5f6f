/**
 * The Node flags the server's processes start with: `npm start`, the systemd unit in
 * README, the edge's Dockerfile and the benchmarks' server processes all give this list
 * (the tests hold them to it). V8 reads these once, when the process starts, so they
 * cannot be set from inside it. Both trade a little CPU for a lower peak memory under
 * load; V8 applies them to the worker threads too.
 *
 * - `--max-semi-space-size=8`: the young generation at 8 MB a half instead of 16. The bytes
 *   a socket reads arrive in buffers outside the JavaScript heap, freed only when a
 *   collection finds them unreferenced, and a young collection comes when the young
 *   generation is full: halving it frees them sooner.
 * - `--max-old-space-size=2047`: the old generation's cap, just under V8's 2 GB mark. With a
 *   cap of 2 GB or more (V8's default on a machine with more than 8 GB of memory) V8 lets the
 *   old generation grow to 4 times what was live after the last full collection before it
 *   collects again; under 2 GB, to about 2 times. The main thread's live heap is some 15–20 MB
 *   under load, but session objects outlive young collections and die old, so at 4 times
 *   40–60 MB of dead sessions waited for the next full collection. On a machine with less
 *   than 8 GB, V8's own cap is a quarter of the memory and its factor 1.3–2: there this flag
 *   raises both a little (the factor to about 2), which costs a few MB, not tens.
 *
 * Measured at 500 sessions of 100 KB (`npm run bench -- --only ingest`, loopback, a 2-core
 * machine): peak RSS 221–238 MB in four runs with both, against 261–333 (median 285) in seven
 * with the first alone and 272–302 in three with neither; CPU about 10 % higher a message
 * (V8's marking threads, mostly). The closing note of issue 13 has the figures.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--max-old-space-size=2047'];

/** The flags of SERVER_NODE_FLAGS this process was not started with, by name (on the command line or in NODE_OPTIONS; V8 takes - and _ alike). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const name = (flag: string) => flag.split('=')[0].replace(/_/g, '-');
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(name);
  return SERVER_NODE_FLAGS.filter((flag) => !given.includes(name(flag)));
}

/** Says, once at startup, which of the flags the process lacks: it runs as well without them, with a higher peak memory under load. */
export function noteMissingNodeFlags(logger: { info(obj: object, msg: string): void }, missing = missingNodeFlags()): void {
  if (missing.length) logger.info({ missing }, `started without ${missing.join(' ')} (npm start gives them; see core/node-flags.ts): peak memory under heavy SMTP load is higher`);
}
