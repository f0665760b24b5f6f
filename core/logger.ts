import pino from 'pino';

export type Logger = pino.Logger;

/** JSON logs on stdout. Secrets are redacted by path, whatever logs them. */
export function createLogger(level: string, name = 'nimbus'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['password', '*.password', 'passwordHash', '*.passwordHash', 'token', '*.token', 'authorization', '*.authorization', 'NIMBUS_JWT_SECRET', '*.NIMBUS_JWT_SECRET'],
      censor: '[redacted]',
    },
  });
}
