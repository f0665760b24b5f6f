import { dkimSign, sealMessage } from 'mailauth';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackDnsServer, type LoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { NodeDnsResolver } from '../adapters/dns/node-resolver';
import { TableResolver } from '../adapters/dns/table-resolver';
import { dkimRecordValue, generateDkimKey } from '../core/dkim';
import { sampledPolicy } from '../smtp-edge/inbound-auth';
import type { DkimKey } from '../core/types';
import { txtChunks } from './dns-helpers';
import { listInbox, rawSmtp, splitAuthResults, startTestHost, waitFor, type TestHost } from './helpers';

/**
 * Inbound SPF/DKIM/DMARC/ARC with real signed messages over real sockets: messages
 * are signed with nodemailer's or mailauth's DKIM signer, the public keys and
 * policies are served by a table resolver injected into the host, and nodemailer
 * sends from 127.0.0.1 or 127.0.0.2 (both loopback) to vary the connecting IP.
 */
let signer: DkimKey;
let sealer: DkimKey;

function table(): TableResolver {
  return new TableResolver({
    // signs its mail, SPF allows 127.0.0.1 only, DMARC reject
    'sender.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    [`s1._domainkey.sender.example`]: { TXT: [txtChunks(dkimRecordValue(signer))] },
    '_dmarc.sender.example': { TXT: ['v=DMARC1; p=reject'] },
    // a bank whose mail never comes from here
    'bank.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.bank.example': { TXT: ['v=DMARC1; p=reject; rua=mailto:d@bank.example'] },
    'relaxed.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.relaxed.example': { TXT: ['v=DMARC1; p=none'] },
    // policies enacted on no failing message (pct=0): reject is treated as quarantine, quarantine as none
    'trial.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.trial.example': { TXT: ['v=DMARC1; p=reject; pct=0'] },
    'staged.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.staged.example': { TXT: ['v=DMARC1; p=quarantine; pct=0'] },
    'forwarder.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    'arc._domainkey.forwarder.example': { TXT: [txtChunks(dkimRecordValue(sealer))] },
  });
}

interface Full {
  id: string;
  mailbox: string;
  auth: { spf: string; dkim: string; dmarc: string; arc: string } | null;
  headers: Array<{ name: string; value: string }>;
}

async function find(host: TestHost, subject: string, folder: 'inbox' | 'junk' = 'inbox'): Promise<Full> {
  const boxes = (await (await host.api('/mailboxes', { token: host.token })).json()) as { items: Array<{ id: string; specialUse: string }> };
  const box = boxes.items.find((b) => b.specialUse === folder)!;
  const item = await waitFor(async () => {
    const page = (await (await host.api(`/mails?mailbox=${box.id}`, { token: host.token })).json()) as { items: Array<{ id: string; subject: string }> };
    return page.items.find((m) => m.subject === subject);
  });
  return (await (await host.api(`/mails/${item.id}`, { token: host.token })).json()) as Full;
}

async function raw(host: TestHost, id: string): Promise<Buffer> {
  return Buffer.from(await (await host.api(`/mails/${id}/raw`, { token: host.token })).arrayBuffer());
}

function transport(host: TestHost, localAddress = '127.0.0.1') {
  return nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true, localAddress, name: 'client.sender.example' });
}

/** A message as bytes, DKIM-signed by mailauth for sender.example (s1). */
async function signedRaw(subject: string, body: string): Promise<Buffer> {
  const message = Buffer.from(`From: news@sender.example\r\nTo: admin@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.example>\r\n\r\n${body}`);
  const { signatures } = await dkimSign(message, { signTime: new Date(), signatureData: [{ signingDomain: 'sender.example', selector: 's1', privateKey: signer.privateKeyPem }] } as never); // a time given, or mailauth may write another than it signed
  return Buffer.concat([Buffer.from(signatures), message]);
}

beforeAll(async () => {
  [signer, sealer] = await Promise.all([generateDkimKey(), generateDkimKey()]);
});

