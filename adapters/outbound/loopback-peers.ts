import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { installEnhancedCodeReplies } from '../../smtp-edge/enhanced-codes';

/**
 * The next hops of outbound mail, on 127.0.0.1 only, for tests and `npm run bench`:
 * an SMTP relay (smtp-server) and SendGrid's v3 mail/send endpoint (a plain HTTP
 * server), both recording what arrives and answering as the test tells them.
 * Real sockets and the real client libraries on our side; only the far end is ours.
 */

/** A reply the relay gives: `[code, text]`; the text should start with the enhanced code. */
export type SmtpReply = [number, string];

export interface RelayMessage {
  mailFrom: string;
  recipients: string[];
  raw: Buffer;
  receivedAt: number;
  auth: string | null;
  /** The SMTP session (connection) it came over. */
  connection: string;
}

export interface LoopbackRelay {
  port: number;
  messages: RelayMessage[];
  /** Per RCPT: null accepts, a reply refuses that recipient. */
  rcpt: (address: string) => SmtpReply | null;
  /** After DATA: null accepts (250), a reply refuses the message, 'close' keeps it and ends the connection before replying. */
  data: (message: RelayMessage) => SmtpReply | 'close' | null;
  /** At MAIL FROM, given the messages this connection accepted before: null goes on, a reply refuses, 'close' ends the connection (a relay dropping an idle client). */
  mailFrom: (earlier: number) => SmtpReply | 'close' | null;
  /** How long the reply to DATA waits (a busy relay). */
  dataDelayMs: number;
  /** Called for each accepted message. */
  onMessage: ((message: RelayMessage) => void) | null;
  /** The most client connections open at once. */
  peakConnections: number;
  stop(): Promise<void>;
}

function replyError([code, text]: SmtpReply): Error & { responseCode: number } {
  const err = new Error(text) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}

/**
 * An SMTP relay on loopback that records what arrives. `users` turns on AUTH
 * (PLAIN/LOGIN, over STARTTLS with `tls`, else in clear as loopback allows).
 */
export async function startLoopbackRelay(opts: { users?: Record<string, string>; tls?: { key: string | Buffer; cert: string | Buffer } } = {}): Promise<LoopbackRelay> {
  installEnhancedCodeReplies(); // the same reply shaping as the edge (it is one prototype per process anyway)
  const relay: LoopbackRelay = { port: 0, messages: [], rcpt: () => null, data: () => null, mailFrom: () => null, onMessage: null, dataDelayMs: 0, peakConnections: 0, stop: async () => undefined };
  const accepted = new Map<string, number>(); // per open connection: the messages it carried
  const connections = (): Set<{ id: string; close(): void }> => (server as unknown as { connections: Set<{ id: string; close(): void }> }).connections ?? new Set();
  /** Ends one client's connection without a reply (a relay dropping it). */
  const drop = (sessionId: string) => {
    for (const c of connections()) if (c.id === sessionId) c.close();
  };
  const server = new SMTPServer({
    authOptional: !opts.users,
    disabledCommands: opts.users ? (opts.tls ? [] : ['STARTTLS']) : ['AUTH', ...(opts.tls ? [] : ['STARTTLS'])],
    allowInsecureAuth: !opts.tls,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    // replies go out as the test wrote them ("550 5.1.1 ..."): the enhanced code the text starts with takes the code's slot
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    size: 40 * 1024 * 1024,
    maxClients: 5000,
    logger: false,
    onAuth(auth, _session, callback) {
      if (opts.users && opts.users[auth.username ?? ''] === auth.password) return callback(null, { user: auth.username });
      callback(replyError([535, '5.7.8 Authentication credentials invalid']));
    },
    onConnect(session, callback) {
      accepted.set(session.id, 0);
      relay.peakConnections = Math.max(relay.peakConnections, accepted.size);
      callback();
    },
    onClose(session) {
      accepted.delete(session.id);
    },
    onMailFrom(_address, session, callback) {
      const decision = relay.mailFrom(accepted.get(session.id) ?? 0);
      if (decision === 'close') return drop(session.id);
      callback(decision ? replyError(decision) : null);
    },
    onRcptTo(address, _session, callback) {
      const refusal = relay.rcpt(address.address);
      callback(refusal ? replyError(refusal) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const message: RelayMessage = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          receivedAt: Date.now(),
          auth: session.user ? String(session.user) : null,
          connection: session.id,
        };
        const answer = () => {
          const refusal = relay.data(message);
          if (refusal === 'close') {
            relay.messages.push(message);
            return drop(session.id);
          }
          if (refusal) return callback(replyError(refusal));
          relay.messages.push(message);
          accepted.set(session.id, (accepted.get(session.id) ?? 0) + 1);
          relay.onMessage?.(message);
          callback(null, 'Ok: queued by the loopback relay');
        };
        if (relay.dataDelayMs > 0) setTimeout(answer, relay.dataDelayMs);
        else answer();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  relay.port = (server.server.address() as AddressInfo).port;
  relay.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const c of connections()) c.close();
    });
  return relay;
}

/** A TCP listener that accepts connections and never says a word (a hung relay). */
export async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface SendGridRequest {
  authorization: string | undefined;
  path: string;
  body: any;
  receivedAt: number;
}

export interface SendGridFake {
  baseUrl: string;
  requests: SendGridRequest[];
  /** Decides the answer to each request: status, extra headers, JSON body. Default 202. */
  answer: (req: SendGridRequest) => { status: number; headers?: Record<string, string>; body?: unknown };
  onRequest: ((req: SendGridRequest) => void) | null;
  stop(): Promise<void>;
}

/** SendGrid's POST /v3/mail/send on loopback: records each JSON body and answers as told (202 by default). */
export async function startSendGridFake(): Promise<SendGridFake> {
  const fake: SendGridFake = { baseUrl: '', requests: [], answer: () => ({ status: 202 }), onRequest: null, stop: async () => undefined };
  const server: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = Buffer.concat(chunks).toString('utf8');
      }
      const request: SendGridRequest = { authorization: req.headers.authorization, path: `${req.method} ${req.url}`, body, receivedAt: Date.now() };
      fake.requests.push(request);
      const answer = req.method === 'POST' && req.url === '/v3/mail/send' ? fake.answer(request) : { status: 404, body: { errors: [{ message: 'not found' }] } };
      const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...answer.headers });
      res.end(text);
      if (answer.status === 202) fake.onRequest?.(request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
