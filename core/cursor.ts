import { MailError } from './errors';

/** The list cursor every store uses: the last item's (receivedAt, id), opaque to clients. */
export function encodeCursor(receivedAt: number, id: string): string {
  return Buffer.from(JSON.stringify([receivedAt, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { receivedAt: number; id: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string') {
      return { receivedAt: value[0], id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new MailError('InvalidCursor');
}