describe('inbound authentication (table resolver)', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({}, { resolver: table(), scheduler: false });
  });
  afterAll(async () => host.destroy());

  it('DKIM-signed (nodemailer) with the key published → dkim pass, spf pass, dmarc pass; this host\'s Authentication-Results first in the raw message', async () => {
    await transport(host).sendMail({
      from: 'news@sender.example',
      to: 'admin@example.com',
      subject: 'signed ok',
      text: 'hello\n',
      dkim: { domainName: 'sender.example', keySelector: 's1', privateKey: signer.privateKeyPem },
    });
    const m = await find(host, 'signed ok');
    expect(m.auth).toEqual({ spf: 'pass', dkim: 'pass', dmarc: 'pass', arc: 'none' });
    const { authResults } = splitAuthResults(await raw(host, m.id));
    expect(authResults).toMatch(/^Authentication-Results: mx\.test;\r\n dkim=pass /);
    expect(authResults).toContain('spf=pass');
    expect(authResults).toContain('dmarc=pass');
    expect(m.headers[0]).toMatchObject({ name: 'authentication-results' });
  });

  it('the body changed after signing → dkim fail (and DMARC of a p=reject domain fails → Junk)', async () => {
    const signed = await signedRaw('tampered', 'original body\r\n');
    const tampered = Buffer.from(signed.toString('latin1').replace('original body', 'changed body!'), 'latin1');
    // from 127.0.0.2: SPF fails too, so nothing aligns
    await transport(host, '127.0.0.2').sendMail({ envelope: { from: 'news@sender.example', to: ['admin@example.com'] }, raw: tampered });
    const m = await find(host, 'tampered', 'junk');
    expect(m.auth).toMatchObject({ dkim: 'fail', spf: 'fail', dmarc: 'fail' });
    const { authResults } = splitAuthResults(await raw(host, m.id));
    expect(authResults).toContain('dkim=fail (body hash did not verify)');
  });

  it('the same signed bytes unchanged pass (the signer is right, the change is what failed)', async () => {
    await transport(host, '127.0.0.2').sendMail({ envelope: { from: 'news@sender.example', to: ['admin@example.com'] }, raw: await signedRaw('untampered', 'original body\r\n') });
    expect((await find(host, 'untampered')).auth).toMatchObject({ dkim: 'pass', spf: 'fail', dmarc: 'pass' });
  });

  it('SPF pass and fail by connecting IP (127.0.0.1 is allowed, 127.0.0.2 is not)', async () => {
    await transport(host, '127.0.0.1').sendMail({ from: 'news@sender.example', to: 'admin@example.com', subject: 'spf from .1', text: 'x' });
    await transport(host, '127.0.0.2').sendMail({ from: 'news@sender.example', to: 'admin@example.com', subject: 'spf from .2', text: 'x' });
    expect((await find(host, 'spf from .1')).auth).toMatchObject({ spf: 'pass', dmarc: 'pass' });
    // unsigned and SPF fail: DMARC fails for a p=reject domain
    expect((await find(host, 'spf from .2', 'junk')).auth).toMatchObject({ spf: 'fail', dkim: 'none', dmarc: 'fail' });
  });

  it('a spoofed From of a p=reject domain → Junk; a DMARC failure under p=none stays in the Inbox', async () => {
    await transport(host).sendMail({ from: 'ceo@bank.example', to: 'admin@example.com', subject: 'wire the money', text: 'urgent' });
    expect((await find(host, 'wire the money', 'junk')).auth).toMatchObject({ spf: 'fail', dmarc: 'fail' });
    await transport(host).sendMail({ from: 'someone@relaxed.example', to: 'admin@example.com', subject: 'relaxed policy', text: 'x' });
    expect((await find(host, 'relaxed policy')).auth).toMatchObject({ dmarc: 'fail' });
  });

  it('pct=0: a DMARC failure under p=quarantine is left out of the sample and stays in the Inbox', async () => {
    await transport(host).sendMail({ from: 'someone@staged.example', to: 'admin@example.com', subject: 'staged policy', text: 'x' });
    expect((await find(host, 'staged policy')).auth).toMatchObject({ spf: 'fail', dmarc: 'fail' });
  });

  it('Authentication-Results claiming this host that came with the message are removed; others are kept', async () => {
    const message = [
      'Authentication-Results: mx.test; dkim=pass header.d=bank.example; dmarc=pass',
      'Authentication-Results: relay.elsewhere.example; spf=pass',
      'From: ceo@bank.example',
      'To: admin@example.com',
      'Subject: forged results',
      '',
      'trust me',
      '',
    ].join('\r\n');
    await transport(host).sendMail({ envelope: { from: 'ceo@bank.example', to: ['admin@example.com'] }, raw: message });
    const m = await find(host, 'forged results', 'junk');
    const served = (await raw(host, m.id)).toString('latin1');
    expect(served.match(/^Authentication-Results: mx\.test;/gim)).toHaveLength(1); // ours only
    expect(served).not.toContain('header.d=bank.example; dmarc=pass');
    expect(served).toContain('Authentication-Results: relay.elsewhere.example; spf=pass');
    expect(m.auth).toMatchObject({ dmarc: 'fail' });
  });

  it('an ARC-sealed message (sealed by a forwarder whose key is published) → arc pass', async () => {
    const message = Buffer.from('From: list@forwarder.example\r\nTo: admin@example.com\r\nSubject: sealed\r\n\r\nforwarded\r\n');
    const seal = await sealMessage(message, { signingDomain: 'forwarder.example', selector: 'arc', privateKey: sealer.privateKeyPem, authResults: 'forwarder.example; spf=pass', cv: 'none', signTime: new Date() } as never);
    await transport(host).sendMail({ envelope: { from: 'list@forwarder.example', to: ['admin@example.com'] }, raw: Buffer.concat([seal, message]) });
    expect((await find(host, 'sealed')).auth).toMatchObject({ arc: 'pass', spf: 'pass' });
  });
});

