import { describe, expect, it } from 'vitest';
import type { Queue } from '../../core/ports';
import { withFresh } from './harness';

/**
 * The Queue contract (peek-lock, at-least-once, duplicate detection, dead letter).
 * `make` gets the max deliveries to configure and a short lock time in ms.
 */
export function queueContract(name: string, make: (opts: { maxDeliveries: number; lockMs: number }) => Promise<{ queue: Queue<{ n: number }>; cleanup(): Promise<void> }>): void {
  describe(`Queue contract: ${name}`, () => {
    const withQueue = (opts: { maxDeliveries: number; lockMs: number }, fn: (q: Queue<{ n: number }>) => Promise<void>) => withFresh(make, opts, ({ queue }) => fn(queue));

    it(
      'send, receive, complete; FIFO; a duplicate id is dropped',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        await q.send('a', { n: 1 });
        await q.send('b', { n: 2 });
        await q.send('a', { n: 99 }); // duplicate detection
        expect(await q.depth()).toBe(2);
        const got = await q.receive(10);
        expect(got.map((d) => [d.id, d.body.n, d.deliveryCount])).toEqual([
          ['a', 1, 1],
          ['b', 2, 1],
        ]);
        expect(await q.receive(10)).toEqual([]); // locked
        for (const d of got) await q.complete(d);
        expect(await q.depth()).toBe(0);
      }),
    );

    it(
      'abandon redelivers with a higher count; a stale lock token cannot complete',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        await q.send('a', { n: 1 });
        const [first] = await q.receive(1);
        await q.abandon(first);
        const [second] = await q.receive(1);
        expect(second.deliveryCount).toBe(2);
        await q.complete(first); // stale: ignored
        expect(await q.depth()).toBe(1);
        // and the message is whole: redelivered with its body
        await q.abandon(second);
        const [third] = await q.receive(1);
        expect(third.body).toEqual({ n: 1 });
        await q.complete(third);
        expect(await q.depth()).toBe(0);
        await q.complete(second); // stale too
        expect(await q.depth()).toBe(0);
      }),
    );

    it(
      'completions made together (a worker\'s batch): each takes effect on its own; a stale one among them is ignored',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        for (const [n, id] of ['a', 'b', 'c'].entries()) await q.send(id, { n });
        const [a, b, c] = await q.receive(3);
        await q.abandon(c);
        const [c2] = await q.receive(1);
        await Promise.all([q.complete(a), q.complete(b), q.complete(c)]); // c's token is stale
        expect(await q.depth()).toBe(1);
        const left: Array<{ n: number }> = [];
        for await (const body of q.browse()) left.push(body);
        expect(left).toEqual([{ n: 2 }]); // c, with its body
        await q.complete(c2);
        expect(await q.depth()).toBe(0);
      }),
    );

    it(
      'an expired lock makes the message visible again',
      withQueue({ maxDeliveries: 5, lockMs: 150 }, async (q) => {
        await q.send('a', { n: 1 });
        expect(await q.receive(1)).toHaveLength(1);
        expect(await q.receive(1)).toHaveLength(0);
        await new Promise((r) => setTimeout(r, 250));
        const [again] = await q.receive(1);
        expect(again.deliveryCount).toBe(2);
      }),
    );

    it(
      'abandon with a delay hides the message until then',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        await q.send('a', { n: 1 });
        const [d] = await q.receive(1);
        await q.abandon(d, { retryInMs: 200, error: 'try later' });
        expect(await q.receive(1)).toHaveLength(0);
        await new Promise((r) => setTimeout(r, 300));
        expect(await q.receive(1)).toHaveLength(1);
      }),
    );

    it(
      'a message sent with notBefore stays hidden until then; one in the past is visible at once',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        const notBefore = Date.now() + 1500;
        await q.send('later', { n: 1 }, { notBefore });
        await q.send('past', { n: 2 }, { notBefore: Date.now() - 1000 });
        expect(await q.depth()).toBe(2);
        // polled until it shows: it must not show before its time (a loaded machine may only make it later)
        const first = (await q.receive(10)).map((d) => d.id);
        expect(first).toContain('past');
        const seen = [...first];
        let laterAt = first.includes('later') ? Date.now() : 0;
        while (!laterAt) {
          await new Promise((r) => setTimeout(r, 20));
          for (const d of await q.receive(10)) {
            seen.push(d.id);
            if (d.id === 'later') laterAt = Date.now();
          }
        }
        expect(seen.sort()).toEqual(['later', 'past']);
        expect(laterAt).toBeGreaterThanOrEqual(notBefore);
      }),
    );

    it(
      'dead letter: explicit, and after max deliveries, without blocking other messages',
      withQueue({ maxDeliveries: 2, lockMs: 60_000 }, async (q) => {
        await q.send('poison', { n: 0 });
        await q.send('explicit', { n: 1 });
        const round1 = await q.receive(10);
        expect(round1.map((d) => d.id).sort()).toEqual(['explicit', 'poison']);
        await q.deadLetter(round1.find((d) => d.id === 'explicit')!, 'bad content');
        await q.abandon(round1.find((d) => d.id === 'poison')!);
        const [p2] = await q.receive(10);
        expect(p2).toMatchObject({ id: 'poison', deliveryCount: 2 });
        await q.abandon(p2);
        await q.send('fine', { n: 2 });
        // third time: over the limit, dead-lettered; the other message still comes
        expect((await q.receive(10)).map((d) => d.id)).toEqual(['fine']);
        expect(await q.listDeadLetters()).toEqual([
          { id: 'poison', reason: 'MaxDeliveryCountExceeded', deliveryCount: 2 },
          { id: 'explicit', reason: 'bad content', deliveryCount: 1 },
        ]);
        expect(await q.depth()).toBe(1);
      }),
    );

    it(
      'browse: every live message, waiting or locked, oldest first; completed and dead-lettered ones are gone; nothing is taken',
      withQueue({ maxDeliveries: 5, lockMs: 60_000 }, async (q) => {
        const browsed = async () => {
          const out: number[] = [];
          for await (const body of q.browse()) out.push(body.n);
          return out;
        };
        expect(await browsed()).toEqual([]);
        for (let n = 1; n <= 4; n++) await q.send(`m${n}`, { n });
        const [first, second] = await q.receive(2);
        expect(await browsed()).toEqual([1, 2, 3, 4]);
        await q.complete(first);
        await q.deadLetter(second, 'test');
        expect(await browsed()).toEqual([3, 4]);
        expect((await q.receive(10)).map((d) => d.body.n)).toEqual([3, 4]); // browsing took nothing
        // past a page (SQLite pages by 500)
        for (let n = 5; n < 530; n++) await q.send(`m${n}`, { n });
        expect(await browsed()).toEqual(Array.from({ length: 527 }, (_, i) => i + 3));
      }),
    );
  });
}
