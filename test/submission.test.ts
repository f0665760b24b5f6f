import { execFile } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackRelay, type LoopbackRelay } from '../adapters/outbound/loopback-peers';
import type { VerifiedPasswordCache } from '../core/auth';
import { generateDkimKey } from '../core/dkim';
import type { DkimKey } from '../core/types';
import { loadConfig } from '../core/config';
import { smtpEdgeOptions } from '../smtp-edge/server';
import { PASSWORD, rawSmtp, startTestHost, testCertificate, waitFor, type TestHost } from './helpers';
import { createUser, listFolder, verifyDkim, waitForDelivery, waitInFolder } from './sending-helpers';

/**
 * Mail clients sending through Nimbus over real loopback sockets: nodemailer and
 * Python's smtplib, STARTTLS on the submission port and implicit TLS on the other,
 * AUTH with a user's password. Hosted recipients get it in their Inbox (no transport
 * involved), foreign ones through the SMTP relay transport to a loopback smtp-server
 * that records what arrives; there its DKIM signature is verified with mailauth.
 */
const BOB_PASSWORD = 'bobs own password';
const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');

describe('SMTP submission', () => {
  let relay: LoopbackRelay;
  let host: TestHost;
  let key: DkimKey;
  let ca: string;
  let bob: string;

  beforeAll(async () => {
    relay = await startLoopbackRelay();
    host = await startTestHost({ NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port), NIMBUS_RELAY_TIMEOUT_MS: '5000' });
    key = await generateDkimKey();
    await host.app.store.setDomainDkim('example.com', key); // issue 9 makes these for real domains
    ca = (await testCertificate()).cert;
    bob = await createUser(host, 'bob@example.com', BOB_PASSWORD, 'Bob');
    const admin = (await host.app.store.getUserByEmail('admin@example.com'))!;
    await host.app.store.addAlias(admin.id, 'sales@example.com');
  }, 60_000);
  afterAll(async () => {
    await host?.destroy();
    await relay?.stop();
  });

  const relayed = (subject: string) => waitFor(() => relay.messages.find((m) => m.raw.toString('utf8').includes(`Subject: ${subject}`)), 20_000);

  it('nodemailer, STARTTLS on the submission port: hosted recipient in Inbox and Sent, foreign recipient at the relay with a DKIM signature mailauth verifies', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.ports.submission, secure: false, requireTLS: true, auth: { user: 'admin@example.com', pass: PASSWORD }, tls: { ca, servername: 'mx.test' } });
    const info = await transport.sendMail({ from: 'Admin <admin@example.com>', to: 'bob@example.com, carol@elsewhere.test', subject: 'starttls submission', text: 'Hello over STARTTLS.', messageId: '<starttls-1@example.com>' });
    expect(info.response).toMatch(/^250 2\.6\.0 /);
    expect(info.accepted.sort()).toEqual(['bob@example.com', 'carol@elsewhere.test']);

    const inBob = await waitInFolder(host, bob, 'inbox', 'starttls submission');
    expect(inBob.from).toEqual({ address: 'admin@example.com', name: 'Admin' });
    const sent = await waitInFolder(host, host.token, 'sent', 'starttls submission');
    expect(sent.seen).toBe(true);

    const arrived = await relayed('starttls submission');
    expect(arrived.recipients).toEqual(['carol@elsewhere.test']); // bob was delivered here, not relayed
    expect(arrived.mailFrom).toBe('admin@example.com');
    const [signature] = await verifyDkim(arrived.raw, 'example.com', key);
    expect(signature).toMatchObject({ signingDomain: 'example.com', selector: key.selector });
    expect(signature.status.result).toBe('pass');
    // the signature goes in front; the client's bytes follow as it sent them (its own Message-ID kept)
    expect(arrived.raw.toString()).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
    expect(arrived.raw.toString()).toContain('Message-ID: <starttls-1@example.com>');

    const delivery = await waitForDelivery(host, host.token, sent.id, (d) => d.every((x) => x.status === 'sent'));
    expect(delivery.map((d) => [d.recipient, d.status])).toEqual([
      ['bob@example.com', 'sent'],
      ['carol@elsewhere.test', 'sent'],
    ]);
    expect(delivery[1].detail).toMatch(/^250 /);
    expect(delivery[1].attempts).toBe(1);
  });

  it('nodemailer, implicit TLS on the second port, from an alias: relayed and signed', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.ports.submissionTls, secure: true, auth: { user: 'admin@example.com', pass: PASSWORD }, tls: { ca, servername: 'mx.test' } });
    const info = await transport.sendMail({ from: 'Sales <sales@example.com>', to: 'dave@elsewhere.test', subject: 'implicit tls', text: 'Hello over TLS.' });
    expect(info.response).toMatch(/^250 /);
    const arrived = await relayed('implicit tls');
    expect(arrived.mailFrom).toBe('sales@example.com');
    expect((await verifyDkim(arrived.raw, 'example.com', key))[0].status.result).toBe('pass');
  });

  it("Python's smtplib: STARTTLS with login, and SMTP_SSL; hosted and foreign recipients", async () => {
    const script = `
import smtplib, ssl, sys
from email.message import EmailMessage
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.check_hostname = False  # the certificate is for mx.test; we connect to 127.0.0.1
def message(subject):
    m = EmailMessage()
    m['From'] = 'Bob <bob@example.com>'
    m['To'] = 'admin@example.com, erin@elsewhere.test'
    m['Subject'] = subject
    m.set_content('Hello from Python')
    return m
with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as s:
    s.starttls(context=ctx)
    s.login('bob@example.com', sys.argv[4])
    print(s.send_message(message('python starttls')))
with smtplib.SMTP_SSL('127.0.0.1', int(sys.argv[2]), context=ctx) as s:
    s.login('bob@example.com', sys.argv[4])
    print(s.send_message(message('python ssl')))
`;
    const { stdout } = await promisify(execFile)('python3', ['-c', script, String(host.ports.submission), String(host.ports.submissionTls), (await testCertificate()).certFile, BOB_PASSWORD], { encoding: 'utf8' });
    expect(stdout.trim().split('\n')).toEqual(['{}', '{}']);
    for (const subject of ['python starttls', 'python ssl']) {
      await waitInFolder(host, host.token, 'inbox', subject);
      await waitInFolder(host, bob, 'sent', subject);
      const arrived = await relayed(subject);
      expect(arrived.recipients).toEqual(['erin@elsewhere.test']);
      expect((await verifyDkim(arrived.raw, 'example.com', key))[0].status.result).toBe('pass');
    }
  });

  it('wrong AUTH password: 535 5.7.8 each time, counted with API logins: past the limit even the right one is refused, on SMTP and the API', async () => {
    await createUser(host, 'guess@example.com', 'the right password', 'Guess');
    const auth = (password: string) => rawSmtp(host.ports.submission, ['EHLO client.test\r\n', `AUTH PLAIN ${plain('guess@example.com', password)}\r\n`, 'QUIT\r\n'], 4);
    for (let i = 0; i < 5; i++) expect((await auth('wrong'))[2]).toMatch(/^535 5\.7\.8 /);
    // the default limit is 5 per (account, address): the sixth try is not even checked
    expect((await auth('the right password'))[2]).toMatch(/^421 4\.7\.0 /);
    const login = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'guess@example.com', password: 'the right password' }) });
    expect(login.status).toBe(429);
  });

  it('a password that verified is remembered (no second bcrypt), yet wrong ones still count and the lock-out still holds over it', async () => {
    await host.api('/auth/register', { method: 'POST', token: host.token, body: JSON.stringify({ email: 'cached@example.com', password: 'the cached password', name: 'Cached' }) });
    const passwords = (host.app.passwords as VerifiedPasswordCache).inner;
    const checks: string[] = [];
    const verify = passwords.verify.bind(passwords);
    passwords.verify = (password, hash) => {
      checks.push(password);
      return verify(password, hash);
    };
    try {
      const auth = (password: string) => rawSmtp(host.ports.submission, ['EHLO client.test\r\n', `AUTH PLAIN ${plain('cached@example.com', password)}\r\n`, 'QUIT\r\n'], 4);
      expect((await auth('the cached password'))[2]).toMatch(/^235 2\.7\.0 /);
      expect((await auth('the cached password'))[2]).toMatch(/^235 2\.7\.0 /);
      expect(checks).toEqual(['the cached password']);
      for (let i = 0; i < 5; i++) expect((await auth('wrong'))[2]).toMatch(/^535 5\.7\.8 /);
      expect(checks.filter((c) => c === 'wrong')).toHaveLength(5);
      expect((await auth('the cached password'))[2]).toMatch(/^421 4\.7\.0 /);
    } finally {
      passwords.verify = verify;
    }
  });

  it('AUTH LOGIN works too; MAIL FROM another user\'s address: 553 5.7.1; a From header that is not yours: 553 5.7.1 after DATA, nothing kept', async () => {
    const login = ['EHLO client.test\r\n', 'AUTH LOGIN\r\n', Buffer.from('bob@example.com').toString('base64') + '\r\n', Buffer.from(BOB_PASSWORD).toString('base64') + '\r\n'];
    const foreignFrom = await rawSmtp(host.ports.submission, [...login, 'MAIL FROM:<admin@example.com>\r\n', 'MAIL FROM:<stranger@elsewhere.test>\r\n', 'QUIT\r\n'], 8);
    expect(foreignFrom[4]).toMatch(/^235 /);
    expect(foreignFrom[5]).toMatch(/^553 5\.7\.1 /);
    expect(foreignFrom[6]).toMatch(/^553 5\.7\.1 /);

    const sentBefore = (await listFolder(host, bob, 'sent')).length;
    const relayedBefore = relay.messages.length;
    const forged = 'From: Admin <admin@example.com>\r\nTo: frank@elsewhere.test\r\nSubject: forged from\r\n\r\nnot mine\r\n.\r\n';
    const replies = await rawSmtp(host.ports.submission, [...login, 'MAIL FROM:<bob@example.com>\r\n', 'RCPT TO:<frank@elsewhere.test>\r\n', 'DATA\r\n', forged, 'QUIT\r\n'], 10);
    expect(replies.slice(5, 8).map((r) => r.slice(0, 3))).toEqual(['250', '250', '354']);
    expect(replies[8]).toMatch(/^553 5\.7\.1 /);
    // the first From address is Bob's, a second one (or the Sender) is not: refused as well
    // and a second From or Sender field (receivers read them differently), even naming Bob
    for (const header of [
      'From: bob@example.com, Admin <admin@example.com>',
      'From: bob@example.com\r\nSender: admin@example.com',
      'From: bob@example.com\r\nFrom: admin@example.com',
      'From: bob@example.com\r\nSender: bob@example.com\r\nSender: bob@example.com',
    ]) {
      const twoAuthors = `${header}\r\nTo: frank@elsewhere.test\r\nSubject: two authors\r\n\r\nnot all mine\r\n.\r\n`;
      const answer = await rawSmtp(host.ports.submission, [...login, 'MAIL FROM:<bob@example.com>\r\n', 'RCPT TO:<frank@elsewhere.test>\r\n', 'DATA\r\n', twoAuthors, 'QUIT\r\n'], 10);
      expect(answer[8], header).toMatch(/^553 5\.7\.1 /);
    }
    expect((await listFolder(host, bob, 'sent')).length).toBe(sentBefore);
    expect(relay.messages.length).toBe(relayedBefore);
  });

  it('without AUTH: the submission port wants it first (530 5.7.0); the MX port refuses to relay (554 5.7.1)', async () => {
    const submission = await rawSmtp(host.ports.submission, ['EHLO client.test\r\n', 'MAIL FROM:<admin@example.com>\r\n', 'QUIT\r\n'], 4);
    expect(submission[2]).toMatch(/^530 5\.7\.0 /);
    const mx = await rawSmtp(host.smtpPort, ['EHLO client.test\r\n', 'MAIL FROM:<admin@example.com>\r\n', 'RCPT TO:<someone@elsewhere.test>\r\n', 'QUIT\r\n'], 5);
    expect(mx[3]).toMatch(/^554 5\.7\.1 /);
  });

  it('an authenticated session on the MX port may relay too', async () => {
    const replies = await rawSmtp(host.smtpPort, ['EHLO client.test\r\n', `AUTH PLAIN ${plain('bob@example.com', BOB_PASSWORD)}\r\n`, 'MAIL FROM:<bob@example.com>\r\n', 'RCPT TO:<gina@elsewhere.test>\r\n', 'DATA\r\n', 'From: bob@example.com\r\nTo: gina@elsewhere.test\r\nSubject: via mx auth\r\n\r\nhi\r\n.\r\n', 'QUIT\r\n'], 8);
    expect(replies[2]).toMatch(/^235 /);
    expect(replies[6]).toMatch(/^250 /);
    expect((await relayed('via mx auth')).recipients).toEqual(['gina@elsewhere.test']);
  });

  it('one recipient more than NIMBUS_MAX_RECIPIENTS (100 by default) in a submission: 452 4.5.3 for it, as on the MX port; the others stand', async () => {
    const max = loadConfig({}).NIMBUS_MAX_RECIPIENTS;
    const rcpts = Array.from({ length: max + 1 }, (_, i) => `RCPT TO:<many${i}@elsewhere.test>\r\n`);
    const replies = await rawSmtp(host.ports.submission, ['EHLO client.test\r\n', `AUTH PLAIN ${plain('bob@example.com', BOB_PASSWORD)}\r\n`, 'MAIL FROM:<bob@example.com>\r\n', ...rcpts, 'RSET\r\n', 'QUIT\r\n'], max + 7);
    expect(replies[2]).toMatch(/^235 /);
    const rcptReplies = replies.slice(4, 4 + max + 1);
    expect(rcptReplies).toHaveLength(max + 1);
    expect(rcptReplies.slice(0, max).every((r) => r.startsWith('250 '))).toBe(true);
    expect(rcptReplies[max]).toMatch(/^452 4\.5\.3 /);
  });
});

