import { afterEach, describe, expect, it } from 'vitest';
import { TableResolver } from '../adapters/dns/table-resolver';
import { createLogger } from '../core/logger';
import { AnalysisPool, PARSER_UNAVAILABLE } from './analysis-pool';
import { blankLineEnd } from './inbound-auth';

const message = (subject: string) => Buffer.from(`From: a@sender.test\r\nTo: b@example.com\r\nSubject: ${subject}\r\n\r\n` + '..a dot-stuffed looking line\r\n'.repeat(3000));

describe('analysis thread (AnalysisPool)', () => {
  let pool: AnalysisPool | null = null;
  afterEach(async () => {
    await pool?.close();
    pool = null;
  });

  it('an empty message still gets its summary and authentication; one abandoned before any piece went costs the thread nothing and the next one is analysed', async () => {
    pool = new AnalysisPool({ auth: { resolver: new TableResolver({}), hostname: 'mx.test', deadlineMs: 2000 }, logger: createLogger('silent') });
    const empty = pool.analyze({ ip: '192.0.2.1', helo: 'client.test', sender: 'a@sender.test' });
    empty.input.end();
    const [summary, auth] = await Promise.all([empty.summary, empty.auth!()]);
    expect(summary).toMatchObject({ subject: '', from: null });
    expect(auth.header).toMatch(/^Authentication-Results: mx\.test;/);

    const abandoned = pool.analyze({ ip: '192.0.2.1', helo: 'client.test', sender: 'a@sender.test' });
    abandoned.input.write(Buffer.from('Subject: cut off\r\n')); // gathered, not yet sent
    abandoned.input.destroy();
    expect((await abandoned.auth!()).auth.spf).toBe('temperror');

    const next = pool.analyze(null);
    next.input.end(message('after the abandoned one'));
    expect(await next.summary).toMatchObject({ subject: 'after the abandoned one' });
  });

  it('summarises and authenticates a message written in thousands of tiny pieces (as escape dots split it)', async () => {
    pool = new AnalysisPool({ auth: { resolver: new TableResolver({}), hostname: 'mx.test', deadlineMs: 2000 }, logger: createLogger('silent') });
    const analysis = pool.analyze({ ip: '192.0.2.1', helo: 'client.test', sender: 'a@sender.test' });
    const bytes = message('tiny pieces');
    for (let i = 0; i < bytes.length; i += 5) analysis.input.write(bytes.subarray(i, i + 5));
    analysis.input.end();
    const [summary, auth] = await Promise.all([analysis.summary, analysis.auth!()]);
    expect(summary).toMatchObject({ subject: 'tiny pieces', from: { address: 'a@sender.test' } });
    expect(summary.parseError).toBeUndefined();
    expect(auth.auth.spf).toBe('none'); // no SPF record in the table: answered through the main thread's resolver
    expect(auth.header).toMatch(/^Authentication-Results: mx\.test;/);
  });

  it('a summary ready before the last byte (MailParser gave up: 3000 parts) comes at once; MB more of the message still flow, and the thread is not taken for stuck', async () => {
    pool = new AnalysisPool({ auth: { resolver: new TableResolver({}), hostname: 'mx.test', deadlineMs: 2000 }, logger: createLogger('silent'), stuckAfterMs: 3000 });
    const client = { ip: '192.0.2.1', helo: 'client.test', sender: 'a@sender.test' };
    const analysis = pool.analyze(client);
    let summarised = false;
    analysis.summary.then(() => (summarised = true));
    // past mailsplit's limit on parts, then 4 MB more: MailParser stops reading long before the end
    let parts = 'From: a@sender.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n';
    for (let i = 0; i < 3000; i++) parts += '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n';
    const bytes = Buffer.concat([Buffer.from(parts + '--b--\r\n'), Buffer.alloc(4_000_000, 'epilogue\r\n')]);
    const other = pool.analyze(client); // another message in flight on the same thread
    other.input.write(Buffer.from('From: b@sender.test\r\nSubject: innocent\r\n\r\n'));
    for (let at = 0; at < bytes.length; at += 65536) {
      if (!analysis.input.write(bytes.subarray(at, at + 65536))) await new Promise((r) => analysis.input.once('drain', r));
    }
    expect(summarised).toBe(true);
    expect((await analysis.summary).parseError).toMatch(/child nodes/i);
    analysis.input.end();
    other.input.end(Buffer.from('hello\r\n'));
    expect((await analysis.auth!()).auth.spf).toBe('none'); // not temperror: the thread was not replaced
    expect(await other.summary).toMatchObject({ subject: 'innocent' });
    expect((await other.auth!()).auth.spf).toBe('none');
  }, 20_000);

  it('a thread that does not finish a message in time is replaced: the message gets an empty summary (parser unavailable) and temperror, the next one is analysed', async () => {
    pool = new AnalysisPool({ auth: { resolver: new TableResolver({}), hostname: 'mx.test', deadlineMs: 2000 }, logger: createLogger('silent'), stuckAfterMs: 300 });
    // a stuck thread, as far as this message goes: its last piece (its end) never reaches the thread
    const internals = pool as unknown as { thread: { postMessage(m: { t: string; end?: true }): void } };
    const thread = internals.thread;
    const post = thread.postMessage.bind(thread);
    thread.postMessage = (m: { t: string; end?: true }, ...rest: unknown[]) => (m.end ? undefined : (post as (...a: unknown[]) => void)(m, ...rest));
    const stuck = pool.analyze({ ip: '192.0.2.1', helo: 'client.test', sender: 'a@sender.test' });
    stuck.input.end(message('never finished'));
    const [summary, auth] = await Promise.all([stuck.summary, stuck.auth!()]);
    expect(summary.parseError).toBe(PARSER_UNAVAILABLE);
    expect(auth.auth).toMatchObject({ spf: 'temperror', dkim: 'temperror', dmarc: 'temperror' });
    const next = pool.analyze(null);
    next.input.end(message('after the replacement'));
    expect(await next.summary).toMatchObject({ subject: 'after the replacement' });
  });
});

