import { HELD_DETAIL } from '../../core/outbound';
import type { OutboundTransport } from '../../core/ports';

/**
 * NIMBUS_OUTBOUND_TRANSPORT=none (the local default): nothing leaves the server.
 * Foreign recipients are `held` with a detail that says why (and wait for their next
 * attempt, when a transport may be configured); hosted recipients are delivered as
 * always (they never need a transport).
 */
export class NoTransport implements OutboundTransport {
  readonly name = 'none' as const;

  async send(input: { recipients: string[] }) {
    return input.recipients.map((recipient) => ({
      recipient,
      outcome: 'held' as const,
      detail: HELD_DETAIL,
    }));
  }

  health() {
    return { status: 'none' as const, detail: 'no outbound transport configured: mail to other domains is held' };
  }

  async close(): Promise<void> {}
}
