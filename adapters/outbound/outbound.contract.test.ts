import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outboundTransportContract, type TransportPeer } from '../contract/outbound-transport.contract';
import { selfSignedCertificate } from '../tls-certificate';
import { startLoopbackRelay, startSendGridFake, startSilentServer, type LoopbackRelay, type SendGridFake, type SmtpReply } from './loopback-peers';
import { NoTransport } from './none-transport';
import { SendGridTransport } from './sendgrid-transport';
import { SmtpRelayTransport } from './smtp-transport';

/**
 * The transports against their far ends on loopback: nodemailer's SMTP client
 * (pooled by the transport) against an smtp-server relay, and @sendgrid/mail (its real HTTP client,
 * base URL pointed at 127.0.0.1) against a fake of SendGrid's v3 endpoint. Only the
 * far ends are stand-ins: SendGrid itself cannot be reached from here.
 */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const relayTransport = (port: number, extra: Partial<ConstructorParameters<typeof SmtpRelayTransport>[0]> = {}) =>
  new SmtpRelayTransport({ host: '127.0.0.1', port, secure: false, timeoutMs: 5_000, ...extra });

function relayPeer(relay: LoopbackRelay): TransportPeer {
  return {
    behave(kind) {
      relay.data = () => (kind === 'accept' ? null : kind === 'temporary' ? [451, '4.3.0 Try again later'] : [554, '5.6.0 Message refused']);
    },
    received: () =>
      relay.messages.map((m) => {
        const text = m.raw.toString('utf8');
        return { recipients: m.recipients, subject: /^Subject: (.*)$/m.exec(text)?.[1].trim() ?? '', text: text.slice(text.indexOf('\r\n\r\n') + 4) };
      }),
  };
}

outboundTransportContract(
  'SMTP relay (nodemailer → loopback smtp-server)',
  async () => {
    const relay = await startLoopbackRelay();
    const transport = relayTransport(relay.port);
    return { transport, peer: relayPeer(relay), cleanup: async () => (await transport.close(), await relay.stop()) };
  },
  async () => {
    const transport = relayTransport(await closedPort());
    return { transport, cleanup: () => transport.close() };
  },
);

const sendGridTransport = (baseUrl: string, timeoutMs = 5_000) => new SendGridTransport({ apiKey: 'SG.test-key', baseUrl, timeoutMs });

function sendGridPeer(fake: SendGridFake): TransportPeer {
  return {
    behave(kind) {
      fake.answer = () => (kind === 'accept' ? { status: 202 } : kind === 'temporary' ? { status: 503, body: { errors: [{ message: 'service unavailable' }] } } : { status: 400, body: { errors: [{ message: 'invalid email', field: 'personalizations.0.to' }] } });
    },
    received: () =>
      fake.requests
        .filter((r) => fake.answer(r).status === 202)
        .map((r) => ({
          recipients: r.body.personalizations.flatMap((p: { to: Array<{ email: string }>; cc?: Array<{ email: string }> }) => [...p.to, ...(p.cc ?? [])].map((a) => a.email)),
          subject: r.body.subject,
          text: r.body.content.find((c: { type: string }) => c.type === 'text/plain')?.value ?? '',
        })),
  };
}

outboundTransportContract(
  'SendGrid (@sendgrid/mail → loopback v3 fake)',
  async () => {
    const fake = await startSendGridFake();
    return { transport: sendGridTransport(fake.baseUrl), peer: sendGridPeer(fake), cleanup: () => fake.stop() };
  },
  async () => ({ transport: sendGridTransport(`http://127.0.0.1:${await closedPort()}`), cleanup: async () => undefined }),
);

