import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memMb, resetPeak, startServerProcess, stopServerProcess, type ServerProcess } from '../bench/server-process';
import { makeAttachmentMessage, runLoad } from '../bench/smtp-load';
import { PASSWORD, waitFor } from './helpers';

/**
 * Reading big mail keeps the server's memory bounded. The server is the built one
 * (`npm test` builds first) in its own process, as `npm start` runs it, so its RSS
 * (VmRSS, and the peak VmHWM reset just before each request) is the server's alone;
 * the bytes are checked in this process.
 */
const LIMIT_MB = 64;
const BIG = 25 * 1024 * 1024 - 64 * 1024;

/** A multipart message whose bulk is one text part (quoted-printable lines of 76 characters). */
function makeBigTextMessage(bytes: number, subject: string): Buffer {
  const head = `From: Bench <bench@sender.test>\r\nTo: admin@example.com\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`;
  const tail = '\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="small.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n';
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again!!!!\r\n';
  return Buffer.from(head + line.repeat(Math.floor((bytes - head.length - tail.length) / line.length)) + tail);
}

describe('reading a 25 MB message keeps the server process under +64 MB RSS', () => {
  let server: ServerProcess;
  let token: string;
  const ids: Record<string, string> = {};
  const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${server.httpPort}/api${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });

  /** Runs `request` and returns its result with the server's RSS growth at peak (MB). */
  async function measured<T>(request: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
    await api('/auth/me'); // the HTTP path warm
    await new Promise((r) => setTimeout(r, 300));
    const pid = server.child.pid!;
    const before = memMb(pid, 'VmRSS');
    expect(resetPeak(pid), 'this kernel cannot reset VmHWM: the measure would include the filing').toBe(true);
    const result = await request();
    return { result, growthMb: memMb(pid, 'VmHWM') - before };
  }

  /** Sends one message over SMTP and waits until the API lists it. */
  async function receive(subject: string, message: Buffer): Promise<void> {
    const load = await runLoad({ port: server.smtpPort, total: 1, concurrency: 1, perConnection: 1, message, rcpt: 'admin@example.com' });
    expect(load.failures, load.firstError).toBe(0);
    ids[subject] = await waitFor(async () => {
      const list = (await (await api('/mails')).json()) as { items: Array<{ id: string; subject: string }> };
      return list.items.find((m) => m.subject === subject)?.id;
    }, 60_000);
  }

  beforeAll(async () => {
    server = await startServerProcess(join(__dirname, '..', 'dist', 'local', 'main.js'), { dataDir: true, http: true });
    const setup = await fetch(`http://127.0.0.1:${server.httpPort}/api/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' }) });
    token = ((await setup.json()) as { token: string }).token;
    await receive('big attachment', makeAttachmentMessage(BIG, 'big attachment'));
  }, 120_000);
  afterAll(async () => {
    if (server) await stopServerProcess(server);
  });

  it('downloading its 18 MB attachment streams it out of the raw message', async () => {
    const { result, growthMb } = await measured(async () => {
      const res = await api(`/mails/${ids['big attachment']}/attachments/a1`);
      let bytes = 0;
      let allA5 = true;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        if (allA5 && chunk.some((b) => b !== 0xa5)) allA5 = false;
      }
      return { status: res.status, bytes, allA5, type: res.headers.get('content-type') };
    });
    const lines = Math.floor((BIG - 300) / 78);
    expect(result).toMatchObject({ status: 200, allA5: true, type: 'application/octet-stream' });
    expect(Math.abs(result.bytes - lines * 57)).toBeLessThanOrEqual(57 * 2);
    expect(growthMb).toBeLessThan(LIMIT_MB);
  });

  it('viewing it reads the text and the attachment table without holding the attachment', async () => {
    const { result, growthMb } = await measured(async () => {
      const res = await api(`/mails/${ids['big attachment']}`);
      return { status: res.status, body: (await res.json()) as { text: string; attachments: Array<{ id: string; filename: string; size: number }> } };
    });
    expect(result.status).toBe(200);
    expect(result.body.text.trim()).toBe('See attached.');
    expect(result.body.attachments).toEqual([expect.objectContaining({ id: 'a1', filename: 'big.bin', size: expect.any(Number) })]);
    expect(result.body.attachments[0].size).toBeGreaterThan(18 * 1024 * 1024);
    expect(growthMb).toBeLessThan(LIMIT_MB);
  });

  it('receiving a multipart message whose text part is 25 MB: the summary parser keeps only the start of it', async () => {
    const message = makeBigTextMessage(BIG, 'big text');
    const { growthMb } = await measured(() => receive('big text', message));
    const [item] = ((await (await api('/mails?q=big')).json()) as { items: Array<{ snippet: string; hasAttachments: boolean }> }).items;
    expect(item).toMatchObject({ snippet: expect.stringMatching(/^The quick brown fox/), hasAttachments: true });
    expect(growthMb).toBeLessThan(LIMIT_MB);
  }, 60_000);

  it('viewing a multipart message whose text part is 25 MB: the text is cut and says so; the attachment after it is listed', async () => {
    const { result, growthMb } = await measured(async () => {
      const res = await api(`/mails/${ids['big text']}`);
      return { status: res.status, body: (await res.json()) as { text: string; textTruncated: boolean; html: string | null; attachments: Array<{ filename: string }> } };
    });
    expect(result.status).toBe(200);
    expect(result.body.textTruncated).toBe(true);
    expect(result.body.text.startsWith('The quick brown fox')).toBe(true);
    expect(result.body.text.length).toBeLessThan(2 * 1024 * 1024);
    expect(result.body.attachments.map((a) => a.filename)).toEqual(['small.pdf']);
    expect(growthMb).toBeLessThan(LIMIT_MB);
  });
});
