import { getHeapStatistics } from 'node:v8';

/**
 * The Node flags the local server starts with: `npm start`, the systemd unit in README and
 * the benchmarks' local server processes all give this list (the tests hold them to it).
 * V8 reads these once, when the process starts, so they cannot be set from inside it. The
 * first two trade a little CPU for a lower peak memory under load; the third saves CPU. V8
 * applies them to the worker threads too, the first over the young generation a thread is
 * started with (`resourceLimits`): the writer and analysis threads, started with
 * `maxYoungGenerationSizeMb: 8`, have 8 MB of new space without it and 16 MB (two 8 MB
 * halves) with it (measured).
 *
 * V8 sizes its heap from the machine's memory (or the container's limit): the old
 * generation's cap is half of it, at most 4 GB, and the young generation's halves are 1/128
 * of that cap, at most 16 MB. With a cap of 2 GB or more (a machine with 4 GB or more) V8 lets
 * the old generation grow to 4 times what was live after the last full collection before it
 * collects again; below, 1.3 to 2 times.
 *
 * - `--max-semi-space-size=8`: young halves of 8 MB instead of 16. The bytes a socket reads
 *   arrive in buffers outside the JavaScript heap, freed only when a collection finds them
 *   unreferenced, and a young collection comes when the young generation is full: halving it
 *   frees them sooner.
 * - `--max-old-space-size=2047`: a cap just under V8's 2 GB mark, so the old generation grows
 *   to about 2 times its live size instead of 4. The main thread's live heap is some 15–20 MB
 *   under load, but session objects outlive young collections and die old, so at 4 times
 *   40–60 MB of dead sessions waited for the next full collection.
 *
 * - `--no-parallel-scavenge`: each thread's young collection runs on that thread alone,
 *   without V8's helper threads. Under load the main, writer and analysis threads already
 *   keep the cores busy, so the helpers only add work (splitting it, stealing it, waking up):
 *   at 500 sessions the process spent 0.97x the CPU a message at 4 KB (13 interleaved pairs,
 *   10 lower) and 0.96x at 100 KB (6 pairs, all lower), with the same peak RSS. Each young
 *   collection pauses its thread a little longer (a few milliseconds); on a machine with idle
 *   cores to spare, leaving this flag out shortens those pauses for more CPU. It does not
 *   depend on the machine's memory, unlike the two above. It goes on the command line only:
 *   Node refuses it in NODE_OPTIONS (and does not start).
 *
 * On a machine with less than 4 GB the first two raise V8's own sizes instead (at 1 GB: young halves
 * 4 → 8 MB, the cap 512 MB → 2 GB, the factor 1.4 → 2), so there they are better left out;
 * the edge's container (1 GiB, smtp-edge/Dockerfile) runs without them.
 *
 * Measured at 500 sessions of 100 KB (`npm run bench -- --only ingest`, loopback, a 2-core
 * machine with 24 GB): peak RSS 221–238 MB in four runs with the first two, against 261–333 (median
 * 285) in seven with the first alone and 272–302 in three with neither; CPU about 10 % higher
 * a message (V8's marking threads, mostly). The closing note of issue 13 has the figures.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--max-old-space-size=2047', '--no-parallel-scavenge'];

/**
 * The flags of SERVER_NODE_FLAGS this process was not started with, by name (on the command
 * line or in NODE_OPTIONS; V8 takes - and _ alike): another value, or a switch turned the
 * other way (`--parallel-scavenge`), is the operator's choice.
 */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const name = (flag: string) => flag.split('=')[0].replace(/_/g, '-').replace(/^--no-/, '--');
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(name);
  return SERVER_NODE_FLAGS.filter((flag) => !given.includes(name(flag)));
}

/** V8's heap cap at or above which its defaults are the large ones these flags lower (a machine with 4 GB or more). */
const LARGE_HEAP_LIMIT = 2048 * 1024 * 1024;

/**
 * Says, once at startup, which of the flags the process lacks, when all of them would help
 * here (V8 sized the heap for a large machine). It runs as well without them.
 */
export function noteMissingNodeFlags(
  logger: { info(obj: object, msg: string): void },
  missing = missingNodeFlags(),
  heapSizeLimit = getHeapStatistics().heap_size_limit,
): void {
  if (missing.length && heapSizeLimit >= LARGE_HEAP_LIMIT) {
    logger.info({ missing }, `started without ${missing.join(' ')} (see core/node-flags.ts): with them the server takes less memory and CPU under heavy SMTP load on a machine of this size`);
  }
}