describe('SMTP relay transport', () => {
  let relay: LoopbackRelay;
  beforeAll(async () => {
    relay = await startLoopbackRelay();
  });
  afterAll(async () => relay?.stop());

  it('each RCPT reply decides its recipient: 550 permanent, 452 temporary, the rest sent; the bytes arrive unchanged', async () => {
    relay.messages.length = 0;
    relay.rcpt = (a) => (a.startsWith('gone') ? [550, '5.1.1 No such user'] : a.startsWith('full') ? [452, '4.2.2 Mailbox full'] : null);
    const transport = relayTransport(relay.port);
    try {
      const raw = Buffer.from('DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; b=abc\r\nFrom: ann@example.com\r\nSubject: partial\r\n\r\nbody\r\n');
      const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients: ['ok@elsewhere.test', 'gone@elsewhere.test', 'full@elsewhere.test'], raw });
      expect(outcomes.map((o) => [o.recipient, o.outcome])).toEqual([
        ['ok@elsewhere.test', 'sent'],
        ['gone@elsewhere.test', 'permanent'],
        ['full@elsewhere.test', 'temporary'],
      ]);
      expect(outcomes[1].detail).toMatch(/^550 5\.1\.1 No such user/);
      expect(relay.messages).toHaveLength(1);
      expect(relay.messages[0].recipients).toEqual(['ok@elsewhere.test']);
      expect(relay.messages[0].raw.equals(raw)).toBe(true);
    } finally {
      relay.rcpt = () => null;
      await transport.close();
    }
  });

  it('every recipient refused: each keeps its own reply', async () => {
    relay.rcpt = (a) => (a.startsWith('gone') ? [550, '5.1.1 No such user'] : [451, '4.7.1 Greylisted']);
    const transport = relayTransport(relay.port);
    try {
      const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients: ['gone@elsewhere.test', 'grey@elsewhere.test'], raw: Buffer.from('Subject: x\r\n\r\ny\r\n') });
      expect(outcomes.map((o) => [o.outcome, o.detail.slice(0, 9)])).toEqual([
        ['permanent', '550 5.1.1'],
        ['temporary', '451 4.7.1'],
      ]);
    } finally {
      relay.rcpt = () => null;
      await transport.close();
    }
  });

  it('a bounce goes out with the null sender (MAIL FROM:<>)', async () => {
    relay.messages.length = 0;
    const transport = relayTransport(relay.port);
    try {
      const [outcome] = await transport.send({ mailFrom: '', recipients: ['x@elsewhere.test'], raw: Buffer.from('Subject: dsn\r\n\r\nreport\r\n') });
      expect(outcome.outcome).toBe('sent');
      expect(relay.messages[0].mailFrom).toBe('');
    } finally {
      await transport.close();
    }
  });

  it('a relay that accepts the connection and never answers: temporary after the timeout', async () => {
    const silent = await startSilentServer();
    const transport = relayTransport(silent.port, { timeoutMs: 300 });
    try {
      const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients: ['x@elsewhere.test'], raw: Buffer.from('Subject: x\r\n\r\ny\r\n') });
      expect(outcomes[0].outcome).toBe('temporary');
      expect(outcomes[0].detail).toMatch(/ETIMEDOUT|timeout/i);
    } finally {
      await transport.close();
      await silent.stop();
    }
  });

  it('relay login over STARTTLS: right credentials send; refused credentials are a misconfiguration (deferred, in health), not a bounce', async () => {
    const cert = await selfSignedCertificate('relay.test');
    const secured = await startLoopbackRelay({ users: { relayuser: 'relay-secret' }, tls: cert });
    const good = relayTransport(secured.port, { user: 'relayuser', password: 'relay-secret', tls: { ca: cert.cert, servername: 'relay.test' } });
    const bad = relayTransport(secured.port, { user: 'relayuser', password: 'wrong', tls: { ca: cert.cert, servername: 'relay.test' } });
    try {
      const [ok] = await good.send({ mailFrom: 'ann@example.com', recipients: ['x@elsewhere.test'], raw: Buffer.from('Subject: x\r\n\r\ny\r\n') });
      expect(ok.outcome).toBe('sent');
      expect(secured.messages[0].auth).toBe('relayuser');
      const [refused] = await bad.send({ mailFrom: 'ann@example.com', recipients: ['x@elsewhere.test'], raw: Buffer.from('Subject: x\r\n\r\ny\r\n') });
      expect(refused.outcome).toBe('misconfigured');
      expect(refused.detail).toMatch(/535/);
      expect(bad.health()).toMatchObject({ status: 'misconfigured', detail: expect.stringMatching(/relay refused our login/) });
      expect(good.health().status).toBe('ok');
    } finally {
      await Promise.all([good.close(), bad.close()]);
      await secured.stop();
    }
  });
});

