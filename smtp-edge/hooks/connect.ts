import type { SMTPServerSession } from 'smtp-server';

/**
 * Connections per client address: over `max` (0 = no limit), a new connection gets
 * 421 and is closed, so one host cannot take every slot of the listener. Addresses
 * in trusted networks are exempt.
 */
export function createConnectionLimit(max: number, hostname: string, isTrusted: (ip: string) => boolean = () => false) {
  const open = new Map<string, number>();
  const counted = new Set<string>();
  return {
    onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
      const ip = session.remoteAddress;
      // trusted networks (loopback by default: local tools, monitoring, benchmarks) are not limited, as Postfix exempts $mynetworks
      if (isTrusted(ip)) return callback();
      const now = (open.get(ip) ?? 0) + 1;
      if (max > 0 && now > max) {
        // no enhanced code: the client has not said EHLO, so it was never offered them
        const err = new Error(`${hostname} Too many connections from your address, try again later`) as Error & { responseCode: number };
        err.responseCode = 421;
        return callback(err);
      }
      open.set(ip, now);
      counted.add(session.id);
      callback();
    },
    onClose(session: SMTPServerSession): void {
      if (!counted.delete(session.id)) return;
      const left = (open.get(session.remoteAddress) ?? 1) - 1;
      if (left > 0) open.set(session.remoteAddress, left);
      else open.delete(session.remoteAddress);
    },
    /** For tests and health: open connections of one address. */
    count(ip: string): number {
      return open.get(ip) ?? 0;
    },
  };
}
