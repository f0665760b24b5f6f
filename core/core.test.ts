import { describe, expect, it, vi } from 'vitest';
import { createTokenService } from './auth';
import { CachedDirectory } from './directory';
import { newDomain } from './domain-schedule';
import { createLogger } from './logger';
import { ERROR_TABLE, MailError, toMailError } from './errors';
import { isId, newId } from './ids';
import { receivedHeader } from './received';
import { FailureLimiter, LoginGuard } from './rate-limit';
import { Readable } from 'node:stream';
import { openAttachment, readMessageView } from './message-reader';
import { BodyCut, isSingleTextBody, summaryBodyBudget, TEXT_BODY_CAP } from './body-cut';
import { COLLAPSIBLE_SPACE, createSummaryParser, plainText, SUMMARY_LIMITS } from './mime';

describe('error table', () => {
  it('every transient error is a 4xx SMTP reply with a 4.x.x enhanced code; permanent ones 5xx/5.x.x', () => {
    for (const [code, spec] of Object.entries(ERROR_TABLE)) {
      const smtpClass = Math.floor(spec.smtp / 100);
      expect([code, smtpClass, spec.enhanced[0]]).toEqual([code, spec.transient ? 4 : 5, spec.transient ? '4' : '5']);
      expect(spec.enhanced).toMatch(/^[45]\.\d{1,3}\.\d{1,3}$/);
    }
  });

  it('an unknown failure becomes a temporary one (451 4.3.0), never a bounce', () => {
    const e = toMailError(new Error('ECONNRESET'));
    expect([e.code, e.smtp, e.enhanced, e.http]).toEqual(['TemporaryFailure', 451, '4.3.0', 503]);
    expect(new MailError('MailboxUnknown').smtp).toBe(550);
  });
});

describe('ids', () => {
  it('are well-formed and sort in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    expect(ids.every(isId)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('each new millisecond gets fresh random bits, also across the refills of the random pool (409 ids a refill)', async () => {
    vi.resetModules(); // a module of its own: the ids made here, 2 s ahead of the clock, leave the other tests' ids alone
    const fresh = (await import('./ids.js')).newId;
    const start = Date.now();
    const ids = Array.from({ length: 2000 }, (_, i) => fresh(start + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids.map((id) => id.slice(10))).size).toBe(ids.length);
  });
});

describe('Received header', () => {
  const envelope = { mailFrom: 'a@b.c', rcptTo: ['u@example.com'], remoteAddress: '::ffff:192.0.2.1', clientHostname: '[192.0.2.1]', helo: 'client.test', authUser: null };
  it('follows RFC 5321 4.4 with a for clause for one recipient', () => {
    const h = receivedHeader({ envelope, byHost: 'mx.test', id: 'ID1', receivedAt: Date.UTC(2026, 10, 25, 18, 0, 0), tls: false });
    expect(h).toBe('Received: from client.test ([192.0.2.1])\r\n\tby mx.test (Nimbus Mail) with ESMTP id ID1\r\n\tfor <u@example.com>;\r\n\tWed, 25 Nov 2026 18:00:00 +0000\r\n');
  });
  it('writes an IPv6 client as an RFC 5321 address literal [IPv6:...]', () => {
    const h = receivedHeader({ envelope: { ...envelope, remoteAddress: '2001:db8::25', clientHostname: '[2001:db8::25]' }, byHost: 'mx.test', id: 'ID3', receivedAt: 0, tls: false });
    expect(h).toContain('Received: from client.test ([IPv6:2001:db8::25])\r\n');
  });
  it('cannot be broken by a hostile HELO (no CR/LF injection)', () => {
    const h = receivedHeader({ envelope: { ...envelope, helo: 'evil\r\nBcc: x@y.z', rcptTo: ['a@x', 'b@x'] }, byHost: 'mx.test', id: 'ID2', receivedAt: 0, tls: true });
    expect(h.split('\r\n')).toHaveLength(4); // three lines + trailing empty
    expect(h).toContain('from evilBcc: x@y.z');
    expect(h).toContain('with ESMTPS id ID2;'); // no for clause with two recipients
  });
});