describe('analysis thread that stops taking bytes', () => {
  it('a writer left waiting for the thread is not left for good: the thread is replaced, the message gets an empty summary', async () => {
    const pool = new AnalysisPool({ auth: null, logger: createLogger('silent'), stuckAfterMs: 300 });
    try {
      // the thread takes no more (its chunks never arrive, so it never acknowledges them), and the message never ends
      const internals = pool as unknown as { thread: { postMessage(m: { t: string }): void } };
      const thread = internals.thread;
      const post = thread.postMessage.bind(thread);
      thread.postMessage = (m: { t: string }, ...rest: unknown[]) => (m.t === 'c' ? undefined : (post as (...a: unknown[]) => void)(m, ...rest));
      const blocked = pool.analyze(null);
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const writeMore = (): void => {
        while (written < 4 * 1024 * 1024) {
          written += chunk.length;
          if (!blocked.input.write(chunk)) return void blocked.input.once('drain', writeMore);
        }
      };
      writeMore();
      const summary = await blocked.summary;
      expect(summary.parseError).toBe(PARSER_UNAVAILABLE);
      await new Promise((r) => setTimeout(r, 50));
      expect(written).toBeGreaterThan(1024 * 1024); // it was held at the in-flight limit, then released
      const next = pool.analyze(null);
      next.input.end(message('after the replacement'));
      expect(await next.summary).toMatchObject({ subject: 'after the replacement' });
    } finally {
      await pool.close();
    }
  });
});

describe('blankLineEnd', () => {
  it('finds the end of the first blank line exactly where /\\r?\\n\\r?\\n/ does', () => {
    const pieces = ['a', '\r', '\n', ' ', 'b:', '\r\n', '\n\r', 'x'];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let checked = 0;
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: Math.floor(random() * 12) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      const m = /\r?\n\r?\n/.exec(text);
      expect(blankLineEnd(Buffer.from(text, 'latin1')), JSON.stringify(text)).toBe(m ? m.index + m[0].length : -1);
      if (m) checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });
});
