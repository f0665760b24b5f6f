import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusFiles } from '../test/corpus-files';
import type { MessageSummary } from './types';
import { TEXT_BODY_CAP } from './body-cut';
import { createSummaryParser, mailparserSummary, singleTextParts } from './mime';

/** The summary as the edge makes it: streamed in pieces of `chunk` bytes. */
async function streamed(message: Buffer, chunk = 65536): Promise<MessageSummary> {
  const { input, summary } = createSummaryParser();
  for (let at = 0; at < message.length; at += chunk) input.write(message.subarray(at, at + chunk));
  input.end();
  return summary;
}

/** The summary MailParser alone makes of the whole message. */
async function byMailparser(message: Buffer): Promise<MessageSummary> {
  const { input, summary } = mailparserSummary();
  input.on('error', () => undefined);
  input.end(message);
  return summary;
}

/** MailParser dates a message whose Date it cannot read "now": such dates agree within a minute, every other field exactly. */
function expectSame(fast: MessageSummary, slow: MessageSummary, label: string): void {
  const { date: a, ...restA } = fast;
  const { date: b, ...restB } = slow;
  expect(restA, label).toEqual(restB);
  if (a === null || b === null) expect(a, label).toBe(b);
  else expect(Math.abs(a - b), label).toBeLessThan(60_000);
}

