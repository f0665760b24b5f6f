import type { MailStore, NewMessage } from '../core/ports';

const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice meeting report budget travel lunch project deadline review update'.split(' ');

/** Deterministic filler text: the same seed gives the same words. */
export function sentence(seed: number, words: number): string {
  let out = '';
  let x = seed;
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += WORDS[x % WORDS.length] + ' ';
  }
  return out.trim();
}

/**
 * Messages `from` to `to - 1` as filing would make them (no raw bytes: list, search and
 * counts work; opening one does not), one second apart, newest last. Message i has the
 * subject "<words> #i"; every 1000th mentions "zanzibar".
 */
export function seedItems(userId: string, mailboxId: string, from: number, to: number): NewMessage[] {
  const items: NewMessage[] = [];
  for (let i = from; i < to; i++) {
    items.push({
      userId,
      mailboxId,
      inboundId: `seed-${i}`,
      rawBlobKey: `raw/seed-${i}.eml`,
      size: 4096,
      receivedAt: 1_700_000_000_000 + i * 1000,
      summary: {
        from: { address: `sender${i % 500}@example.net`, name: `Sender ${i % 500}` },
        to: [{ address: 'admin@example.com', name: 'Bench' }],
        cc: [],
        subject: `${sentence(i, 5)} #${i}`,
        date: 1_700_000_000_000 + i * 1000,
        messageId: `<seed-${i}@example.net>`,
        attachments: [],
        snippet: sentence(i + 7, 30).slice(0, 200),
        searchText: sentence(i + 7, 150) + (i % 1000 === 0 ? ' zanzibar' : ''),
      },
      auth: null,
    });
  }
  return items;
}

/** Files `count` seeded messages (seedItems) straight through the MailStore, `batch` at a time. */
export async function seedMailbox(store: MailStore, userId: string, mailboxId: string, count: number, batch = 2000): Promise<void> {
  for (let start = 0; start < count; start += batch) await store.fileMessages(seedItems(userId, mailboxId, start, Math.min(count, start + batch)));
}
