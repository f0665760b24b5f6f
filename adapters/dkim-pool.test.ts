import { afterAll, describe, expect, it } from 'vitest';
import { dkimVerify } from '../core/mailauth';
import { dkimRecordValue, generateDkimKey } from '../core/dkim';
import { isMailError } from '../core/errors';
import { DkimPool } from './dkim-pool';

describe('DKIM signing on a thread (DkimPool)', () => {
  const pool = new DkimPool();
  afterAll(() => pool.close());

  it('signs as mailauth does in this thread: the signature verifies; a killed thread fails its request as temporary, the next one is signed', async () => {
    const dkim = await generateDkimKey();
    const key = { signingDomain: 'example.com', selector: dkim.selector, privateKey: dkim.privateKeyPem };
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === `${dkim.selector}._domainkey.example.com`) return [[dkimRecordValue(dkim)]];
      throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
    };
    const raw = Buffer.from('From: a@example.com\r\nTo: b@elsewhere.test\r\nSubject: signed on a thread\r\n\r\nbody\r\n');
    const signature = await pool.sign(raw, key, new Date());
    expect(signature).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
    const verified = await dkimVerify(Buffer.concat([Buffer.from(signature), raw]), { resolver });
    expect(verified.results.map((r) => r.status.result)).toEqual(['pass']);
    expect(raw.toString()).toContain('signed on a thread'); // the caller's buffer is untouched (a copy went to the thread)

    const big = Buffer.concat([raw, Buffer.alloc(20 * 1024 * 1024, 'x')]);
    const inFlight = pool.sign(big, key, new Date()).then(
      () => 'signed',
      (err) => (isMailError(err) && err.code === 'TemporaryFailure' ? 'temporary' : `other: ${err}`),
    );
    await pool.killThreads();
    expect(['signed', 'temporary']).toContain(await inFlight);
    const again = await pool.sign(raw, key, new Date());
    expect((await dkimVerify(Buffer.concat([Buffer.from(again), raw]), { resolver })).results[0].status.result).toBe('pass');
  }, 30_000);
});
