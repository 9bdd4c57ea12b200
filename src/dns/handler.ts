// Query bytes → reply bytes: header checks, the zone or the forwarder, EDNS and truncation.
// Malformed queries get FORMERR (when the header is readable) or are dropped (`undefined`);
// nothing a client sends can throw out of here.
import * as packet from '@leichtgewicht/dns-packet';
import type { Answer as Rr, Packet } from '@leichtgewicht/dns-packet';
import { answerQuestion, type AnswerOptions } from './answer.js';
import type { Forwarder } from './forwarder.js';
import type { DnsZone } from './records.js';

export type Transport = 'udp' | 'tcp';

export const RCODES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };
const RCODE_NUMBER: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

const QR = 1 << 15;
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const RA = 1 << 7;
/** The UDP payload we accept and advertise (the 2020 DNS flag day value). */
export const OUR_UDP_SIZE = 1232;
/** Without EDNS a UDP reply must fit 512 bytes (RFC 1035). */
const CLASSIC_UDP_SIZE = 512;

export interface QueryObserver {
  query?(rcode: string, type: string, transport: Transport): void;
  malformed?(reason: string): void;
}

export interface HandlerContext {
  zone(): DnsZone;
  readonly answerOptions: () => AnswerOptions;
  readonly forwarder: Forwarder | undefined;
  readonly observer?: QueryObserver;
}

/** A reply carrying only the header (and the question when it was readable). */
function headerOnly(query: Uint8Array, rcode: number): Uint8Array {
  const reply = new Uint8Array(12);
  reply[0] = query[0]!;
  reply[1] = query[1]!;
  const flags = ((query[2]! << 8) | query[3]!) & (0x7800 | RD); // keep opcode and RD
  const out = QR | flags | rcode;
  reply[2] = out >> 8;
  reply[3] = out & 0xff;
  return reply;
}

export async function handleQuery(bytes: Uint8Array, transport: Transport, context: HandlerContext): Promise<Uint8Array | undefined> {
  const observer = context.observer ?? {};
  if (bytes.length < 12) {
    observer.malformed?.('short header');
    return undefined; // no id to answer to
  }
  const flags = (bytes[2]! << 8) | bytes[3]!;
  if ((flags & QR) !== 0) {
    observer.malformed?.('a response sent as a query');
    return undefined; // never answer answers (reflection loops)
  }
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) {
    observer.query?.('NOTIMP', 'OPCODE', transport);
    return headerOnly(bytes, RCODE_NUMBER['NOTIMP']!);
  }
  const count = (at: number) => (bytes[at]! << 8) | bytes[at + 1]!;
  // A query has one question, no answers or authorities, and at most OPT (+ TSIG) as additionals.
  if (count(4) !== 1 || count(6) !== 0 || count(8) !== 0 || count(10) > 2) {
    observer.malformed?.('section counts');
    observer.query?.('FORMERR', 'UNKNOWN', transport);
    return headerOnly(bytes, RCODE_NUMBER['FORMERR']!);
  }
  let query: Packet;
  try {
    query = packet.decode(bytes);
  } catch {
    observer.malformed?.('undecodable');
    observer.query?.('FORMERR', 'UNKNOWN', transport);
    return headerOnly(bytes, RCODE_NUMBER['FORMERR']!);
  }
  const question = query.questions![0]!;
  const opt = query.additionals?.find((r) => r.type === 'OPT') as (Rr & { udpPayloadSize?: number }) | undefined;
  const limit = transport === 'tcp' ? 65535 : opt ? Math.min(Math.max(opt.udpPayloadSize ?? CLASSIC_UDP_SIZE, CLASSIC_UDP_SIZE), OUR_UDP_SIZE * 4) : CLASSIC_UDP_SIZE;
  const rd = flags & RD;

  let rcode: number;
  let aa = 0;
  let answers: Rr[];
  let authorities: Rr[];
  let additionals: Rr[];
  const resolution = answerQuestion(context.zone(), question, context.answerOptions());
  if (resolution.kind === 'answer') {
    rcode = RCODE_NUMBER[resolution.rcode]!;
    aa = resolution.authoritative ? AA : 0;
    ({ answers, authorities, additionals } = resolution);
  } else if (context.forwarder === undefined) {
    rcode = RCODE_NUMBER['REFUSED']!;
    answers = authorities = additionals = [];
  } else {
    const forwarded = await context.forwarder.resolve(question);
    rcode = forwarded.rcode;
    ({ answers, authorities, additionals } = forwarded);
  }
  const extra: Rr[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_SIZE, flags: 0, data: [] } as unknown as Rr] : [];
  const build = (truncated: boolean) =>
    packet.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: (truncated ? TC : 0) | aa | rd | RA | (rcode & 0xf),
      questions: [question],
      answers: truncated ? [] : answers,
      authorities: truncated ? [] : authorities,
      additionals: truncated ? extra : [...additionals, ...extra],
    });
  let reply: Uint8Array;
  try {
    reply = build(false);
    if (reply.length > limit) {
      // Too big for the client's UDP size: drop the additionals first, else truncate (the
      // client retries over TCP).
      const lean = packet.encode({ type: 'response', id: query.id ?? 0, flags: aa | rd | RA | (rcode & 0xf), questions: [question], answers, authorities, additionals: extra });
      reply = lean.length <= limit ? lean : build(true);
    }
  } catch {
    // A record we cannot encode (e.g. an upstream's odd data): SERVFAIL rather than silence.
    rcode = RCODE_NUMBER['SERVFAIL']!;
    answers = authorities = additionals = [];
    reply = build(false);
  }
  observer.query?.(RCODES[rcode] ?? String(rcode), question.type, transport);
  return reply;
}