describe('streaming summary', () => {
  it('matches headers, counts attachment bytes without keeping them, and survives garbage', async () => {
    const { input, summary } = createSummaryParser();
    input.end(
      Buffer.from(
        'From: "A" <a@x.test>\r\nTo: b@y.test, "C" <c@z.test>\r\nSubject: =?UTF-8?B?SGVsbG8g4pyT?=\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nHi  there\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n',
      ),
    );
    const s = await summary;
    expect(s).toMatchObject({ subject: 'Hello ✓', from: { address: 'a@x.test', name: 'A' }, date: Date.UTC(2026, 11, 1, 10), snippet: 'Hi there' });
    expect(s.to.map((t) => t.address)).toEqual(['b@y.test', 'c@z.test']);
    expect(s.attachments).toEqual([{ id: 'a1', filename: 'f.bin', contentType: 'application/octet-stream', size: 4, contentId: null, inline: false }]);

    const junk = createSummaryParser();
    junk.input.end(Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 10, 10, 0]));
    expect((await junk.summary).subject).toBe('');
  });
  it('names every author from the raw fields (mailparser keeps the first From only), and says when they cannot all be checked', async () => {
    const summarize = async (header: string) => {
      const { input, summary } = createSummaryParser();
      input.end(Buffer.from(`${header}\r\nTo: b@y.test\r\nSubject: s\r\n\r\nbody\r\n`));
      const { otherSenders, ambiguousAuthors } = await summary;
      return { otherSenders, ambiguousAuthors };
    };
    expect(await summarize('From: A <a@x.test>')).toEqual({ otherSenders: undefined, ambiguousAuthors: undefined });
    expect(await summarize('From: A <a@x.test>, B@Y.test,\r\n a@x.test\r\nSender: grp: s@z.test;')).toEqual({ otherSenders: ['b@y.test', 's@z.test'], ambiguousAuthors: undefined });
    expect(await summarize('From: a@x.test\r\nFrom: ceo@victim.test')).toEqual({ otherSenders: ['ceo@victim.test'], ambiguousAuthors: true });
    expect((await summarize('From: a@x.test\r\nSender: a@x.test\r\nSender: a@x.test')).ambiguousAuthors).toBe(true);
    const many = Array.from({ length: SUMMARY_LIMITS.addresses + 1 }, (_, i) => `a${i}@x.test`).join(', ');
    const crowd = await summarize(`From: me@x.test, ${many}`);
    expect(crowd.ambiguousAuthors).toBe(true);
    expect(crowd.otherSenders).toHaveLength(SUMMARY_LIMITS.addresses);
  });
  it('white space collapses as /\\s+/ would collapse it (random runs of every kind of space)', () => {
    const alphabet = [' ', ' ', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', '\u3000', 'a', 'b'];
    let compared = 0;
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      for (let n = i % 12; n > 0; n--) s += alphabet[(i * 7 + n * 13 + (i >> 3)) % alphabet.length];
      expect(s.replace(COLLAPSIBLE_SPACE, ' '), JSON.stringify(s)).toBe(s.replace(/\s+/g, ' '));
      compared++;
    }
    expect(compared).toBe(20_000);
  });
  it('snippets fall back to HTML without tags', () => {
    expect(plainText('', '<style>p{}</style><p>Hello&nbsp;<b>world</b></p>', SUMMARY_LIMITS.snippet)).toBe('Hello world');
  });
});

