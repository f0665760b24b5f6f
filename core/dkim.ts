import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { DkimKey } from './types';

const generate = promisify(generateKeyPair);

/** A dated selector (`nimbus20261126`), so a new key can be published beside the old one before switching. */
export function dkimSelector(now = Date.now()): string {
  return `nimbus${new Date(now).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

/** A fresh RSA-2048 key pair for a domain (rsa-sha256, as every receiver verifies). */
export async function generateDkimKey(now = Date.now()): Promise<DkimKey> {
  const { publicKey, privateKey } = await generate('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { selector: dkimSelector(now), privateKeyPem: privateKey, publicKey: Buffer.from(publicKey).toString('base64'), createdAt: now };
}

/** The TXT record a receiver looks up at `<selector>._domainkey.<domain>`. */
export function dkimRecordValue(key: Pick<DkimKey, 'publicKey'>): string {
  return `v=DKIM1; k=rsa; p=${key.publicKey}`;
}
