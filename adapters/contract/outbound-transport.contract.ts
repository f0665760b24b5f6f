import { describe, expect, it } from 'vitest';
import type { OutboundTransport } from '../../core/ports';
import { withFresh } from './harness';

/** The far end of a transport, as its adapter's test controls it. */
export interface TransportPeer {
  /** How the next sends are answered. */
  behave(kind: 'accept' | 'temporary' | 'permanent'): void;
  /** What the far end accepted: recipients, subject and body text as it sees them. */
  received(): Array<{ recipients: string[]; subject: string; text: string }>;
}

const message = (subject: string) =>
  Buffer.from(
    `From: Ann <ann@example.com>\r\nTo: bob@elsewhere.test, carl@elsewhere.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.com>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello from the contract suite.\r\n`,
  );

/**
 * The OutboundTransport contract: every transport that reaches the network (SMTP
 * relay, SendGrid) runs this suite against a loopback peer. `make` gives a transport
 * pointed at a fresh peer, and `makeUnreachable` one pointed at a closed port.
 */
export function outboundTransportContract(
  name: string,
  make: () => Promise<{ transport: OutboundTransport; peer: TransportPeer; cleanup(): Promise<void> }>,
  makeUnreachable: () => Promise<{ transport: OutboundTransport; cleanup(): Promise<void> }>,
): void {
  describe(`OutboundTransport contract: ${name}`, () => {
    const withPeer = (fn: (made: { transport: OutboundTransport; peer: TransportPeer }) => Promise<void>) => withFresh(make, undefined, fn);
    const recipients = ['bob@elsewhere.test', 'carl@elsewhere.test'];

    it(
      'accepted: every recipient is sent, the peer has the message once with its recipients, subject and body',
      withPeer(async ({ transport, peer }) => {
        peer.behave('accept');
        const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients, raw: message('accepted one') });
        expect(outcomes.map((o) => [o.recipient, o.outcome])).toEqual(recipients.map((r) => [r, 'sent']));
        expect(outcomes.every((o) => o.detail.length > 0)).toBe(true);
        const got = peer.received();
        expect(got).toHaveLength(1);
        expect(got[0].recipients.map((r) => r.toLowerCase()).sort()).toEqual(recipients);
        expect(got[0].subject).toBe('accepted one');
        expect(got[0].text).toContain('Hello from the contract suite.');
        expect(transport.health().status).toBe('ok');
      }),
    );

    it(
      'a temporary refusal is temporary for every recipient, with the reason in the detail; nothing was taken',
      withPeer(async ({ transport, peer }) => {
        peer.behave('temporary');
        const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients, raw: message('temporary') });
        expect(outcomes.map((o) => o.outcome)).toEqual(['temporary', 'temporary']);
        expect(outcomes[0].detail).toMatch(/\b(4\d\d|5\d\d)\b/);
        expect(peer.received()).toEqual([]);
      }),
    );

    it(
      'a permanent refusal is permanent, with the reason in the detail',
      withPeer(async ({ transport, peer }) => {
        peer.behave('permanent');
        const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients, raw: message('permanent') });
        expect(outcomes.map((o) => o.outcome)).toEqual(['permanent', 'permanent']);
        expect(outcomes[0].detail).toMatch(/\b[45]\d\d\b/);
        expect(peer.received()).toEqual([]);
      }),
    );

    it(
      'a next hop that cannot be reached is a temporary failure, never a permanent one',
      withFresh(makeUnreachable, undefined, async ({ transport }) => {
        const outcomes = await transport.send({ mailFrom: 'ann@example.com', recipients, raw: message('unreachable') });
        expect(outcomes.map((o) => o.outcome)).toEqual(['temporary', 'temporary']);
      }),
    );
  });
}
