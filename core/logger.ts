import pino from 'pino';
import { SECRET_SETTINGS } from './config';

export type Logger = pino.Logger;

/** JSON logs on stdout. Secrets are redacted by path, whatever logs them. */
export function createLogger(level: string, name = 'nimbus', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: {
      paths: [
        'password', '*.password', 'passwordHash', '*.passwordHash', 'token', '*.token', 'authorization', '*.authorization',
        ...SECRET_SETTINGS.flatMap((name) => [name, `*.${name}`]),
        // Azure SDK errors carry the request; its headers hold the signed authorization
        'err.request.headers', 'err.response.request.headers', 'connectionString', '*.connectionString', 'key', '*.key',
        // a domain's DKIM private key, wherever a domain record is logged
        'privateKeyPem', '*.privateKeyPem', '*.*.privateKeyPem',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
