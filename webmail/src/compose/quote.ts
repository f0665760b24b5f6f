import type { AddressValue, MessageView, User } from '../api/types';
import { formatAddress, fullDate } from '../mail/format';
import type { ComposeInit } from './Compose';

const prefixed = (prefix: 'Re' | 'Fwd', subject: string) => (new RegExp(`^${prefix}:`, 'i').test(subject.trim()) ? subject.trim() : `${prefix}: ${subject.trim()}`);

const quoteLines = (text: string) =>
  text
    .replace(/\r\n/g, '\n')
    .replace(/\n+$/, '')
    .split('\n')
    .map((l) => (l.startsWith('>') ? `>${l}` : `> ${l}`))
    .join('\n');

/** The text of a message for quoting: its plain part, or its HTML reduced to text. */
export function messageText(m: MessageView): string {
  if (m.text) return m.text;
  if (!m.html) return '';
  const doc = new DOMParser().parseFromString(m.html, 'text/html');
  doc.querySelectorAll('script,style,head').forEach((n) => n.remove());
  doc.querySelectorAll('br').forEach((n) => n.replaceWith('\n'));
  doc.querySelectorAll('p,div,tr,li,h1,h2,h3,h4,blockquote').forEach((n) => n.append('\n'));
  return (doc.body.textContent ?? '').replace(/\n{3,}/g, '\n\n').trim();
}

const mine = (me: User) => new Set([me.email, ...me.aliases].map((a) => a.toLowerCase()));
const uniq = (list: AddressValue[], skip: Set<string>) => {
  const seen = new Set(skip);
  return list.filter((a) => {
    const k = a.address.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
};

/**
 * A reply's References (RFC 5322 3.6.4): the original's References (or, without them,
 * its In-Reply-To), then the original's Message-ID; the API keeps at most 100, so the
 * oldest (the thread's root) and the newest 99 are kept.
 */
export function threadReferences(m: Pick<MessageView, 'messageId' | 'inReplyTo' | 'references'>): string[] {
  const chain = [...(m.references.length ? m.references : m.inReplyTo ? [m.inReplyTo] : []), ...(m.messageId ? [m.messageId] : [])];
  const ids = chain.filter((id, i) => chain.indexOf(id) === i);
  return ids.length > 100 ? [ids[0], ...ids.slice(-99)] : ids;
}

/** Reply or reply-all: to the Reply-To (or sender); all adds the other recipients, never myself. */
export function replyTo(m: MessageView, all: boolean, me: User): ComposeInit {
  const self = mine(me);
  const sentByMe = m.from ? self.has(m.from.address.toLowerCase()) : false;
  const primary = sentByMe ? m.to : m.replyTo.length ? m.replyTo : m.from ? [m.from] : [];
  const to = uniq(primary, sentByMe ? new Set() : self);
  const cc = all ? uniq([...(sentByMe ? [] : m.to), ...m.cc], new Set([...self, ...to.map((a) => a.address.toLowerCase())])) : [];
  const who = m.from ? formatAddress(m.from) : 'someone';
  return {
    kind: all ? 'reply-all' : 'reply',
    to,
    cc,
    bcc: [],
    subject: prefixed('Re', m.subject),
    text: `\n\nOn ${fullDate(m.date ?? m.receivedAt)}, ${who} wrote:\n${quoteLines(messageText(m))}\n`,
    inReplyTo: m.messageId,
    references: threadReferences(m),
  };
}

/** Forward: the original's headers and text below, its attachments copied onto the new draft. */
export function forward(m: MessageView): ComposeInit {
  const header = [
    '---------- Forwarded message ----------',
    `From: ${m.from ? formatAddress(m.from) : ''}`,
    `Date: ${fullDate(m.date ?? m.receivedAt)}`,
    `Subject: ${m.subject}`,
    `To: ${m.to.map(formatAddress).join(', ')}`,
    ...(m.cc.length ? [`Cc: ${m.cc.map(formatAddress).join(', ')}`] : []),
  ].join('\n');
  return {
    kind: 'forward',
    to: [],
    cc: [],
    bcc: [],
    subject: prefixed('Fwd', m.subject),
    text: `\n\n${header}\n\n${messageText(m)}\n`,
    inReplyTo: null,
    forwardAttachments: m.attachments.map((a) => ({ messageId: m.id, attachment: a })),
  };
}
