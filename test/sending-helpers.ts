import { dkimVerify } from 'mailauth';
import { dkimRecordValue } from '../core/dkim';
import type { DkimKey } from '../core/types';
import { waitFor, type ListItem, type TestHost } from './helpers';

/** Registers a user through the admin API and logs in; returns its token. */
export async function createUser(host: TestHost, email: string, password: string, name = email.split('@')[0]): Promise<string> {
  const created = await host.api('/auth/register', { method: 'POST', token: host.token, body: JSON.stringify({ email, password, name }) });
  if (created.status !== 201) throw new Error(`register ${email}: ${created.status} ${await created.text()}`);
  const login = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email, password }) });
  return ((await login.json()) as { token: string }).token;
}

/** A folder's id by its special use. */
export async function folderId(host: TestHost, token: string, specialUse: 'inbox' | 'sent' | 'drafts' | 'junk' | 'trash'): Promise<string> {
  const boxes = (await (await host.api('/mailboxes', { token })).json()) as { items: Array<{ id: string; specialUse: string | null }> };
  return boxes.items.find((b) => b.specialUse === specialUse)!.id;
}

export async function listFolder(host: TestHost, token: string, specialUse: 'inbox' | 'sent' | 'drafts' | 'junk' | 'trash'): Promise<ListItem[]> {
  const id = await folderId(host, token, specialUse);
  const res = await host.api(`/mails?mailbox=${id}&limit=200`, { token });
  return ((await res.json()) as { items: ListItem[] }).items;
}

/** Waits until a message with this subject is in the folder. */
export function waitInFolder(host: TestHost, token: string, specialUse: 'inbox' | 'sent' | 'drafts', subject: string, ms = 20_000): Promise<ListItem> {
  return waitFor(async () => (await listFolder(host, token, specialUse)).find((m) => m.subject === subject), ms);
}

export interface DeliveryView {
  recipient: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  detail: string | null;
}

export async function deliveryOf(host: TestHost, token: string, id: string): Promise<DeliveryView[]> {
  const res = await host.api(`/mails/${id}`, { token });
  return ((await res.json()) as { delivery?: DeliveryView[] }).delivery ?? [];
}

/** Waits until every recipient's status is one of `final`; returns the delivery list. */
export function waitForDelivery(host: TestHost, token: string, id: string, done: (d: DeliveryView[]) => boolean, ms = 30_000): Promise<DeliveryView[]> {
  return waitFor(async () => {
    const d = await deliveryOf(host, token, id);
    return d.length && done(d) ? d : undefined;
  }, ms);
}

/**
 * Verifies a message's DKIM signature with mailauth@4, the public key served by an
 * injected resolver (the TXT record issue 9 publishes: `<selector>._domainkey.<domain>`).
 */
export async function verifyDkim(raw: Buffer, domain: string, key: DkimKey) {
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === `${key.selector}._domainkey.${domain}`) return [[dkimRecordValue(key)]];
    const err = new Error(`no ${type} record for ${name}`) as Error & { code: string };
    err.code = 'ENOTFOUND';
    throw err;
  };
  const { results } = await dkimVerify(raw, { resolver });
  return results;
}
