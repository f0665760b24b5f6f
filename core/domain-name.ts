import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { MailError } from './errors';

/** A domain name as stored (A-labels) and as shown (U-labels). */
export interface DomainName {
  ascii: string;
  unicode: string;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

const invalid = (why: string) => new MailError('ValidationFailed', `name: ${why}`, { details: { field: 'name' } });

/**
 * Validates a domain name a person typed (IDN allowed: `bücher.example`) and gives
 * its A-label form (`xn--bcher-kva.example`) to store and query, and its U-label
 * form to show. One trailing dot is accepted (`example.com.`). Each refusal says why:
 * empty, too long, a label over 63 characters or empty (`..`), a hyphen at a label's
 * start or end, characters a host name cannot hold (underscore, `/`, `:`, spaces),
 * a URL, an IP address, a single label.
 */
export function parseDomainName(input: string): DomainName {
  const raw = input.trim();
  if (!raw) throw invalid('must not be empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || raw.includes('/')) throw invalid('give the domain name alone (example.com), not a URL');
  const bare = raw.replace(/\.$/, '');
  if (isIP(bare) || isIP(bare.replace(/^\[(.*)\]$/, '$1'))) throw invalid('an IP address is not a domain name');
  if (bare.includes('..') || bare.startsWith('.')) throw invalid('has an empty label (two dots in a row)');
  if (/[\s_:@]/.test(bare)) throw invalid('may hold only letters, digits, hyphens and dots (no underscore, space, ":" or "@")');
  const ascii = domainToASCII(bare.toLowerCase());
  if (!ascii) throw invalid('is not a valid domain name');
  if (ascii.length > 253) throw invalid('is longer than 253 characters');
  const labels = ascii.split('.');
  if (labels.length < 2) throw invalid('needs at least two labels, like example.com');
  for (const label of labels) {
    if (label.length > 63) throw invalid(`the label "${label.slice(0, 20)}…" is longer than 63 characters`);
    if (!LABEL.test(label)) throw invalid(`the label "${label}" may not start or end with a hyphen`);
  }
  if (/^\d+$/.test(labels[labels.length - 1])) throw invalid('the last label cannot be all digits');
  return { ascii, unicode: domainToUnicode(ascii) };
}

/** The U-label form of a stored (A-label) name. */
export function unicodeName(ascii: string): string {
  return domainToUnicode(ascii) || ascii;
}

/** A name from a DNS answer or a setting in A-label form, for comparing (case, trailing dot and IDN forms agree). */
export function asciiName(name: string): string {
  const trimmed = name.trim().toLowerCase().replace(/\.+$/, '');
  return domainToASCII(trimmed) || trimmed;
}
