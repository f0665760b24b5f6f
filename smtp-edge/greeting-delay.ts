import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * smtp-server waits a fixed 100 ms before its greeting, so that a client that talks
 * before it (an "early talker", typical of spam bots) is caught ("421 You talk too
 * soon"). The wait caps the rate of short sessions (200 parallel sessions can never
 * pass 2,000 connections a second), so it is a setting (NIMBUS_SMTP_GREETING_DELAY_MS,
 * default 100 as upstream; 0 greets at once and turns the check off). Each server built
 * by createSmtpEdge carries a `greetingDelayMs` option (the MX listener's is the setting,
 * the submission listeners' 0); this replaces the connection's init (pinned version of
 * smtp-server) to honour it. test/smtp-greeting.test.ts checks each behaviour.
 */
let installed = false;

interface Connection {
  _server: { options: { maxClients?: number; greetingDelayMs?: number }; connections: Set<unknown> };
  name: string;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, data: string, context?: unknown): void;
}

export function installGreetingDelay(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as Connection & { init(): void };
  proto.init = function (this: Connection) {
    this._setListeners(() => {
      const { maxClients, greetingDelayMs } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      const delay = greetingDelayMs ?? 100;
      // no pause, no early-talker check: ready before the client can have said anything
      if (delay === 0) return this.connectionReady();
      const ready = setTimeout(() => this.connectionReady(), delay);
      ready.unref();
    });
  };
}