describe('single text body cap', () => {
  it('recognises a lone text body, and nothing that mailparser could call an attachment', () => {
    expect(isSingleTextBody('Subject: x\r\n')).toBe(true);
    expect(isSingleTextBody('Content-Type: text/plain;\r\n charset=utf-8\r\n')).toBe(true);
    expect(isSingleTextBody('Content-Type: TEXT/HTML\r\n')).toBe(true);
    expect(isSingleTextBody('Content-Type: multipart/mixed; boundary=x\r\n')).toBe(false);
    expect(isSingleTextBody('Content-Type: text/plain; name="a.txt"\r\n')).toBe(false);
    expect(isSingleTextBody('Content-Type: text/plain\r\nContent-Disposition: inline\r\n')).toBe(false);
    expect(isSingleTextBody('Content-Type: application/pdf\r\n')).toBe(false);
  });

  /** What the summary's BodyCut passes on of `message` written in pieces of `chunk` bytes. */
  const run = async (message: Buffer, chunk = 1000) => {
    const cut = new BodyCut(summaryBodyBudget);
    const out: Buffer[] = [];
    for (let i = 0; i < message.length; i += chunk) out.push(cut.write(message.subarray(i, i + chunk)));
    out.push(cut.end());
    return Buffer.concat(out);
  };

  it('cuts a big single text body after the cap, headers intact, and passes anything else whole', async () => {
    const head = 'Subject: big\r\nContent-Type: text/plain\r\n\r\n';
    const big = Buffer.from(head + 'x'.repeat(TEXT_BODY_CAP * 3));
    expect((await run(big)).toString()).toBe(head + 'x'.repeat(TEXT_BODY_CAP));
    // every way of splitting the header (the blank line across two or three chunks), and all in one piece
    for (let size = 1; size <= head.length + 2; size++) expect((await run(big.subarray(0, head.length + 100), size)).toString()).toBe(head + 'x'.repeat(100));
    expect((await run(big, big.length)).toString()).toBe(head + 'x'.repeat(TEXT_BODY_CAP));
    const multi = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n' + 'y'.repeat(TEXT_BODY_CAP * 2) + '\r\n--b--\r\n');
    expect((await run(multi)).equals(multi)).toBe(true);
    const noBody = Buffer.from('Subject: header only, never ends');
    expect((await run(noBody)).equals(noBody)).toBe(true);
  });

  it('a header that never ends, sent in tiny pieces (as escape dots split it), is copied about once, not once per piece: 1 MB passes whole', async () => {
    const cut = new BodyCut(summaryBodyBudget);
    const line = Buffer.from('..a\r\n');
    const pieces = Math.ceil((1024 * 1024) / line.length) + 10;
    let copied = 0;
    const concat = Buffer.concat;
    const spy = vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const joined = concat(list, total);
      copied += joined.length;
      return joined;
    });
    let out = 0;
    try {
      for (let i = 0; i < pieces; i++) out += cut.write(line).length;
      out += cut.end().length;
    } finally {
      spy.mockRestore();
    }
    expect(out).toBe(pieces * line.length);
    // each piece with the last 3 bytes before it, then the whole once (a copy of all held so far per piece would be ~90 GB)
    expect(copied).toBeLessThan(4 * pieces * line.length);
  });

  it('gives the same summary as the whole message would', async () => {
    const message = Buffer.from('From: a@x.test\r\nSubject: long text\r\n\r\n' + 'Hello world. '.repeat(50_000));
    const { input, summary } = createSummaryParser();
    input.end(message);
    const s = await summary;
    expect(s).toMatchObject({ subject: 'long text', attachments: [] });
    expect(s.snippet).toBe(('Hello world. '.repeat(20)).slice(0, 200).trim());
  });
});

describe('text parts are cut in multipart messages too; attachments are not', () => {
  /** multipart/mixed: a text part of `textBytes`, an HTML alternative, then a small attachment. */
  const message = (textBytes: number) =>
    Buffer.from(
      'From: a@x.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n' +
        '--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n' +
        `--YY\r\nContent-Type: text/plain\r\n\r\n${'Hello world. '.repeat(Math.ceil(textBytes / 13))}\r\n` +
        '--YY\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>world</b></p>\r\n--YY--\r\n' +
        '--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n',
    );
  const chunked = (buf: Buffer) => Readable.from((function* () {
    for (let i = 0; i < buf.length; i += 16 * 1024) yield buf.subarray(i, i + 16 * 1024);
  })());

  it('the reader view keeps the text up to its limit and says it cut it; HTML and the attachment table are whole', async () => {
    const view = await readMessageView(chunked(message(300 * 1024)), { text: 100 * 1024, html: 100 * 1024 });
    expect(view.text!.length).toBeLessThanOrEqual(100 * 1024);
    expect(view.text!.startsWith('Hello world. Hello world.')).toBe(true);
    expect(view).toMatchObject({ textTruncated: true, htmlTruncated: false, html: '<p>Hello <b>world</b></p>', summary: { subject: 'parts' } });
    expect(view.attachments).toEqual([{ id: 'a1', filename: 'f.bin', contentType: 'application/octet-stream', size: 4, contentId: null, inline: false }]);
    const whole = await readMessageView(chunked(message(1000)), { text: 100 * 1024, html: 100 * 1024 });
    expect([whole.textTruncated, whole.htmlTruncated, whole.text!.trim()]).toEqual([false, false, 'Hello world. '.repeat(77).trim()]);
  });

  it('the summary of a multipart message with a big text part: snippet and attachments as usual', async () => {
    const { input, summary } = createSummaryParser();
    input.end(message(TEXT_BODY_CAP * 20));
    const s = await summary;
    expect(s).toMatchObject({ subject: 'parts', snippet: 'Hello world. '.repeat(16).slice(0, 200).trim(), attachments: [{ id: 'a1', filename: 'f.bin', size: 4 }] });
    expect(s.searchText!.length).toBe(SUMMARY_LIMITS.searchText);
  });

  it('a message mailparser gives up on part way (3000 parts, then megabytes): the view says so and the source is let go', async () => {
    let parts = 'From: a@x.test\r\nSubject: many parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n';
    for (let i = 0; i < 3000; i++) parts += '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n';
    const source = chunked(Buffer.concat([Buffer.from(parts + '--b--\r\n'), Buffer.alloc(4_000_000, 'epilogue\r\n')]));
    const view = await readMessageView(source);
    expect(view.parseError).toMatch(/child nodes/i);
    expect(view.summary.subject).toBe('many parts');
    await new Promise((r) => setImmediate(r));
    expect(source.destroyed).toBe(true);
  });

  it('one attachment streams out by its id; an unknown id is null; a broken source fails', async () => {
    const found = await openAttachment(chunked(message(1000)), 'a1');
    expect(found?.info).toMatchObject({ id: 'a1', filename: 'f.bin', contentType: 'application/octet-stream' });
    const bytes: Buffer[] = [];
    for await (const chunk of found!.content) bytes.push(chunk as Buffer);
    expect(Buffer.concat(bytes)).toEqual(Buffer.from([0, 1, 2, 3]));
    expect(await openAttachment(chunked(message(1000)), 'a2')).toBeNull();
    const broken = new Readable({ read() {
      this.destroy(new Error('disk gone'));
    } });
    await expect(openAttachment(broken, 'a1')).rejects.toThrow('disk gone');
  });
});

