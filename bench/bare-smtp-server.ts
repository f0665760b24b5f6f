import { SMTPServer } from 'smtp-server';

/**
 * The baseline for `npm run bench`: smtp-server with the edge's options, reading and
 * discarding each message. What the edge costs is measured against this.
 */
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH'],
  hideSTARTTLS: true,
  hideENHANCEDSTATUSCODES: false,
  disableReverseLookup: true,
  size: 25 * 1024 * 1024,
  maxClients: 5000,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback(null, 'Ok: discarded'));
  },
});
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address() as { port: number };
  process.stdout.write(`SMTP  127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
