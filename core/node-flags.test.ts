import { describe, expect, it } from 'vitest';
import { missingNodeFlags, noteMissingNodeFlags, SERVER_NODE_FLAGS } from './node-flags';

describe('the Node flags the server starts with', () => {
  it('are found on the command line or in NODE_OPTIONS, by name, with - or _', () => {
    expect(SERVER_NODE_FLAGS.length).toBeGreaterThan(0);
    expect(missingNodeFlags([], '')).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingNodeFlags([...SERVER_NODE_FLAGS], '')).toEqual([]);
    // the memory flags may come in NODE_OPTIONS; Node refuses --no-parallel-scavenge there, so it comes on the command line
    const [semi, old, scavenge] = SERVER_NODE_FLAGS;
    expect(scavenge).toBe('--no-parallel-scavenge');
    expect(missingNodeFlags(['--enable-source-maps', scavenge], `${semi} ${old}`)).toEqual([]);
    expect(missingNodeFlags(['--parallel-scavenge', semi, old], '')).toEqual([]); // turned the other way on purpose
    // another value is the operator's choice, not a missing flag
    const otherValues = [semi, old].map((flag) => `--${flag.slice(2).split('=')[0].replace(/-/g, '_')}=64`);
    expect(otherValues[0]).toMatch(/^--max_\w+=64$/);
    expect(missingNodeFlags([...otherValues, scavenge], '')).toEqual([]);
    expect(missingNodeFlags([otherValues[1], scavenge], '')).toEqual([semi]);
    expect(missingNodeFlags(['--enable-source-maps'], SERVER_NODE_FLAGS.map((flag) => flag.split('=')[0] + '-x').join(' '))).toEqual([...SERVER_NODE_FLAGS]);
  });

  it('a process started without them says so once, naming them, where V8 sized its heap for a large machine', () => {
    const lines: [object, string][] = [];
    const logger = { info: (obj: object, msg: string) => void lines.push([obj, msg]) };
    const GB = 1024 * 1024 * 1024;
    noteMissingNodeFlags(logger, missingNodeFlags([], ''), 4 * GB); // V8's default with 16 GB or more
    noteMissingNodeFlags(logger, missingNodeFlags([...SERVER_NODE_FLAGS], ''), 4 * GB);
    noteMissingNodeFlags(logger, missingNodeFlags([], ''), 0.5 * GB); // a 1 GB container: the flags would raise it
    expect(lines).toHaveLength(1);
    expect(lines[0][0]).toEqual({ missing: [...SERVER_NODE_FLAGS] });
    expect(lines[0][1]).toContain(SERVER_NODE_FLAGS[0]);
  });
});
