import type { Envelope } from './types';

/** RFC 5322 date, e.g. "Wed, 25 Nov 2026 18:08:59 +0000". */
export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

/** Strips what could break out of a header field (CR, LF, other controls). */
function clean(value: string, max = 255): string {
  return value.replace(/[\x00-\x1f\x7f()\\]/g, '').slice(0, max);
}

/**
 * The Received trace header the edge prepends to every stored message (RFC 5321 4.4).
 * `with` follows RFC 3848: ESMTP, plus S for TLS and A for an authenticated client.
 */
export function receivedHeader(input: {
  envelope: Envelope;
  byHost: string;
  id: string;
  receivedAt: number;
  tls: boolean;
}): string {
  const { envelope } = input;
  const protocol = 'ESMTP' + (input.tls ? 'S' : '') + (envelope.authUser ? 'A' : '');
  const helo = clean(envelope.helo || 'unknown');
  const rdns = clean(envelope.clientHostname || '');
  const ip = clean(envelope.remoteAddress || 'unknown').replace(/^::ffff:/, '');
  // an address literal (RFC 5321 4.1.3): IPv6 carries its tag
  const literal = ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
  const from = `from ${helo} (${rdns && rdns !== `[${ip}]` && rdns !== literal ? rdns + ' ' : ''}${literal})`;
  const forClause = envelope.rcptTo.length === 1 ? `\r\n\tfor <${clean(envelope.rcptTo[0])}>` : '';
  return `Received: ${from}\r\n\tby ${clean(input.byHost)} (Nimbus Mail) with ${protocol} id ${input.id}${forClause};\r\n\t${rfc5322Date(input.receivedAt)}\r\n`;
}