describe('SMTP submission from a remote client (TLS before AUTH) and the hourly limit', () => {
  let host: TestHost;
  let relay: LoopbackRelay;
  beforeAll(async () => {
    relay = await startLoopbackRelay();
    // The tests can only connect over loopback, where AUTH without TLS is allowed by default (trusted
    // networks); this host trusts no network, so the loopback client is treated as one from the internet is.
    host = await startTestHost({ NIMBUS_SEND_MAX_PER_HOUR: '2', NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port), NIMBUS_TRUSTED_NETWORKS: 'none' });
  }, 60_000);
  afterAll(async () => {
    await host?.destroy();
    await relay?.stop();
  });

  /** EHLO's extension list, before and after STARTTLS. */
  async function ehloBeforeAndAfterTls(port: number): Promise<{ before: string; after: string; authBeforeTls: string }> {
    const replies = await rawSmtp(port, ['EHLO client.test\r\n', `AUTH PLAIN ${plain('admin@example.com', PASSWORD)}\r\n`, 'QUIT\r\n'], 4);
    const before = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = netConnect(port, '127.0.0.1');
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.startsWith('220') && !text.includes('EHLO-sent')) {
          text += 'EHLO-sent';
          socket.write('EHLO client.test\r\n');
        } else if (/\r\n250 [^\r\n]*\r\n$/.test(text) && !text.includes('STARTTLS-sent')) {
          text += 'STARTTLS-sent';
          socket.write('STARTTLS\r\n');
        } else if (/220 [^\r\n]*TLS[^\r\n]*\r\n$/i.test(text)) {
          const secure = tlsConnect({ socket, rejectUnauthorized: false, servername: 'mx.test' }, () => secure.write('EHLO client.test\r\n'));
          let after = '';
          secure.on('data', (c: Buffer) => {
            after += c.toString();
            if (/\r\n250 [^\r\n]*\r\n$/.test(after)) {
              secure.end('QUIT\r\n');
              resolve(text + '\n---TLS---\n' + after);
            }
          });
          secure.on('error', reject);
        }
      });
      socket.on('error', reject);
    });
    const [plainPart, tlsPart] = before.split('\n---TLS---\n');
    return { before: plainPart, after: tlsPart, authBeforeTls: replies[2] };
  }

  it('AUTH before STARTTLS: not offered, and refused with 538 5.7.11 without looking at the password; offered after STARTTLS (submission and MX)', async () => {
    for (const port of [host.ports.submission, host.smtpPort]) {
      const { before, after, authBeforeTls } = await ehloBeforeAndAfterTls(port);
      expect(before).toContain('STARTTLS');
      expect(before).not.toContain('AUTH');
      expect(authBeforeTls).toMatch(/^538 5\.7\.11 /);
      expect(after).toContain('AUTH PLAIN LOGIN');
    }
    // refusing before TLS did not count as a failed login
    const ok = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    expect(ok.status).toBe(200);
  });

  it('the settings behind it: trusted networks (loopback by default) may AUTH before TLS, `none` trusts nobody, NIMBUS_SMTP_ALLOW_INSECURE_AUTH lets everyone', () => {
    const allowed = (env: Record<string, string>) => smtpEdgeOptions(loadConfig(env), { key: Buffer.alloc(0), cert: Buffer.alloc(0) }).plainAuthAllowed;
    const byDefault = allowed({});
    expect([byDefault('127.0.0.1'), byDefault('::1'), byDefault('203.0.113.5')]).toEqual([true, true, false]);
    const none = allowed({ NIMBUS_TRUSTED_NETWORKS: 'none' });
    expect([none('127.0.0.1'), none('203.0.113.5')]).toEqual([false, false]);
    const office = allowed({ NIMBUS_TRUSTED_NETWORKS: '192.0.2.0/24' });
    expect([office('192.0.2.40'), office('127.0.0.1'), office('203.0.113.5')]).toEqual([true, false, false]);
    const everyone = allowed({ NIMBUS_TRUSTED_NETWORKS: 'none', NIMBUS_SMTP_ALLOW_INSECURE_AUTH: 'true' });
    expect(everyone('203.0.113.5')).toBe(true);
  });

  it('over the hourly limit: 451 4.7.1 at MAIL FROM on SMTP, 429 RateLimited on the API', async () => {
    const ca = (await testCertificate()).cert;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.ports.submission, secure: false, requireTLS: true, auth: { user: 'admin@example.com', pass: PASSWORD }, tls: { ca, servername: 'mx.test' } });
    for (const n of [1, 2]) expect((await transport.sendMail({ from: 'admin@example.com', to: 'x@elsewhere.test', subject: `limit ${n}`, text: 'x' })).response).toMatch(/^250 /);
    const refused = await transport.sendMail({ from: 'admin@example.com', to: 'x@elsewhere.test', subject: 'limit 3', text: 'x' }).then(
      () => null,
      (err: { response?: string }) => err.response,
    );
    expect(refused).toMatch(/^451 4\.7\.1 /);
    const api = await host.api('/send', { method: 'POST', token: host.token, body: JSON.stringify({ to: ['x@elsewhere.test'], subject: 'limit api', text: 'x' }) });
    expect(api.status).toBe(429);
    expect(Number(api.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await api.json()).toMatchObject({ code: 'RateLimited' });
  });
});
