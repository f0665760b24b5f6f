import type { AddressValue } from '../api/types';

/** Roughly what the server accepts (core/address.ts decides): local@domain.tld, no spaces or brackets. */
const MAILBOX = /^[^\s@<>()[\]\\,;:"]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

export const isValidAddress = (address: string) => address.length <= 320 && MAILBOX.test(address) && !/\.\./.test(address);

export interface Recipient extends AddressValue {
  valid: boolean;
}

/** One typed or pasted entry: `Name <a@b.c>`, `"Name" <a@b.c>` or `a@b.c`. */
export function parseAddress(text: string): Recipient | null {
  const t = text.trim().replace(/[,;]+$/, '').trim();
  if (!t) return null;
  const angle = /^(.*?)<([^<>]+)>$/.exec(t);
  const address = (angle ? angle[2] : t).trim();
  const name = angle ? angle[1].trim().replace(/^"(.*)"$/, '$1').trim() : '';
  return { address, name, valid: isValidAddress(address) };
}

/** Splits a pasted list on commas and semicolons outside quotes and angle brackets. */
export function parseAddressList(text: string): Recipient[] {
  const out: Recipient[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    if ((ch === ',' || ch === ';' || ch === '\n') && !quoted && !angle) {
      const r = parseAddress(current);
      if (r) out.push(r);
      current = '';
    } else current += ch;
  }
  const r = parseAddress(current);
  if (r) out.push(r);
  return out;
}
