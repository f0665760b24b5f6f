import { afterAll, describe, expect, it } from 'vitest';
import { TableResolver } from '../adapters/dns/table-resolver';
import { Session } from '../bench/smtp-load';
import { captureLogger, listInbox, startTestHost, waitFor, type TestHost } from './helpers';

/**
 * The bench's SMTP session over a real socket, driven a step at a time: the gate's
 * behaviour is in when a reply comes, which the lockstep rawSmtp cannot show.
 */
class Talk {
  private constructor(private readonly session: Session) {}

  /** Connected and greeted, with MAIL and RCPT accepted: the next command is DATA. */
  static async ready(port: number): Promise<Talk> {
    const session = await Session.open(port);
    expect(await session.reply()).toMatch(/^220 /);
    await session.command('EHLO client.test\r\n', '250');
    await session.command('MAIL FROM:<sender@sender.test>\r\n', '250');
    await session.command('RCPT TO:<admin@example.com>\r\n', '250');
    return new Talk(session);
  }

  /** The next final reply line; null if none came within `ms`. */
  reply(ms = 10_000): Promise<string | null> {
    return this.session.replyWithin(ms);
  }

  send(data: string): void {
    this.session.send(data);
  }

  command(line: string, ms?: number): Promise<string | null> {
    this.send(`${line}\r\n`);
    return this.reply(ms);
  }

  close(): void {
    this.session.close();
  }
}

const message = (subject: string) => `From: sender@sender.test\r\nTo: admin@example.com\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`;

async function subjects(host: TestHost): Promise<string[]> {
  return (await listInbox(host)).map((m) => m.subject).sort();
}

