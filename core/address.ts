/** Address helpers. Local parts keep their case for display, lookups use lower case. */

export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

const DOMAIN_RE = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i;
const LOCAL_RE = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/i;

export function isValidDomain(domain: string): boolean {
  return DOMAIN_RE.test(domain);
}

/** A deliberately plain check for addresses we create (setup, users), not for what SMTP peers send. */
export function isValidMailbox(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  return LOCAL_RE.test(local) && !local.startsWith('.') && !local.endsWith('.') && !local.includes('..') && isValidDomain(address.slice(at + 1));
}