describe('SMTP relay transport: its connection pool', () => {
  let relay: LoopbackRelay;
  beforeEach(async () => {
    relay = await startLoopbackRelay();
  });
  afterEach(async () => relay?.stop());
  const message = (n: number) => ({ mailFrom: 'ann@example.com', recipients: ['x@elsewhere.test'], raw: Buffer.from(`Subject: m${n}\r\n\r\nbody\r\n`) });
  const connections = () => new Set(relay.messages.map((m) => m.connection));

  it('sends one after another over one connection, and opens no more than maxConnections under load', async () => {
    const transport = relayTransport(relay.port, { maxConnections: 3 });
    try {
      for (let n = 0; n < 5; n++) expect((await transport.send(message(n)))[0].outcome).toBe('sent');
      expect(connections().size).toBe(1);
      relay.dataDelayMs = 20; // busy enough that the new connections are up (smtp-server greets after 100 ms) before the first is through
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, n) => transport.send(message(100 + n))));
      expect(outcomes.flat().map((o) => o.outcome)).toEqual(Array(30).fill('sent'));
      expect(relay.messages).toHaveLength(35);
      expect(relay.peakConnections).toBe(3);
      expect(connections().size).toBe(3);
    } finally {
      await transport.close();
    }
  });

  it('replaces a connection after 100 messages', async () => {
    const transport = relayTransport(relay.port);
    try {
      for (let n = 0; n < 101; n++) await transport.send(message(n));
      const perConnection = [...connections()].map((c) => relay.messages.filter((m) => m.connection === c).length);
      expect(perConnection).toEqual([100, 1]);
    } finally {
      await transport.close();
    }
  });

  const dead: Array<[string, SmtpReply | 'close']> = [
    ['closes it', 'close'],
    ['answers 421', [421, '4.4.2 Idle too long, closing connection']],
  ];
  for (const [how, answer] of dead) {
    it(`a reused connection the relay ${how} at the next MAIL FROM: the message goes over a new connection (sent, not deferred)`, async () => {
      relay.mailFrom = (earlier) => (earlier >= 1 ? answer : null);
      const transport = relayTransport(relay.port);
      try {
        expect((await transport.send(message(1)))[0].outcome).toBe('sent');
        const [second] = await transport.send(message(2));
        expect(second.outcome).toBe('sent');
        expect(relay.messages.map((m) => m.raw.toString())).toEqual([message(1).raw.toString(), message(2).raw.toString()]);
        expect(connections().size).toBe(2);
      } finally {
        await transport.close();
      }
    });
  }

  it('a new connection closed at MAIL FROM is not tried again: temporary', async () => {
    relay.mailFrom = () => 'close';
    const transport = relayTransport(relay.port);
    try {
      const [outcome] = await transport.send(message(1));
      expect(outcome.outcome).toBe('temporary');
      expect(relay.messages).toHaveLength(0);
    } finally {
      await transport.close();
    }
  });

  it('a refused message keeps the connection: the next message goes over it', async () => {
    const seen: string[] = [];
    relay.data = (m) => (seen.push(m.connection) === 1 ? [554, '5.6.0 Message refused'] : null);
    const transport = relayTransport(relay.port);
    try {
      expect((await transport.send(message(1)))[0].outcome).toBe('permanent');
      expect((await transport.send(message(2)))[0].outcome).toBe('sent');
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBe(seen[0]);
    } finally {
      await transport.close();
    }
  });

  it('a relay that drops the connection after it has the message: the message is not sent again at once (temporary, the relay has it once)', async () => {
    const transport = relayTransport(relay.port);
    try {
      expect((await transport.send(message(1)))[0].outcome).toBe('sent');
      relay.data = () => 'close';
      const [second] = await transport.send(message(2));
      expect(second.outcome).toBe('temporary');
      expect(relay.messages.map((m) => m.raw.toString())).toEqual([message(1).raw.toString(), message(2).raw.toString()]);
    } finally {
      await transport.close();
    }
  });

  it('the second try takes a new connection, also when another reused one is idle', async () => {
    const transport = relayTransport(relay.port, { maxConnections: 2 });
    try {
      relay.dataDelayMs = 150; // two at once: both connections open and carry one message each
      const first = await Promise.all([transport.send(message(1)), transport.send(message(2))]);
      expect(first.flat().map((o) => o.outcome)).toEqual(['sent', 'sent']);
      expect(connections().size).toBe(2);
      relay.dataDelayMs = 0;
      relay.mailFrom = (earlier) => (earlier >= 1 ? [421, '4.4.2 Idle too long, closing connection'] : null);
      const [third] = await transport.send(message(3));
      expect(third.outcome).toBe('sent');
      expect(connections().size).toBe(3);
    } finally {
      await transport.close();
    }
  });

  it('connections still connecting count once toward maxConnections: 8 sends to a relay that never answers open 4', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const mute = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', () => resolve()));
    const transport = relayTransport((mute.address() as AddressInfo).port, { maxConnections: 4, timeoutMs: 2_000 });
    try {
      const pending = Promise.all(Array.from({ length: 8 }, (_, n) => transport.send(message(n))));
      for (let i = 0; i < 100 && sockets.size < 4; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100)); // room for a fifth, if the pool were to open one
      expect(sockets.size).toBe(4);
      await transport.close();
      expect((await pending).flat().map((o) => o.outcome)).toEqual(Array(8).fill('temporary'));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });

  it('close() lets a message already on its way finish (sent), then the connection quits', async () => {
    const transport = relayTransport(relay.port);
    relay.dataDelayMs = 300;
    const pending = transport.send(message(1));
    await new Promise((r) => setTimeout(r, 200)); // connected (the greeting waits 100 ms), the message under way
    await transport.close();
    expect((await pending)[0].outcome).toBe('sent');
    expect((await transport.send(message(2)))[0].outcome).toBe('temporary'); // closed: nothing new goes out
    expect(relay.messages).toHaveLength(1);
  });

  it('a login is configured and the relay offers no AUTH: misconfigured (deferred, in health), nothing sent without the login', async () => {
    const cert = await selfSignedCertificate('relay.test');
    const tlsOnly = await startLoopbackRelay({ tls: cert }); // STARTTLS, no AUTH
    const transport = relayTransport(tlsOnly.port, { user: 'relayuser', password: 'relay-secret', tls: { ca: cert.cert, servername: 'relay.test' } });
    try {
      const [outcome] = await transport.send(message(1));
      expect(outcome.outcome).toBe('misconfigured');
      expect(transport.health()).toMatchObject({ status: 'misconfigured', detail: expect.stringMatching(/offers no AUTH/) });
      expect(tlsOnly.messages).toHaveLength(0);
    } finally {
      await transport.close();
      await tlsOnly.stop();
    }
  });

  it('a relay that refuses the session before any message (no STARTTLS for our login; a 554 greeting): misconfigured, not a bounce', async () => {
    const withoutTls = relayTransport(relay.port, { user: 'relayuser', password: 'relay-secret' }); // the login needs TLS first
    const refusing = createServer((socket) => socket.end('554 5.7.1 No SMTP service for you\r\n'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', () => resolve()));
    const refused = relayTransport((refusing.address() as AddressInfo).port);
    try {
      const [tls] = await withoutTls.send(message(1));
      expect([tls.outcome, tls.detail]).toEqual(['misconfigured', expect.stringMatching(/^5\d\d /)]);
      expect(withoutTls.health().detail).toMatch(/refused our session before any message/);
      const [greeting] = await refused.send(message(2));
      expect([greeting.outcome, greeting.detail]).toEqual(['misconfigured', expect.stringMatching(/^554 /)]);
      expect(relay.messages).toHaveLength(0);
    } finally {
      await Promise.all([withoutTls.close(), refused.close()]);
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });

  it('close() ends sends still waiting for a connection at once: temporary, nothing hangs', async () => {
    const silent = await startSilentServer();
    const transport = relayTransport(silent.port, { maxConnections: 1, timeoutMs: 30_000 });
    try {
      const pending = Promise.all([transport.send(message(1)), transport.send(message(2)), transport.send(message(3))]);
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await transport.close();
      const outcomes = (await pending).flat();
      expect(outcomes.map((o) => o.outcome)).toEqual(['temporary', 'temporary', 'temporary']);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await silent.stop();
    }
  });
});

describe('SendGrid transport', () => {
  let fake: SendGridFake;
  beforeAll(async () => {
    fake = await startSendGridFake();
  });
  afterAll(async () => fake?.stop());

  const replyMessage = Buffer.from(
    [
      'DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; bh=abc; b=def',
      'From: "Ann Example" <ann@example.com>',
      'To: Bob <bob@elsewhere.test>, someone@third.test',
      'Cc: carl@elsewhere.test',
      'Reply-To: replies@example.com',
      'Subject: Re: the plan',
      'Message-ID: <reply-1@example.com>',
      'In-Reply-To: <orig-1@elsewhere.test>',
      'References: <root-1@elsewhere.test>',
      ' <orig-1@elsewhere.test>',
      'X-Campaign: autumn',
      'Date: Thu, 26 Nov 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Plain words.',
      '--alt',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Plain <img src="cid:logo@example.com"> words.</p>',
      '--alt--',
      '--outer',
      'Content-Type: image/png; name="logo.png"',
      'Content-Disposition: inline; filename="logo.png"',
      'Content-ID: <logo@example.com>',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('PNGDATA').toString('base64'),
      '--outer',
      'Content-Type: application/pdf; name="plan.pdf"',
      'Content-Disposition: attachment; filename="plan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('%PDF-1.4 plan').toString('base64'),
      '--outer--',
      '',
    ].join('\r\n'),
  );

  it('posts the exact v3 JSON: recipients (Bcc on their own), subject, text and html, attachments, other headers; no DKIM-Signature', async () => {
    fake.requests.length = 0;
    fake.answer = () => ({ status: 202 });
    const transport = sendGridTransport(fake.baseUrl);
    const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test', 'carl@elsewhere.test', 'hidden@elsewhere.test'], raw: replyMessage });
    expect(outcomes.map((o) => o.outcome)).toEqual(['sent', 'sent', 'sent']);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0].path).toBe('POST /v3/mail/send');
    expect(fake.requests[0].authorization).toBe('Bearer SG.test-key');
    expect(fake.requests[0].body).toEqual({
      personalizations: [
        { to: [{ email: 'bob@elsewhere.test', name: 'Bob' }], cc: [{ email: 'carl@elsewhere.test' }] },
        { to: [{ email: 'hidden@elsewhere.test' }] },
      ],
      from: { email: 'ann@example.com', name: 'Ann Example' },
      reply_to: { email: 'replies@example.com' },
      subject: 'Re: the plan',
      content: [
        { type: 'text/plain', value: 'Plain words.' },
        { type: 'text/html', value: '<p>Plain <img src="cid:logo@example.com"> words.</p>' },
      ],
      attachments: [
        { content: Buffer.from('PNGDATA').toString('base64'), filename: 'logo.png', type: 'image/png', disposition: 'inline', content_id: 'logo@example.com' },
        { content: Buffer.from('%PDF-1.4 plan').toString('base64'), filename: 'plan.pdf', type: 'application/pdf', disposition: 'attachment' },
      ],
      headers: {
        'Message-ID': '<reply-1@example.com>',
        'In-Reply-To': '<orig-1@elsewhere.test>',
        References: '<root-1@elsewhere.test> <orig-1@elsewhere.test>',
        'X-Campaign': 'autumn',
      },
    });
  });

  it('429 is temporary and honours X-RateLimit-Reset; 413 is permanent; a timeout is temporary', async () => {
    const transport = sendGridTransport(fake.baseUrl);
    const reset = Math.floor(Date.now() / 1000) + 120;
    fake.answer = () => ({ status: 429, headers: { 'x-ratelimit-reset': String(reset) }, body: { errors: [{ message: 'too many requests' }] } });
    const [limited] = await transport.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test'], raw: replyMessage });
    expect(limited).toMatchObject({ outcome: 'temporary', detail: 'SendGrid 429: too many requests' });
    expect(limited.retryAfterMs).toBeGreaterThan(100_000);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(120_000);
    fake.answer = () => ({ status: 413, body: { errors: [{ message: 'payload too large' }] } });
    expect((await transport.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test'], raw: replyMessage }))[0]).toMatchObject({ outcome: 'permanent', detail: 'SendGrid 413: payload too large' });
    const silent = await startSilentServer();
    try {
      const slow = sendGridTransport(`http://127.0.0.1:${silent.port}`, 300);
      expect((await slow.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test'], raw: replyMessage }))[0].outcome).toBe('temporary');
    } finally {
      await silent.stop();
      fake.answer = () => ({ status: 202 });
    }
  });

  it('401 and 403 mean our key or sender identity is wrong: misconfigured and said in health until a send goes through', async () => {
    const transport = sendGridTransport(fake.baseUrl);
    for (const status of [401, 403]) {
      fake.answer = () => ({ status, body: { errors: [{ message: status === 401 ? 'The provided authorization grant is invalid, expired, or revoked' : 'The from address does not match a verified Sender Identity' }] } });
      const [outcome] = await transport.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test'], raw: replyMessage });
      expect(outcome.outcome).toBe('misconfigured');
      expect(transport.health()).toMatchObject({ status: 'misconfigured', detail: expect.stringContaining(`SendGrid ${status}`) });
    }
    fake.answer = () => ({ status: 202 });
    await transport.send({ mailFrom: 'ann@example.com', recipients: ['bob@elsewhere.test'], raw: replyMessage });
    expect(transport.health()).toEqual({ status: 'ok', detail: null });
  });
});

describe('no transport', () => {
  it('holds every recipient and says why; health says none', async () => {
    const transport = new NoTransport();
    const outcomes = await transport.send({ recipients: ['a@elsewhere.test', 'b@other.test'] });
    expect(outcomes.map((o) => o.outcome)).toEqual(['held', 'held']);
    expect(outcomes[0].detail).toMatch(/NIMBUS_OUTBOUND_TRANSPORT=none/);
    expect(transport.health().status).toBe('none');
  });
});
