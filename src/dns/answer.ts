// One question → the authoritative answer from the zone, or "forward it". Pure: the server adds
// the header, EDNS and truncation; the forwarder handles what lies outside the zone.
import type { Answer as Rr } from '@leichtgewicht/dns-packet';
import { formatIp } from '../lib/cidr.js';
import { normalizeName, parseDashedIp, type DnsZone, type PodMode, type RecordSet } from './records.js';

export interface DnsQuestion {
  readonly name: string;
  readonly type: string;
  readonly class?: string;
}

export type DnsRcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'NOTIMP';

export interface ZoneAnswer {
  readonly kind: 'answer';
  readonly rcode: DnsRcode;
  readonly authoritative: boolean;
  readonly answers: Rr[];
  readonly authorities: Rr[];
  readonly additionals: Rr[];
}

export type Resolution = ZoneAnswer | { readonly kind: 'forward' };

export interface AnswerOptions {
  /** TTL of every record, and the SOA minimum (negative caching). */
  readonly ttl: number;
  readonly pods: PodMode;
  /** SOA serial: bumped by the runtime whenever the zone changes. */
  readonly serial: number;
}

/** Whether `name` (normalized) is the zone or below it. */
function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

export function soaRecord(zone: string, options: AnswerOptions): Rr {
  return {
    name: zone,
    type: 'SOA',
    class: 'IN',
    ttl: options.ttl,
    data: { mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: options.serial >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: options.ttl },
  } as Rr;
}

/**
 * Answers `question` from the zone. ANY gets the minimal HINFO of RFC 8482 (never the whole
 * node: no amplification), zone transfers are REFUSED, everything outside the zone (but the
 * reverse names of cluster IPs) is forwarded.
 */
export function answerQuestion(zone: DnsZone, question: DnsQuestion, options: AnswerOptions): Resolution {
  const name = normalizeName(question.name);
  const qtype = question.type;
  const owned = inZone(name, zone.zone);
  const reverse = zone.names.get(name);
  if (!owned && !(reverse !== undefined && reverse.ptr.length > 0)) {
    if (qtype === 'ANY') return rfc8482(question, options);
    return { kind: 'forward' };
  }
  if ((question.class ?? 'IN') !== 'IN') return reply('REFUSED', [], false);
  if (qtype === 'ANY') return rfc8482(question, options);
  if (qtype === 'AXFR' || qtype === 'IXFR') return reply('REFUSED', [], true);
  const soa = () => [soaRecord(zone.zone, options)];
  if (!owned) {
    // A reverse name we own (a cluster IP or headless endpoint).
    return qtype === 'PTR' ? reply('NOERROR', records(question.name, reverse!, 'PTR', options.ttl), true) : reply('NOERROR', [], true, []);
  }
  if (name === zone.zone) {
    if (qtype === 'SOA') return reply('NOERROR', [{ ...soaRecord(zone.zone, options), name: question.name }], true);
    return reply('NOERROR', [], true, soa());
  }
  const pod = podAnswer(zone, name, question, options);
  if (pod !== undefined) return pod;
  const set = zone.names.get(name);
  if (set === undefined) {
    return zone.existing.has(name) ? reply('NOERROR', [], true, soa()) : reply('NXDOMAIN', [], true, soa());
  }
  if (set.cname !== undefined && qtype !== 'CNAME') {
    const answers: Rr[] = [{ name: question.name, type: 'CNAME', class: 'IN', ttl: options.ttl, data: set.cname }];
    // A target inside the zone is resolved here; one outside is left to the client's resolver.
    const target = inZone(set.cname, zone.zone) ? zone.names.get(set.cname) : undefined;
    if (target !== undefined) answers.push(...records(set.cname, target, qtype, options.ttl));
    return reply('NOERROR', answers, true);
  }
  const answers = records(question.name, set, qtype, options.ttl);
  if (answers.length === 0) return reply('NOERROR', [], true, soa());
  const additionals: Rr[] = [];
  if (qtype === 'SRV') {
    for (const srv of set.srv) {
      const target = zone.names.get(srv.target);
      if (target === undefined || additionals.some((r) => r.name === srv.target)) continue;
      additionals.push(...records(srv.target, target, 'A', options.ttl), ...records(srv.target, target, 'AAAA', options.ttl));
    }
  }
  return { kind: 'answer', rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
}

function reply(rcode: DnsRcode, answers: Rr[], authoritative: boolean, authorities: Rr[] = []): ZoneAnswer {
  return { kind: 'answer', rcode, authoritative, answers, authorities, additionals: [] };
}

function rfc8482(question: DnsQuestion, options: AnswerOptions): ZoneAnswer {
  return reply('NOERROR', [{ name: question.name, type: 'HINFO', class: 'IN', ttl: options.ttl, data: { cpu: 'RFC8482', os: '' } } as Rr], false);
}

function records(owner: string, set: RecordSet, qtype: string, ttl: number): Rr[] {
  switch (qtype) {
    case 'A':
      return set.a.map((data) => ({ name: owner, type: 'A', class: 'IN', ttl, data }));
    case 'AAAA':
      return set.aaaa.map((data) => ({ name: owner, type: 'AAAA', class: 'IN', ttl, data }));
    case 'SRV':
      return set.srv.map((data) => ({ name: owner, type: 'SRV', class: 'IN', ttl, data: { ...data } }) as Rr);
    case 'PTR':
      return set.ptr.map((data) => ({ name: owner, type: 'PTR', class: 'IN', ttl, data }));
    case 'TXT':
      return set.txt.map((data) => ({ name: owner, type: 'TXT', class: 'IN', ttl, data: [data] }) as Rr);
    case 'CNAME':
      return set.cname !== undefined ? [{ name: owner, type: 'CNAME', class: 'IN', ttl, data: set.cname }] : [];
    default:
      return [];
  }
}

/** `a-b-c-d.<ns>.pod.<zone>`; undefined when the name is not under `pod.<zone>`. */
function podAnswer(zone: DnsZone, name: string, question: DnsQuestion, options: AnswerOptions): ZoneAnswer | undefined {
  const suffix = `.pod.${zone.zone}`;
  if (!name.endsWith(suffix)) return undefined;
  const labels = name.slice(0, -suffix.length).split('.');
  const soa = [soaRecord(zone.zone, options)];
  if (options.pods === 'disabled') return reply('NXDOMAIN', [], true, soa);
  if (labels.length === 1) return reply('NOERROR', [], true, soa); // `<ns>.pod.<zone>`: a namespace
  const ip = labels.length === 2 ? parseDashedIp(labels[0]!) : undefined;
  if (ip === undefined) return reply('NXDOMAIN', [], true, soa);
  const namespace = labels[1]!;
  const text = formatIp(ip);
  if (options.pods === 'verified' && zone.podIPs.get(namespace)?.has(text) !== true) return reply('NXDOMAIN', [], true, soa);
  const type = ip.family === 4 ? 'A' : 'AAAA';
  if (question.type !== type) return reply('NOERROR', [], true, soa);
  return reply('NOERROR', [{ name: question.name, type, class: 'IN', ttl: options.ttl, data: text }], true);
}
