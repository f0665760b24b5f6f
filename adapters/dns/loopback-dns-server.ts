import { createSocket, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { DnsError } from '../../core/dns';
import type { MxRecord } from '../../core/ports';
import { TableResolver, type DnsTable, type TableType } from './table-resolver';

const RCODE: Partial<Record<string, number>> = { ENOTFOUND: 3, ESERVFAIL: 2, EREFUSED: 5 };
const TYPES = new Set<string>(['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'PTR']);

export interface LoopbackDnsServer {
  /** `127.0.0.1:port`, as NIMBUS_DNS_SERVERS takes it. */
  address: string;
  port: number;
  /** The table it serves (change it between questions). */
  table: TableResolver;
  /** Questions received, as "TYPE name". */
  questions: string[];
  stop(): Promise<void>;
}

/**
 * A DNS server on 127.0.0.1 (UDP, port chosen by the OS) answering from a table as a
 * recursive resolver would (CNAME chains included). ETIMEOUT in the table means "no
 * answer at all", ESERVFAIL / EREFUSED / ENOTFOUND the matching response codes. For
 * tests and the benchmark: the production resolver (node:dns) is pointed at it
 * through NIMBUS_DNS_SERVERS, so nothing leaves the machine.
 */
export async function startLoopbackDnsServer(table: DnsTable = {}): Promise<LoopbackDnsServer> {
  const resolver = new TableResolver(table);
  const questions: string[] = [];
  const socket: Socket = createSocket('udp4');
  socket.on('message', (message, remote) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return; // not DNS: ignore
    }
    const question = query.questions?.[0];
    if (!question) return;
    questions.push(`${question.type} ${question.name.toLowerCase()}`);
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
    const reply = (rcode: number, answers: dnsPacket.Answer[] = []) =>
      socket.send(dnsPacket.encode({ type: 'response', id: query.id, flags: flags | rcode, questions: [question], answers }), remote.port, remote.address);
    if (!TYPES.has(question.type)) return reply(0);
    const result = resolver.answer(question.name, question.type as TableType);
    if (result instanceof DnsError) {
      if (result.code === 'ETIMEOUT') return; // silence: the client times out
      if (result.code === 'ENODATA') return reply(0);
      return reply(RCODE[result.code] ?? 2);
    }
    const answers: dnsPacket.Answer[] = result.chain.map((hop) => ({ type: 'CNAME', name: hop.name, ttl: 60, data: hop.target }));
    for (const record of result.records) answers.push(toAnswer(question.type as TableType, result.name, record));
    reply(0, answers);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    table: resolver,
    questions,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function toAnswer(type: TableType, name: string, record: unknown): dnsPacket.Answer {
  switch (type) {
    case 'MX': {
      const mx = record as MxRecord;
      return { type: 'MX', name, ttl: 60, data: { preference: mx.priority, exchange: mx.exchange } };
    }
    case 'TXT':
      return { type: 'TXT', name, ttl: 60, data: record as string[] };
    default:
      return { type, name, ttl: 60, data: record as string };
  }
}
