import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../test/wait';
import { PasswordPool } from './password-pool';

const pools: PasswordPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

describe('PasswordPool threads (ThreadPool)', () => {
  it('a thread with nothing to do for idleMs stops; the next call starts one and is answered', async () => {
    const pool = new PasswordPool(1, 30_000, 300);
    pools.push(pool);
    expect(pool.liveThreads).toBe(0); // none before the first call
    const hash = await pool.hash('first password');
    expect(pool.liveThreads).toBe(1);
    await waitFor(() => pool.liveThreads === 0 || undefined); // the idle thread stops
    expect(await pool.verify('first password', hash)).toBe(true);
    expect(pool.liveThreads).toBe(1);
  });

  it('a thread is not stopped while it works, however long the work takes past idleMs', async () => {
    const pool = new PasswordPool(1, 30_000, 40);
    pools.push(pool);
    const hash = await pool.hash('a password');
    // eight hashes in a row (each some tens of ms) keep the thread busy for several idle periods
    const started = Date.now();
    for (let i = 0; i < 8; i++) expect(await pool.verify('a password', hash)).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(80);
    const all = await Promise.all(Array.from({ length: 8 }, () => pool.verify('a password', hash)));
    expect(all).toEqual(Array(8).fill(true));
  });
});