describe('DMARC pct (RFC 7489 6.6.4)', () => {
  const at = (x: number) => () => x; // the random draw, in [0, 1)
  it('enacts the policy on the drawn share of failing messages and treats the rest a step lower', () => {
    expect(sampledPolicy('reject', 'v=DMARC1; p=reject; pct=30', at(0.29))).toBe('reject');
    expect(sampledPolicy('reject', 'v=DMARC1; p=reject; pct=30', at(0.3))).toBe('quarantine');
    expect(sampledPolicy('quarantine', 'v=DMARC1; p=quarantine; pct=30', at(0.9))).toBe('none');
    expect(sampledPolicy('reject', 'v=DMARC1; p=reject; pct=0', at(0))).toBe('quarantine');
    expect(sampledPolicy('none', 'v=DMARC1; p=none; pct=0', at(0.5))).toBe('none');
  });
  it('an absent or invalid pct means every message (100); so does a record it cannot read', () => {
    for (const record of ['v=DMARC1; p=reject', 'v=DMARC1; p=reject; pct=abc', 'v=DMARC1; p=reject; pct=101', 'v=DMARC1; p=reject; pct=-5', 'v=DMARC1; p=reject; pct=100', undefined]) {
      expect(sampledPolicy('reject', record, at(0.999))).toBe('reject');
    }
    expect(sampledPolicy('reject', 'v=DMARC1;p=reject;PCT = 50 ;', at(0.6))).toBe('quarantine');
  });
});

describe('inbound authentication: DMARC reject setting', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_DMARC_REJECT: 'true', NIMBUS_WORKER: 'true' }, { resolver: table(), scheduler: false });
  });
  afterAll(async () => host.destroy());

  it('a spoofed From of a p=reject domain is refused with 550 5.7.1 at the end of DATA; nothing is kept', async () => {
    const data = 'From: ceo@bank.example\r\nTo: admin@example.com\r\nSubject: refused\r\n\r\nurgent\r\n.\r\n';
    const replies = await rawSmtp(host.smtpPort, ['EHLO spoof.test\r\n', 'MAIL FROM:<ceo@bank.example>\r\n', 'RCPT TO:<admin@example.com>\r\n', 'DATA\r\n', data, 'QUIT\r\n'], 7);
    expect(replies[5]).toMatch(/^550 5\.7\.1 .*DMARC/);
    expect(await host.queue.depth()).toBe(0);
    const blobs = host.db.db.prepare("SELECT COUNT(*) AS n FROM blobs").get() as { n: number };
    expect(blobs.n).toBe(0);
    // a passing message still goes through, and p=quarantine failures are not refused (Junk)
    await transport(host).sendMail({ from: 'news@sender.example', to: 'admin@example.com', subject: 'still welcome', text: 'x' });
    await find(host, 'still welcome');
    expect((await listInbox(host)).some((m) => m.subject === 'refused')).toBe(false);
  });

  it('pct=0: a DMARC failure under p=reject is left out of the sample, so it is quarantined (Junk), not refused', async () => {
    const info = await transport(host).sendMail({ from: 'ceo@trial.example', to: 'admin@example.com', subject: 'sampled out', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    expect((await find(host, 'sampled out', 'junk')).auth).toMatchObject({ spf: 'fail', dmarc: 'fail' });
  });
});

describe('inbound authentication: DNS that never answers (node:dns against a silent loopback server)', () => {
  let host: TestHost;
  let dns: LoopbackDnsServer;
  beforeAll(async () => {
    dns = await startLoopbackDnsServer({ 'sender.example': { error: 'ETIMEOUT' }, '_dmarc.sender.example': { error: 'ETIMEOUT' }, 's1._domainkey.sender.example': { error: 'ETIMEOUT' } });
    host = await startTestHost({ NIMBUS_DNS_TIMEOUT_MS: '300' }, { resolver: new NodeDnsResolver({ timeoutMs: 300, servers: [dns.address] }), scheduler: false });
  });
  afterAll(async () => {
    await host.destroy();
    await dns.stop();
  });

  it('→ temperror, and the message is delivered (250, Inbox)', async () => {
    const info = await transport(host).sendMail({ from: 'news@sender.example', to: 'admin@example.com', subject: 'dns down', text: 'x', dkim: { domainName: 'sender.example', keySelector: 's1', privateKey: signer.privateKeyPem } });
    expect(info.response).toMatch(/^250 /);
    const m = await find(host, 'dns down');
    expect(m.auth).toMatchObject({ spf: 'temperror', dkim: 'temperror', dmarc: 'temperror' });
    expect(dns.questions).toContain('TXT sender.example');
  });
});
