import type { KeyObject } from 'node:crypto';
import type * as Mailauth from 'mailauth';

/**
 * mailauth, as this project loads it: every import of mailauth goes through here.
 *
 * mailauth parses the signing key's PEM for every message it signs (~0.7 ms of CPU on
 * the main thread, as much as the RSA signature itself). Its signer takes the parser
 * from `lib/tools` when it is first loaded, so the parser is replaced by a memoised one
 * before mailauth loads: the same PEM gives the same KeyObject (a few domains' keys;
 * bounded). When something loaded mailauth earlier (a test importing it directly), the
 * signer keeps the plain parser: slower, the same signatures. `keyCacheActive` says
 * which; a test checks that the server's own module graph gets the memoised one.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tools = require('mailauth/lib/tools') as { getPrivateKey(key: string | Buffer): KeyObject };

export const keyCacheActive = !require.cache[require.resolve('mailauth/lib/dkim/dkim-signer')];
if (keyCacheActive) {
  const parse = tools.getPrivateKey;
  const keys = new Map<string, KeyObject>();
  tools.getPrivateKey = (key) => {
    const pem = typeof key === 'string' ? key : key.toString('latin1');
    let parsed = keys.get(pem);
    if (!parsed) {
      parsed = parse(key); // throws for a bad key, as before (nothing kept)
      if (keys.size >= 64) keys.clear();
      keys.set(pem, parsed);
    }
    return parsed;
  };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const mailauth = require('mailauth') as typeof Mailauth;
export const { dkimSign, dkimVerify, spf, dmarc, arc } = mailauth;
export type { ARCResult, DKIMResult, DKIMVerifyResult, DMARCResult, DNSResolver, SPFResult } from 'mailauth';
