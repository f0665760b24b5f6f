import type { MessageSummary } from './types';

/**
 * Search words for stores without a full-text index (Cosmos DB): lower case,
 * diacritics removed, split on anything but letters and digits. A message keeps the
 * distinct words of its subject, people and the start of its body; a query matches
 * when each of its words is a prefix of one of them (the SQLite FTS5 rule).
 */
const MAX_TERMS = 600;
const MAX_TERM_LENGTH = 40;

export function searchWords(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** The words of the addresses and names a message is from, to and cc. */
export function peopleOf(summary: MessageSummary): string {
  return [summary.from, ...summary.to, ...summary.cc]
    .filter((a): a is { address: string; name: string } => Boolean(a))
    .map((a) => `${a.name} ${a.address}`)
    .join(' ');
}

export function searchTerms(summary: MessageSummary, searchText: string | undefined): string[] {
  const terms = new Set<string>();
  for (const source of [summary.subject, peopleOf(summary), searchText ?? summary.snippet]) {
    for (const word of searchWords(source)) {
      if (terms.size >= MAX_TERMS) return [...terms];
      terms.add(word.slice(0, MAX_TERM_LENGTH));
    }
  }
  return [...terms];
}

/** A user's query as words to match by prefix; at most 20, as in the SQLite store. */
export function queryWords(q: string): string[] {
  return [...new Set(searchWords(q).map((w) => w.slice(0, MAX_TERM_LENGTH)))].slice(0, 20);
}
