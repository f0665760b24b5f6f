import { connect, type Socket } from 'node:net';

/** A minimal SMTP client for load: lockstep commands (as MX peers send them), no parsing beyond reply codes. */
export class Session {
  private buffer = '';
  private waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  private lines: string[] = [];
  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buffer += d.toString('latin1');
      let nl: number;
      while ((nl = this.buffer.indexOf('\r\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 2);
        if (line[3] === '-') continue;
        const w = this.waiting.shift();
        if (w) w.resolve(line);
        else this.lines.push(line);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error('connection closed'));
    });
    socket.on('error', () => undefined); // surfaces as 'close'
  }
  static open(port: number): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new Session(socket)));
      socket.once('error', reject);
    });
  }
  reply(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.socket.destroyed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  /** The next reply line, or null if none comes within `ms` (tests of when a reply comes). */
  replyWithin(ms: number): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        resolve(null);
      }, ms);
      const w = {
        resolve: (line: string) => (clearTimeout(timer), resolve(line)),
        reject: (err: Error) => (clearTimeout(timer), reject(err)),
      };
      this.waiting.push(w);
    });
  }
  send(data: string | Buffer): void {
    this.socket.write(data);
  }
  /** Gone at once, without QUIT. */
  close(): void {
    this.socket.destroy();
  }
  async command(cmd: string | Buffer, expect: string): Promise<void> {
    this.socket.write(cmd);
    const line = await this.reply();
    if (!line.startsWith(expect)) throw new Error(`${String(cmd).slice(0, 20).trim()} → ${line}`);
  }
  end(): void {
    this.socket.end('QUIT\r\n');
  }
}

export interface LoadResult {
  messages: number;
  failures: number;
  seconds: number;
  /** Per message: from connect (one per connection) or MAIL FROM (reuse) to the 250 after DATA. */
  latenciesMs: number[];
  firstError?: string;
}

/**
 * Sends `total` messages over `concurrency` parallel sessions. With `perConnection` 1
 * every message gets its own connection (how MX traffic arrives); otherwise each
 * connection carries that many messages.
 */
export async function runLoad(opts: { port: number; total: number; concurrency: number; perConnection: number; message: Buffer; rcpt: string }): Promise<LoadResult> {
  const data = Buffer.concat([opts.message, Buffer.from('.\r\n')]);
  let next = 0;
  let failures = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;

  async function worker(): Promise<void> {
    while (next < opts.total) {
      const batch = Math.min(opts.perConnection, opts.total - next);
      next += batch;
      const t0 = process.hrtime.bigint();
      let session: Session | null = null;
      try {
        session = await Session.open(opts.port);
        const greeting = await session.reply();
        if (!greeting.startsWith('220')) throw new Error(`greeting ${greeting}`);
        await session.command('EHLO bench.test\r\n', '250');
        for (let i = 0; i < batch; i++) {
          const m0 = opts.perConnection === 1 ? t0 : process.hrtime.bigint();
          await session.command('MAIL FROM:<bench@sender.test>\r\n', '250');
          await session.command(`RCPT TO:<${opts.rcpt}>\r\n`, '250');
          await session.command('DATA\r\n', '354');
          await session.command(data, '250');
          latencies.push(ms(m0));
        }
        session.end();
      } catch (err) {
        failures += batch;
        firstError ??= (err as Error).message;
        session?.end();
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { messages: opts.total - failures, failures, seconds: ms(started) / 1000, latenciesMs: latencies, firstError };
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A message of about `bytes`, plain text lines of 76 characters. */
export function makeMessage(bytes: number, subject: string): Buffer {
  const head = `From: Bench <bench@sender.test>\r\nTo: admin@example.com\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again!!!!\r\n';
  const lines = Math.max(1, Math.ceil((bytes - head.length) / line.length));
  return Buffer.from(head + line.repeat(lines));
}

/** A multipart message of about `bytes` whose bulk is one base64 attachment (the usual shape of a big message). */
export function makeAttachmentMessage(bytes: number, subject: string): Buffer {
  const head = `From: Bench <bench@sender.test>\r\nTo: admin@example.com\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const tail = '\r\n--b1--\r\n';
  const lines = Math.max(1, Math.floor((bytes - head.length - tail.length) / 78));
  const line = Buffer.alloc(57, 0xa5).toString('base64') + '\r\n'; // 76 chars + CRLF
  return Buffer.from(head + line.repeat(lines) + tail);
}
