import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataGate } from './data-gate';

/** Enters `session`, noting in `admitted` when it got in. */
function enter(gate: DataGate, session: object, admitted: object[]): Promise<void> {
  return gate.enter(session).then(() => {
    admitted.push(session);
  });
}

describe('DataGate', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits up to its slots at once, then first come, first served as slots are given back', async () => {
    const gate = new DataGate(2, 5_000);
    const [a, b, c, d, e] = [{}, {}, {}, {}, {}];
    const admitted: object[] = [];
    await Promise.all([enter(gate, a, admitted), enter(gate, b, admitted)]);
    void enter(gate, c, admitted);
    void enter(gate, d, admitted);
    void enter(gate, e, admitted);
    await vi.advanceTimersByTimeAsync(100);
    expect(admitted).toEqual([a, b]);
    expect(gate.counts).toEqual({ active: 2, waiting: 3 });
    gate.leave(b);
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted).toEqual([a, b, c]);
    gate.leave(a);
    gate.leave(c);
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted).toEqual([a, b, c, d, e]);
    expect(gate.counts).toEqual({ active: 2, waiting: 0 });
  });

  it('a session that has waited maxWaitMs goes ahead over the slots, and leaves the queue', async () => {
    const late: object[] = [];
    const gate = new DataGate(1, 1_000, (counts) => late.push(counts));
    const [a, b, c] = [{}, {}, {}];
    const admitted: object[] = [];
    await enter(gate, a, admitted);
    void enter(gate, b, admitted);
    await vi.advanceTimersByTimeAsync(999);
    expect(admitted).toEqual([a]);
    expect(late).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(admitted).toEqual([a, b]);
    expect(gate.counts).toEqual({ active: 2, waiting: 0 });
    expect(late).toEqual([{ active: 2, waiting: 0 }]);
    // over the slots: a slot given back admits nobody until the count is under them again
    void enter(gate, c, admitted);
    gate.leave(a);
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted).toEqual([a, b]);
    gate.leave(b);
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted).toEqual([a, b, c]);
    // c was admitted by the slot, so its timer is gone: nothing more happens at its deadline
    await vi.advanceTimersByTimeAsync(2_000);
    expect(gate.counts).toEqual({ active: 1, waiting: 0 });
    expect(late).toHaveLength(1);
  });

  it('a session whose client has gone is passed over: at its turn the next is admitted, at its deadline nothing is taken or reported', async () => {
    const late: object[] = [];
    const gate = new DataGate(1, 1_000, (counts) => late.push(counts));
    const [a, b, c, d] = [{}, {}, {}, {}];
    const admitted: object[] = [];
    let bGone = false;
    await enter(gate, a, admitted);
    const bDone = gate.enter(b, () => bGone).then(() => admitted.push(b));
    void enter(gate, c, admitted);
    bGone = true;
    gate.leave(a);
    await bDone; // resolved, so its caller can finish, but with no slot
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted).toEqual([a, b, c]);
    expect(gate.counts).toEqual({ active: 1, waiting: 0 }); // c's
    // at its deadline
    let dGone = false;
    const dDone = gate.enter(d, () => dGone);
    dGone = true;
    await vi.advanceTimersByTimeAsync(1_000);
    await dDone;
    expect(gate.counts).toEqual({ active: 1, waiting: 0 });
    expect(late).toEqual([]);
  });

  it('leave gives a slot back once: twice, or for a session that holds none, changes nothing', async () => {
    const gate = new DataGate(2, 1_000);
    const [a, b] = [{}, {}];
    const admitted: object[] = [];
    gate.leave(a);
    expect(gate.counts).toEqual({ active: 0, waiting: 0 });
    await enter(gate, a, admitted);
    await enter(gate, b, admitted);
    gate.leave(a);
    gate.leave(a);
    expect(gate.counts).toEqual({ active: 1, waiting: 0 });
    // a session that enters again while it still holds its slot holds one, not two
    await enter(gate, b, admitted);
    expect(gate.counts).toEqual({ active: 1, waiting: 0 });
    gate.leave(b);
    expect(gate.counts).toEqual({ active: 0, waiting: 0 });
  });
});
