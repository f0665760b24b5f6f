import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { ERROR_TABLE } from '../core/errors';

/**
 * AUTH only over TLS, decided per connection: smtp-server's own switch
 * (allowInsecureAuth) is per server and still advertises AUTH before STARTTLS. Each
 * server built by createSmtpEdge carries a `plainAuthAllowed(remoteAddress)` option
 * (the setting NIMBUS_SMTP_ALLOW_INSECURE_AUTH, or a loopback client); where it says
 * no and the connection is not yet encrypted, EHLO leaves AUTH out and AUTH is
 * answered 538 5.7.11 (RFC 4954 section 4: encryption required), before any
 * credentials are looked at. Two methods of smtp-server's connection are wrapped
 * (pinned version); test/submission.test.ts checks the advertised list and the
 * reply, so a change upstream fails the tests, not production.
 */
let installed = false;

interface Connection {
  secure: boolean;
  remoteAddress: string;
  session: { disabledCommands?: string[] };
  _server: { options: { disabledCommands: string[]; plainAuthAllowed?: (remoteAddress: string) => boolean } };
  send(code: number, data: string): void;
}

/** True when this connection must not authenticate yet. */
function authNeedsTls(connection: Connection): boolean {
  const allowed = connection._server.options.plainAuthAllowed;
  return typeof allowed === 'function' && !connection.secure && !allowed(connection.remoteAddress);
}

export function installTlsAuthPolicy(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as Record<'handler_EHLO' | 'handler_AUTH', (this: Connection, command: Buffer, callback: () => void) => void>;
  const ehlo = proto.handler_EHLO;
  const auth = proto.handler_AUTH;
  proto.handler_EHLO = function (command, callback) {
    if (!authNeedsTls(this)) return ehlo.call(this, command, callback);
    // the EHLO handler is synchronous up to its reply: AUTH is hidden for that one call
    const saved = this.session.disabledCommands;
    this.session.disabledCommands = [...(saved ?? this._server.options.disabledCommands), 'AUTH'];
    try {
      return ehlo.call(this, command, callback);
    } finally {
      this.session.disabledCommands = saved;
    }
  };
  proto.handler_AUTH = function (command, callback) {
    if (!authNeedsTls(this)) return auth.call(this, command, callback);
    const spec = ERROR_TABLE.EncryptionRequired;
    this.send(spec.smtp, `${spec.enhanced} ${spec.message}`);
    callback();
  };
}
