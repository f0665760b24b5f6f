import type { AddressValue } from '../api/types';

/** People this user wrote to or heard from, newest first, kept in this browser for address completion. */
const KEY = 'nimbus.recent';
const MAX = 300;

interface Entry extends AddressValue {
  at: number;
}

function load(): Entry[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]') as Entry[];
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

export function rememberPeople(people: AddressValue[]): void {
  if (!people.length) return;
  const now = Date.now();
  const byAddress = new Map(load().map((e) => [e.address.toLowerCase(), e]));
  for (const p of people) {
    if (!p.address) continue;
    const key = p.address.toLowerCase();
    const old = byAddress.get(key);
    byAddress.set(key, { address: p.address, name: p.name || old?.name || '', at: now });
  }
  const list = [...byAddress.values()].sort((a, b) => b.at - a.at).slice(0, MAX);
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // storage full or disabled: completion just knows less
  }
}

/** Up to `limit` people whose name or address starts (at a word) with `text`. */
export function suggestPeople(text: string, exclude: Set<string>, limit = 6): AddressValue[] {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  return load()
    .filter((e) => !exclude.has(e.address.toLowerCase()))
    .filter((e) => e.address.toLowerCase().startsWith(q) || e.name.toLowerCase().split(/\s+/).some((w) => w.startsWith(q)) || e.name.toLowerCase().startsWith(q))
    .slice(0, limit)
    .map(({ address, name }) => ({ address, name }));
}

/** Forgets everything (sign-out). */
export function forgetPeople(): void {
  localStorage.removeItem(KEY);
}
