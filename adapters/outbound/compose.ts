import type { Config } from '../../core/config';
import type { OutboundTransport } from '../../core/ports';
import { NoTransport } from './none-transport';
import { SendGridTransport } from './sendgrid-transport';
import { SmtpRelayTransport } from './smtp-transport';

/** The transport NIMBUS_OUTBOUND_TRANSPORT names, from its settings (checked by loadConfig). */
export function createOutboundTransport(config: Config): OutboundTransport {
  switch (config.NIMBUS_OUTBOUND_TRANSPORT) {
    case 'smtp':
      return new SmtpRelayTransport({
        host: config.NIMBUS_RELAY_HOST!,
        port: config.NIMBUS_RELAY_PORT,
        secure: config.NIMBUS_RELAY_SECURE,
        user: config.NIMBUS_RELAY_USER,
        password: config.NIMBUS_RELAY_PASSWORD,
        timeoutMs: config.NIMBUS_RELAY_TIMEOUT_MS,
        maxConnections: config.NIMBUS_RELAY_MAX_CONNECTIONS,
      });
    case 'sendgrid':
      return new SendGridTransport({ apiKey: config.NIMBUS_SENDGRID_API_KEY!, baseUrl: config.NIMBUS_SENDGRID_BASE_URL, timeoutMs: config.NIMBUS_RELAY_TIMEOUT_MS });
    default:
      return new NoTransport();
  }
}