describe('the summary of a single text body without MailParser (core/mime.ts singleTextParts)', () => {
  it('equals MailParser’s over the corpus (as stored and with CRLF line ends), and is taken for its single text bodies', async () => {
    const files = corpusFiles();
    expect(files.length).toBeGreaterThan(150);
    let fast = 0;
    for (const file of files) {
      const raw = readFileSync(file);
      for (const message of [raw, Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1')]) {
        if (await singleTextParts(message)) fast++;
        expectSame(await streamed(message), await byMailparser(message), file);
      }
    }
    expect(fast).toBeGreaterThan(40);
  }, 120_000);

  const text = 'Grüße aus Köln — naïve café, 日本語のテキスト, Ελληνικά. ';
  const long = text.repeat(Math.ceil((TEXT_BODY_CAP * 1.5) / Buffer.byteLength(text)));
  const bodies: Array<[string, string, Buffer]> = [
    ['utf-8 8bit', 'text/plain; charset=utf-8', Buffer.from(long)],
    ['no Content-Type', '', Buffer.from('plain ascii\r\nsecond line\r\n')],
    ['html', 'text/html; charset=utf-8', Buffer.from(`<html><body><p>${long}</p></body></html>`)],
    ['latin1', 'text/plain; charset=iso-8859-1', Buffer.from('Gr\xfc\xdfe aus K\xf6ln\r\n', 'latin1')],
    ['windows-1252', 'text/plain; charset="windows-1252"', Buffer.from('\x93quoted\x94 \x80 sign\r\n', 'latin1')],
    ['koi8-r', 'text/plain; charset=koi8-r', Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x0d, 0x0a])],
    ['unknown charset', 'text/plain; charset=x-made-up', Buffer.from('bytes \xff\xfe here\r\n', 'latin1')],
    ['utf-7 (refused)', 'text/plain; charset=utf-7', Buffer.from('+ADw-script+AD4-\r\n')],
    ['empty', 'text/plain', Buffer.alloc(0)],
    ['no final line break', 'text/plain', Buffer.from('one line, no end')],
    ['LF line ends', 'text/plain', Buffer.from('a\nb\n\nc\n')],
  ];
  const encodings: Array<[string, (b: Buffer) => Buffer]> = [
    ['', (b) => b],
    ['Content-Transfer-Encoding: base64\r\n', (b) => Buffer.from(b.toString('base64').replace(/.{76}/g, '$&\r\n'))],
    ['Content-Transfer-Encoding: BASE64\r\n', (b) => Buffer.from(b.toString('base64'))],
    ['Content-Transfer-Encoding: quoted-printable\r\n', (b) => Buffer.from(b.toString('latin1').replace(/[=\x80-\xff]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).replace(/[^\r\n]{70}/g, '$&=\r\n'), 'latin1')],
    ['Content-Transfer-Encoding: "base64"\r\n', (b) => Buffer.from(b.toString('base64'))],
    ['Content-Transfer-Encoding: 8bit (a comment)\r\n', (b) => b],
  ];

  it('equals MailParser’s for made-up messages: charsets, transfer encodings, bodies past the cap, HTML, empty ones', async () => {
    let compared = 0;
    for (const [name, type, body] of bodies) {
      for (const [encoding, encode] of encodings) {
        const header = `From: =?utf-8?q?J=C3=BCrgen?= <j@x.test>\r\nTo: a@y.test, Group: b@y.test, c@y.test;\r\nCc: "Q, R" <q@y.test>\r\nSubject: =?iso-8859-1?q?caf=E9?= ${name}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0100\r\nMessage-ID: <${compared}@x.test>\r\n${type ? `Content-Type: ${type}\r\n` : ''}${encoding}\r\n`;
        const message = Buffer.concat([Buffer.from(header, 'latin1'), encode(body)]);
        for (const chunk of [message.length || 1, 1000, 7]) expectSame(await streamed(message, chunk), await byMailparser(message), `${name} ${encoding} ${chunk}`);
        compared++;
      }
    }
    expect(compared).toBe(bodies.length * encodings.length);
  });

  it('a message abandoned before its end still gets a summary (saying so), whichever way it was going', async () => {
    for (const start of ['Subject: lone text\r\n\r\nhello', 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx', 'Subject: header not ended']) {
      const { input, summary } = createSummaryParser();
      input.on('error', () => undefined);
      input.write(Buffer.from(start));
      input.destroy();
      expect((await summary).parseError, start).toBe('message not received whole');
    }
  });

  it('equals MailParser’s for headers the fast path must read as MailParser does, and hands anything else to it', async () => {
    const headers = [
      'Subject: flowed\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n',
      'Subject: flowed, no delsp\r\nContent-Type: text/plain; format=flowed\r\n',
      'Subject: bad date\r\nDate: not a date at all\r\n',
      'From: a@x.test\r\nFrom: ceo@victim.test\r\nSender: s@z.test\r\nSubject: two authors\r\n',
      'Subject: folded\r\n  over lines\r\nTo: a@y.test,\r\n\tb@y.test\r\n',
      'Subject: inline\r\nContent-Disposition: inline\r\n',
      'Subject: attachment\r\nContent-Disposition: attachment; filename=a.txt\r\n',
      'Subject: odd disposition\r\nContent-Disposition: x-weird\r\n',
      'Subject: a name\r\nContent-Type: text/plain; name="a.txt"\r\n',
      'Subject: csv\r\nContent-Type: text/csv\r\n',
      'Subject: multipart\r\nContent-Type: multipart/mixed; boundary=b\r\n',
      'Subject: delivery status\r\nContent-Type: message/delivery-status\r\n',
      'Subject: two types\r\nContent-Type: text/plain\r\nContent-Type: application/pdf\r\n',
      'Subject: comment\r\nContent-Type: text/plain (a comment); charset=utf-8\r\n',
      'Subject: a header line that ends in CR only\rX-Hidden: 1\r\n',
    ];
    // flowed: with delsp=yes "soft " + "break" joins as "softbreak", without it as "soft break"
    const body = 'Line one soft \r\nbreak\r\n> quoted \r\n> more\r\nsig -- \r\n';
    for (const header of headers) {
      const message = Buffer.from(`${header}\r\n${body}`);
      expectSame(await streamed(message), await byMailparser(message), header);
    }
    // the fast path itself declines what is not one inline text body
    expect(await singleTextParts(Buffer.from('Content-Disposition: attachment\r\n\r\nx'))).toBeNull();
    expect(await singleTextParts(Buffer.from('Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nx'))).toBeNull();
    expect(await singleTextParts(Buffer.from('Content-Type: text/plain\r\nContent-Disposition: x-weird\r\n\r\nx'))).toBeNull();
    const flowed = await singleTextParts(Buffer.from(`Content-Type: text/plain; format=flowed; delsp=yes\r\n\r\n${body}`));
    expect(flowed?.text).toBe('Line one softbreak\n> quotedmore\nsig --');
    expect(await singleTextParts(Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n'))).toBeNull();
    expect(await singleTextParts(Buffer.from('Subject: header that never ends'))).toBeNull();
    expect(await singleTextParts(Buffer.from('Subject: yes\r\n\r\nbody'))).not.toBeNull();
  });
});