describe('the DATA slots: sessions past them wait for their 354 (smtp-edge/data-gate.ts)', () => {
  const hosts: TestHost[] = [];
  const talks: Talk[] = [];
  afterAll(async () => {
    for (const t of talks) t.close();
    await Promise.all(hosts.map((h) => h.destroy()));
  });
  const start = async (...args: Parameters<typeof startTestHost>) => {
    const host = await startTestHost(...args);
    hosts.push(host);
    return host;
  };
  const ready = async (port: number) => {
    const talk = await Talk.ready(port);
    talks.push(talk);
    return talk;
  };

  // a long wait in these, so that a slot never given back cannot hide behind it
  it('with one slot, a second DATA is answered only once the first message is stored; both are filed', async () => {
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '1' }, { edge: { dataSlotWaitMs: 60_000 } });
    const a = await ready(host.smtpPort);
    const b = await ready(host.smtpPort);
    expect(await a.command('DATA')).toMatch(/^354 /);
    a.send(message('first').slice(0, 40)); // A is in the middle of its message
    expect(await b.command('DATA', 700)).toBeNull(); // B waits, its message still with its client
    a.send(message('first').slice(40) + '.\r\n');
    expect(await a.reply()).toMatch(/^250 /);
    expect(await b.reply()).toMatch(/^354 /);
    b.send(message('second') + '.\r\n');
    expect(await b.reply()).toMatch(/^250 /);
    // the connection goes on as usual after its turn: a second transaction on A
    expect(await a.command('MAIL FROM:<sender@sender.test>')).toMatch(/^250 /);
    expect(await a.command('RCPT TO:<admin@example.com>')).toMatch(/^250 /);
    expect(await a.command('DATA')).toMatch(/^354 /);
    a.send(message('third') + '.\r\n');
    expect(await a.reply()).toMatch(/^250 /);
    await waitFor(async () => (await subjects(host)).length === 3 || undefined);
    expect(await subjects(host)).toEqual(['first', 'second', 'third']);
  });

  it('sessions wait their turn first come, first served', async () => {
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '1' }, { edge: { dataSlotWaitMs: 60_000 } });
    const holder = await ready(host.smtpPort);
    expect(await holder.command('DATA')).toMatch(/^354 /);
    const queue = [await ready(host.smtpPort), await ready(host.smtpPort), await ready(host.smtpPort)];
    // the DATA commands reach the server in this order, some time apart
    for (const t of queue) {
      t.send('DATA\r\n');
      await new Promise((r) => setTimeout(r, 150));
    }
    const order: number[] = [];
    const turns = queue.map(async (t, i) => {
      expect(await t.reply()).toMatch(/^354 /);
      order.push(i);
      t.send(message(`queued ${i}`) + '.\r\n');
      expect(await t.reply()).toMatch(/^250 /);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(order).toEqual([]);
    holder.send(message('holder') + '.\r\n');
    expect(await holder.reply()).toMatch(/^250 /);
    await Promise.all(turns);
    expect(order).toEqual([0, 1, 2]);
    await waitFor(async () => (await subjects(host)).length === 4 || undefined);
    expect(await subjects(host)).toEqual(['holder', 'queued 0', 'queued 1', 'queued 2']);
  });

  it('a session that waited the longest wait goes ahead anyway: a slow sender holds the others up by that much only', async () => {
    const { logger, lines } = captureLogger('warn');
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '1' }, { edge: { dataSlotWaitMs: 400 }, logger });
    const slow = await ready(host.smtpPort);
    expect(await slow.command('DATA')).toMatch(/^354 /);
    slow.send('Subject: slow\r\n'); // and nothing more for now
    const other = await ready(host.smtpPort);
    const t0 = Date.now();
    expect(await other.command('DATA')).toMatch(/^354 /);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    // the operator hears of it: the slots may be too few
    expect(lines.filter((l) => String(l.msg).includes('without a free slot'))).toEqual([expect.objectContaining({ slots: 1, active: 2, waiting: 0 })]);
    other.send(message('not held up') + '.\r\n');
    expect(await other.reply()).toMatch(/^250 /);
    slow.send('\r\nat last\r\n.\r\n');
    expect(await slow.reply()).toMatch(/^250 /);
    await waitFor(async () => (await subjects(host)).length === 2 || undefined);
    expect(await subjects(host)).toEqual(['not held up', 'slow']);
  });

  it('a refused message, a client gone while it waited, and a DATA without recipients leave no slot taken', async () => {
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '1', NIMBUS_MAX_MESSAGE_BYTES: '2000' }, { edge: { dataSlotWaitMs: 60_000 } });
    // refused for its size: 552, and the slot is free for the next
    const big = await ready(host.smtpPort);
    expect(await big.command('DATA')).toMatch(/^354 /);
    big.send(`Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n.\r\n`);
    expect(await big.reply()).toMatch(/^552 5\.3\.4 /);
    // a session with no recipients (RSET) waits for nothing: DATA is answered 503 at once, slot or not
    const holder = await ready(host.smtpPort);
    expect(await holder.command('DATA')).toMatch(/^354 /);
    const none = await ready(host.smtpPort);
    expect(await none.command('RSET')).toMatch(/^250 /);
    expect(await none.command('DATA', 2000)).toMatch(/^503 /);
    // a client that leaves while it waits
    const gone = await ready(host.smtpPort);
    expect(await gone.command('DATA', 300)).toBeNull();
    gone.close();
    await new Promise((r) => setTimeout(r, 100));
    holder.send(message('held') + '.\r\n');
    expect(await holder.reply()).toMatch(/^250 /);
    // the gone client was passed over at its turn: the next DATA is answered at once
    const next = await ready(host.smtpPort);
    expect(await next.command('DATA', 2000)).toMatch(/^354 /);
    next.send(message('next') + '.\r\n');
    expect(await next.reply()).toMatch(/^250 /);
    await waitFor(async () => (await subjects(host)).length === 2 || undefined);
    expect(await subjects(host)).toEqual(['held', 'next']);
  });

  it('the slot goes back once the message is stored, before the slow DNS answers of the authentication and the reply', async () => {
    // every DNS answer (sender.test's SPF, DMARC) takes 2 s: the reply waits for them, the next session need not
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '1' }, { edge: { dataSlotWaitMs: 60_000 }, resolver: new TableResolver({}, { delayMs: 2_000 }) });
    const a = await ready(host.smtpPort);
    const b = await ready(host.smtpPort);
    expect(await a.command('DATA')).toMatch(/^354 /);
    const events: string[] = [];
    a.send(message('slow dns') + '.\r\n');
    const aReply = a.reply().then((line) => events.push(`a ${line?.slice(0, 3)}`));
    b.send('DATA\r\n');
    const bReply = b.reply().then((line) => events.push(`b ${line?.slice(0, 3)}`));
    await Promise.all([aReply, bReply]);
    expect(events).toEqual(['b 354', 'a 250']);
    b.send(message('next') + '.\r\n');
    expect(await b.reply()).toMatch(/^250 /);
  });

  it('with the slots set to 0 there is no gate: many sessions are answered 354 at once', async () => {
    const host = await start({ NIMBUS_SMTP_DATA_SLOTS: '0' });
    const many = await Promise.all(Array.from({ length: 5 }, () => ready(host.smtpPort)));
    const replies = await Promise.all(many.map((t) => t.command('DATA', 2000)));
    expect(replies).toHaveLength(5);
    for (const r of replies) expect(r).toMatch(/^354 /);
  });
});