describe('failure limiter', () => {
  it('blocks after max failures inside the window, until the oldest leaves it; reset clears', async () => {
    const limiter = new FailureLimiter(3, 1000);
    for (const t of [0, 100, 200]) {
      expect(limiter.blockedFor('a', t)).toBe(0);
      limiter.fail('a', t);
    }
    expect(limiter.blockedFor('a', 300)).toBe(700);
    expect(limiter.blockedFor('b', 300)).toBe(0);
    expect(limiter.blockedFor('a', 1000)).toBe(0); // the failure at 0 has left the window
    limiter.fail('a', 1000);
    expect(limiter.blockedFor('a', 1050)).toBe(50);
    limiter.reset('a');
    expect(limiter.blockedFor('a', 1050)).toBe(0);
  });
});

describe('CachedDirectory', () => {
  it('asks the store once per known address within the TTL, again after it; never remembers an unknown address or a failure', async () => {
    let now = 1000;
    let calls = 0;
    let fail = false;
    const inner = {
      async resolveAddress(a: string) {
        calls++;
        if (fail) throw new Error('store down');
        return a === 'u@example.com' ? { userId: 'u1' } : null;
      },
      async getDomain(name: string) {
        return name === 'example.com' ? newDomain(name, 0) : null;
      },
    };
    const dir = new CachedDirectory(inner, 30_000, 100, () => now);
    expect(await dir.resolveAddress('U@Example.com')).toEqual({ userId: 'u1' });
    expect(await dir.resolveAddress('u@example.com')).toEqual({ userId: 'u1' });
    expect(await dir.resolveAddress('nobody@example.com')).toBeNull();
    expect(await dir.resolveAddress('nobody@example.com')).toBeNull(); // unknown addresses are asked again (a new user gets mail at once)
    expect(calls).toBe(3);
    now += 30_001;
    fail = true;
    await expect(dir.resolveAddress('u@example.com')).rejects.toThrow('store down');
    fail = false;
    expect(await dir.resolveAddress('u@example.com')).toEqual({ userId: 'u1' }); // the failure was not cached
    expect(calls).toBe(5);
    expect(await dir.getDomain('EXAMPLE.com')).toMatchObject({ name: 'example.com' });
  });
});

