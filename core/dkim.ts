import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { MailError } from './errors';
import { dkimSign } from './mailauth';
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

/** A domain's signing key as mailauth takes it. */
export interface DkimSigningKey {
  signingDomain: string;
  selector: string;
  privateKey: string;
}

/** The DKIM-Signature header field(s) for `raw`, relaxed/relaxed, rsa-sha256. */
export type DkimSigner = (raw: Buffer, key: DkimSigningKey, signTime: Date) => Promise<string>;

/** Signs in this thread (the Azure Functions, tests; the local host moves it to a thread: adapters/dkim-pool.ts). */
export const inProcessDkimSigner: DkimSigner = async (raw, key, signTime) => {
  // mailauth 4 signs what `signatureData` lists (its typings also ask for the key at the top)
  const { signatures, errors } = await dkimSign(raw, { ...key, canonicalization: 'relaxed/relaxed', algorithm: 'rsa-sha256', signTime, signatureData: [key] });
  if (errors?.length) throw new MailError('TemporaryFailure', 'DKIM signing failed', { cause: errors[0] });
  return signatures;
};
