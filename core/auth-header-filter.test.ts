import { describe, expect, it } from 'vitest';
import { AuthResultsFilter } from './auth-header-filter';

/** Runs `message` through a filter in chunks of `size` bytes. */
function filter(message: string | Buffer, size = 7, host = 'mx.test', maxHold?: number): string {
  const f = new AuthResultsFilter(host, maxHold);
  const input = Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) out.push(f.write(input.subarray(i, i + size)));
  out.push(f.end());
  return Buffer.concat(out).toString('latin1');
}

const body = 'Authentication-Results: mx.test; dkim=pass\r\n(this line is in the body)\r\n';

describe('Authentication-Results filter', () => {
  it.each([1, 3, 7, 64, 100_000])('removes fields claiming this host (folded, with comments, any case), keeps others and the body (chunks of %i)', (size) => {
    const message = [
      'Received: from a\r\n\tby b\r\n',
      'Authentication-Results: mx.test; spf=pass smtp.mailfrom=x@y\r\n',
      'authentication-results :\r\n  (a (nested) comment) MX.TEST.;\r\n dkim=pass\r\n',
      'Authentication-Results: other.example; dkim=fail\r\n\tfolded=yes\r\n',
      'Authentication-Results: mx.test.evil.example; spf=pass\r\n',
      'Subject: hi\r\n',
      '\r\n',
      body,
    ].join('');
    expect(filter(message, size)).toBe(
      ['Received: from a\r\n\tby b\r\n', 'Authentication-Results: other.example; dkim=fail\r\n\tfolded=yes\r\n', 'Authentication-Results: mx.test.evil.example; spf=pass\r\n', 'Subject: hi\r\n', '\r\n', body].join(''),
    );
  });

  it('works with bare LF line ends and a last field without a line break', () => {
    expect(filter('A: 1\nAuthentication-Results: mx.test; x=y\nB: 2\n\nbody')).toBe('A: 1\nB: 2\n\nbody');
    expect(filter('A: 1\r\nAuthentication-Results: mx.test')).toBe('A: 1\r\n');
    expect(filter('A: 1\r\nAuthentication-Results: other.test')).toBe('A: 1\r\nAuthentication-Results: other.test');
  });

  it('an Authentication-Results field whose authserv-id is hidden past the hold limit is removed; bounded memory on endless lines', () => {
    const padded = `Authentication-Results: (${'x'.repeat(5000)}) mx.test; dkim=pass\r\nSubject: s\r\n\r\nbody`;
    expect(filter(padded, 100, 'mx.test', 1024)).toBe('Subject: s\r\n\r\nbody');
    const longOther = `X-Long: ${'y'.repeat(50_000)}\r\nAuthentication-Results: mx.test; a=b\r\n\r\nbody`;
    expect(filter(longOther, 1000, 'mx.test', 1024)).toBe(`X-Long: ${'y'.repeat(50_000)}\r\n\r\nbody`);
    const unclosed = 'Authentication-Results: (never closed mx.test; a=b\r\nS: 1\r\n\r\n';
    expect(filter(unclosed)).toBe('S: 1\r\n\r\n');
  });

  it('a message without a blank line is all header; one with no Authentication-Results is unchanged byte for byte', () => {
    const plain = 'From: a@b\r\nTo: c@d\r\nSubject: x\r\n\r\nline 1\r\n..dots\r\n';
    expect(filter(plain, 5)).toBe(plain);
    const binary = Buffer.concat([Buffer.from('A: 1\r\n\r\n'), Buffer.from([0, 255, 13, 10, 13, 10, 128])]);
    expect(Buffer.from(filter(binary, 3), 'latin1').equals(binary)).toBe(true);
  });

  it('a chunk that passes whole is handed on as it is, not copied; one with a field removed, or after a line held from the chunk before, is new', () => {
    const clean = Buffer.from('From: a@b\r\nSubject: x\r\n\r\nbody\r\n');
    expect(new AuthResultsFilter('mx.test').write(clean)).toBe(clean);
    const f = new AuthResultsFilter('mx.test');
    const first = Buffer.from('From: a@b\r\nSubj');
    const second = Buffer.from('ect: x\r\n\r\nbody');
    expect(f.write(first).toString()).toBe('From: a@b\r\n');
    const out = f.write(second);
    expect(out).not.toBe(second);
    expect(out.toString()).toBe('Subject: x\r\n\r\nbody');
    // as many bytes held from before as are removed now: the same length out as in, other bytes
    const ar = 'Authentication-Results: mx.test; a=b\r\n';
    const g = new AuthResultsFilter('mx.test');
    g.write(Buffer.from(`From: a@b\r\n${'X'.repeat(ar.length)}`));
    const next = Buffer.from(`: 1\r\n${ar}\r\nbody`);
    const got = g.write(next);
    expect(got.length).toBe(next.length);
    expect(got.toString()).toBe(`${'X'.repeat(ar.length)}: 1\r\n\r\nbody`);
    const ours = Buffer.from('Authentication-Results: mx.test; dkim=pass\r\nSubject: x\r\n\r\nbody');
    const filtered = new AuthResultsFilter('mx.test').write(ours);
    expect(filtered).not.toBe(ours);
    expect(filtered.toString()).toBe('Subject: x\r\n\r\nbody');
  });
});