describe('logger', () => {
  it('redacts the Azure secrets and SDK request headers, whatever logs them', async () => {
    const lines: string[] = [];
    const logger = createLogger('info');
    // pino writes to stdout through its stream; capture by swapping the write of this logger's stream
    const stream = (logger as unknown as Record<symbol, { write(s: string): void }>)[Object.getOwnPropertySymbols(logger).find((s) => s.toString() === 'Symbol(pino.stream)')!];
    const write = stream.write.bind(stream);
    stream.write = (s: string) => void lines.push(s);
    try {
      logger.error({ config: { NIMBUS_COSMOS_KEY: 'cosmos-secret', NIMBUS_SERVICEBUS_CONNECTION: 'sb-secret' }, err: { message: 'x', request: { headers: { authorization: 'SharedKey acct:sig-secret' } } } }, 'failed');
    } finally {
      stream.write = write;
    }
    expect(lines.join('')).toContain('failed');
    expect(lines.join('')).not.toMatch(/cosmos-secret|sb-secret|sig-secret/);
  });
});

describe('login guard', () => {
  it('reserves an attempt before the check: parallel wrong guesses beyond the limit never reach it', async () => {
    const guard = new LoginGuard({ perAccountAndAddress: 3, perAccount: 10, perAddress: 10, windowMs: 60_000 });
    let checks = 0;
    const slowWrong = async () => {
      checks++;
      await new Promise((r) => setTimeout(r, 20));
      return false;
    };
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => guard.attempt('a@x.test', '192.0.2.1', slowWrong)));
    expect(checks).toBe(3);
    expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'wrong')).toHaveLength(3);
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    expect(refused).toHaveLength(17);
    expect(refused.every((e) => e.code === 'RateLimited' && e.details.retryAfterSeconds > 0)).toBe(true);
  });

  it('a right password clears the (account, address) failures; a failing check counts against nobody', async () => {
    const guard = new LoginGuard({ perAccountAndAddress: 2, perAccount: 10, perAddress: 10, windowMs: 60_000 });
    expect(await guard.attempt('a@x.test', 'ip', async () => false)).toBe('wrong');
    expect(await guard.attempt('a@x.test', 'ip', async () => true)).toBe('ok');
    await expect(guard.attempt('a@x.test', 'ip', async () => Promise.reject(new Error('thread died')))).rejects.toThrow('thread died');
    expect(await guard.attempt('a@x.test', 'ip', async () => false)).toBe('wrong');
    expect(await guard.attempt('a@x.test', 'ip', async () => true)).toBe('ok');
  });
});

describe('login guard: right passwords in parallel', () => {
  it('attempts beyond the room wait for those in progress: right passwords all go through, wrong ones stop at the limit', async () => {
    const guard = new LoginGuard({ perAccountAndAddress: 3, perAccount: 10, perAddress: 10, windowMs: 60_000 });
    const slow = (result: boolean) => async () => {
      await new Promise((r) => setTimeout(r, 10));
      return result;
    };
    const right = await Promise.all(Array.from({ length: 12 }, () => guard.attempt('a@x.test', '192.0.2.1', slow(true))));
    expect(right).toEqual(Array(12).fill('ok'));
    const mixed = await Promise.allSettled(Array.from({ length: 12 }, () => guard.attempt('a@x.test', '192.0.2.1', slow(false))));
    expect(mixed.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(mixed.filter((o) => o.status === 'rejected' && (o.reason as MailError).code === 'RateLimited')).toHaveLength(9);
  });
});

describe('token service', () => {
  const user = { id: 'u1', email: 'ann@example.com', name: 'Ann', role: 'user' as const, createdAt: 0 };

  it('a token verified once is still refused when it has expired, when altered, or signed with another secret', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-11-27T10:00:00Z'));
      const tokens = createTokenService('a secret of thirty-two characters!!', 60);
      const { token } = tokens.issue(user, 3);
      const first = tokens.verify(token);
      expect(first).toMatchObject({ sub: 'u1', email: 'ann@example.com', role: 'user', ver: 3 });
      first.role = 'admin'; // a caller changing its copy changes nothing for the next request
      expect(tokens.verify(token).role).toBe('user');
      const [head, body, sig] = token.split('.');
      const altered = `${head}.${body}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
      expect(() => tokens.verify(altered)).toThrow(/Invalid or expired/);
      expect(() => createTokenService('another secret of thirty-two chars', 60).verify(token)).toThrow(/Invalid or expired/);
      vi.setSystemTime(new Date('2026-11-27T10:00:59Z'));
      expect(tokens.verify(token).sub).toBe('u1');
      vi.setSystemTime(new Date('2026-11-27T10:01:00Z'));
      expect(() => tokens.verify(token)).toThrow(/Invalid or expired/);
      expect(() => tokens.verify(token)).toThrow(/Invalid or expired/);
    } finally {
      vi.useRealTimers();
    }
  });
});
