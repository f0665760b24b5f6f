import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { dkimRecordValue, generateDkimKey, inProcessDkimSigner } from './dkim';
import { dkimVerify } from './mailauth';

const root = resolve(__dirname, '..');

/**
 * In a fresh process on the built code (npm test builds first), as the server loads it:
 * core/mailauth.ts must come before anything else loads mailauth, or every signature
 * parses its key again. And a signature made with the memoised key still verifies.
 * Every signature here is given its time, as core/dkim.ts gives it: without one, mailauth
 * reads the clock once for the signed header and again for the written one, and a run
 * that crosses a half second between the two makes a signature that does not verify.
 */
describe('mailauth as the server loads it', () => {
  it('no other module of the built server requires mailauth: the first use of it, whenever that comes, is through core/mailauth', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else if (entry.name.endsWith('.js')) files.push(join(dir, entry.name));
      }
    };
    for (const dir of ['core', 'adapters', 'smtp-edge', 'functions', 'local']) walk(join(root, 'dist', dir));
    expect(files.length).toBeGreaterThan(100);
    const requiring = files.filter((file) => /require\(["']mailauth/.test(readFileSync(file, 'utf8'))).map((file) => relative(join(root, 'dist'), file));
    expect(requiring).toEqual(['core/mailauth.js']);
  });

  it('the local host and the Azure entries get the memoised key parser; two signatures with one key both verify', async () => {
    const script = `
      require('./dist/local/host.js');
      require('./dist/smtp-edge/azure-edge.js');
      require('./dist/functions/register.js');
      const m = require('./dist/core/mailauth.js');
      const crypto = require('node:crypto');
      const { generateDkimKey, dkimRecordValue } = require('./dist/core/dkim.js');
      (async () => {
        const key = await generateDkimKey();
        const parse = crypto.createPrivateKey;
        let parsed = 0;
        crypto.createPrivateKey = (...a) => (parsed++, parse(...a));
        const raw = Buffer.from('From: a@example.com\\r\\nTo: b@x.test\\r\\nSubject: hi\\r\\n\\r\\nbody\\r\\n');
        const data = { signingDomain: 'example.com', selector: key.selector, privateKey: key.privateKeyPem };
        const verified = [];
        for (let i = 0; i < 2; i++) {
          const { signatures, errors } = await m.dkimSign(raw, { ...data, canonicalization: 'relaxed/relaxed', algorithm: 'rsa-sha256', signTime: new Date(), signatureData: [data] });
          if (errors.length) throw errors[0];
          const resolver = async (name, type) => { if (type === 'TXT' && name === key.selector + '._domainkey.example.com') return [[dkimRecordValue(key)]]; const e = new Error('nx'); e.code = 'ENOTFOUND'; throw e; };
          const result = await m.dkimVerify(Buffer.concat([Buffer.from(signatures), raw]), { resolver });
          verified.push(result.results[0].status.result);
        }
        console.log(JSON.stringify({ active: m.keyCacheActive(), parsed, verified }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({ active: true, parsed: 1, verified: ['pass', 'pass'] });
  }, 30_000);

  it('the server signs with the time it is given: a signature still verifies when the clock moves half a second at every reading', async () => {
    const key = await generateDkimKey();
    const raw = Buffer.from('From: a@example.com\r\nTo: b@x.test\r\nSubject: hi\r\n\r\nbody\r\n');
    let clock = Date.now();
    const now = vi.spyOn(Date, 'now').mockImplementation(() => (clock += 600));
    let signature: string;
    try {
      signature = await inProcessDkimSigner(raw, { signingDomain: 'example.com', selector: key.selector, privateKey: key.privateKeyPem }, new Date());
    } finally {
      now.mockRestore();
    }
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === `${key.selector}._domainkey.example.com`) return [[dkimRecordValue(key)]];
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    const result = await dkimVerify(Buffer.concat([Buffer.from(signature), raw]), { resolver } as never);
    expect(result.results.map((r) => r.status.result)).toEqual(['pass']);
  });
});
