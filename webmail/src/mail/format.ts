import type { AddressValue, Mailbox } from '../api/types';

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
const time = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const shortDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'short' });

/** A list date: the time today, day and month this year, the date before. */
export function listDate(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  if (sameDay(d, now)) return time.format(d);
  if (d.getFullYear() === now.getFullYear()) return dayMonth.format(d);
  return shortDate.format(d);
}

export const fullDate = (iso: string | null) => (iso ? full.format(new Date(iso)) : '');

export const personName = (a: AddressValue | null | undefined) => (a ? a.name || a.address : '(unknown sender)');
export const formatAddress = (a: AddressValue) => (a.name ? `${a.name} <${a.address}>` : a.address);

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const SPECIAL_ORDER = ['inbox', 'drafts', 'sent', 'junk', 'trash'];

/** Standard folders first in their usual order, then the user's own by name. */
export function sortMailboxes(boxes: Mailbox[]): Mailbox[] {
  return [...boxes].sort((a, b) => {
    const ia = a.specialUse ? SPECIAL_ORDER.indexOf(a.specialUse) : 99;
    const ib = b.specialUse ? SPECIAL_ORDER.indexOf(b.specialUse) : 99;
    return ia - ib || a.name.localeCompare(b.name);
  });
}

/** The URL key of a folder: its role for the standard ones ("inbox"), its id for the user's own. */
export const boxKey = (m: Mailbox) => m.specialUse ?? m.id;
export const findBox = (boxes: Mailbox[], key: string) => boxes.find((m) => m.specialUse === key) ?? boxes.find((m) => m.id === key) ?? null;
