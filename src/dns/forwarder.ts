// Everything outside the zone: asked of the upstream resolvers over UDP (TCP when the reply is
// truncated), with a small cache that respects the records' TTLs. An upstream that refuses or
// does not answer in `timeoutMs` is skipped for `downForMs`, so while every upstream is down a
// query gets SERVFAIL at once instead of waiting out a timeout per client.
import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { connect, isIPv6 } from 'node:net';
import * as packet from '@leichtgewicht/dns-packet';
import type { Answer as Rr, Packet } from '@leichtgewicht/dns-packet';
import { PorticoError } from '../lib/errors.js';
import { normalizeName } from './records.js';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export interface ForwardedAnswer {
  /** Numeric rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN…). */
  readonly rcode: number;
  readonly answers: Rr[];
  readonly authorities: Rr[];
  readonly additionals: Rr[];
  readonly fromCache: boolean;
}

export interface ForwarderObserver {
  cacheHit?(): void;
  cacheMiss?(): void;
  upstreamFailure?(upstream: Upstream, reason: string): void;
}

export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  /** One attempt's wait for a reply (default 2000 ms). */
  readonly timeoutMs?: number;
  /** How long an upstream that failed is skipped (default 2000 ms). */
  readonly downForMs?: number;
  /** Entries kept (default 10,000; the oldest is evicted). */
  readonly cacheSize?: number;
  /** Cap on a positive answer's cache lifetime (default 300 s). */
  readonly maxTtl?: number;
  /** Cap on a negative answer's cache lifetime (default 30 s, RFC 2308 SOA minimum below it). */
  readonly maxNegativeTtl?: number;
  /** Milliseconds clock; tests move it by hand. */
  readonly now?: () => number;
  readonly observer?: ForwarderObserver;
}

interface CacheEntry {
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly rcode: number;
  readonly answers: Rr[];
  readonly authorities: Rr[];
  readonly additionals: Rr[];
}

const SERVFAIL = 2;
const NXDOMAIN = 3;
const TC = 1 << 9;
const RCODE_MASK = 0xf;

interface Pending {
  readonly name: string;
  readonly type: string;
  resolve(reply: Packet): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One UDP socket per upstream, connected (so ICMP port-unreachable fails the query at once). */
class UdpUpstream {
  readonly upstream: Upstream;
  #socket: Socket | undefined;
  #connected: Promise<void> | undefined;
  readonly #pending = new Map<number, Pending>();

  constructor(upstream: Upstream) {
    this.upstream = upstream;
  }

  async query(question: { name: string; type: string }, timeoutMs: number): Promise<Packet> {
    const socket = await this.#open();
    let id = randomInt(0, 65536);
    for (let i = 0; this.#pending.has(id) && i < 16; i++) id = randomInt(0, 65536);
    if (this.#pending.has(id)) throw new Error('too many queries in flight');
    const bytes = packet.encode({
      type: 'query',
      id,
      flags: packet.RECURSION_DESIRED,
      questions: [{ name: question.name, type: question.type as 'A', class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, data: [] } as unknown as Rr],
    });
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { name: normalizeName(question.name), type: question.type, resolve, reject, timer });
      socket.send(bytes, (error) => {
        if (error) this.#fail(id, error);
      });
    });
  }

  #fail(id: number, error: Error): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  #open(): Promise<Socket> {
    if (this.#socket && this.#connected) return this.#connected.then(() => this.#socket!);
    const socket = createSocket(isIPv6(this.upstream.host) ? 'udp6' : 'udp4');
    this.#socket = socket;
    socket.on('message', (message) => {
      let reply: Packet;
      try {
        reply = packet.decode(message);
      } catch {
        return; // not a DNS reply: ignore (the query times out)
      }
      const pending = reply.id === undefined ? undefined : this.#pending.get(reply.id);
      const q = reply.questions?.[0];
      // A reply must echo our question, or it is not ours (RFC 5452).
      if (!pending || !q || normalizeName(q.name) !== pending.name || q.type !== pending.type) return;
      this.#pending.delete(reply.id!);
      clearTimeout(pending.timer);
      pending.resolve(reply);
    });
    socket.on('error', (error) => {
      // Refused (ICMP) or any socket failure: every query in flight fails, the next reopens.
      for (const id of [...this.#pending.keys()]) this.#fail(id, error);
      if (this.#socket === socket) {
        this.#socket = undefined;
        this.#connected = undefined;
      }
      socket.close();
    });
    this.#connected = new Promise<void>((resolve, reject) => {
      socket.connect(this.upstream.port, this.upstream.host, () => resolve());
      socket.once('error', reject);
    });
    return this.#connected.then(() => socket);
  }

  close(): void {
    for (const id of [...this.#pending.keys()]) this.#fail(id, new Error('forwarder closed'));
    const socket = this.#socket;
    this.#socket = undefined;
    this.#connected = undefined;
    try {
      socket?.close();
    } catch {
      // already closed
    }
  }
}

/** One query over TCP (RFC 7766 framing); used when the UDP reply came back truncated. */
export function queryTcp(upstream: Upstream, question: { name: string; type: string }, timeoutMs: number): Promise<Packet> {
  const id = randomInt(0, 65536);
  const bytes = packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name: question.name, type: question.type as 'A', class: 'IN' }],
  });
  return new Promise<Packet>((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered = Buffer.alloc(0);
    const done = (error: Error | undefined, reply?: Packet) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no TCP reply within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + bytes.length);
      frame.writeUInt16BE(bytes.length, 0);
      frame.set(bytes, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      try {
        const reply = packet.decode(buffered.subarray(2, 2 + length));
        if (reply.id !== id) return done(new Error('TCP reply with another id'));
        done(undefined, reply);
      } catch (error) {
        done(error as Error);
      }
    });
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error('TCP connection closed before a reply')));
  });
}

export class Forwarder {
  readonly #upstreams: UdpUpstream[];
  readonly #downUntil = new Map<UdpUpstream, number>();
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<ForwardedAnswer>>();
  readonly #timeoutMs: number;
  readonly #downForMs: number;
  readonly #cacheSize: number;
  readonly #maxTtl: number;
  readonly #maxNegativeTtl: number;
  readonly #now: () => number;
  readonly #observer: ForwarderObserver;

  constructor(options: ForwarderOptions) {
    if (options.upstreams.length === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', 'the forwarder needs at least one upstream');
    this.#upstreams = options.upstreams.map((u) => new UdpUpstream(u));
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#downForMs = options.downForMs ?? 2000;
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#maxTtl = options.maxTtl ?? 300;
    this.#maxNegativeTtl = options.maxNegativeTtl ?? 30;
    this.#now = options.now ?? Date.now;
    this.#observer = options.observer ?? {};
  }

  get cacheEntries(): number {
    return this.#cache.size;
  }

  /** The answer to `question` (cached, or from the first upstream that replies); SERVFAIL when none does. */
  resolve(question: { name: string; type: string }): Promise<ForwardedAnswer> {
    const key = `${question.type}|${normalizeName(question.name)}`;
    const now = this.#now();
    const entry = this.#cache.get(key);
    if (entry !== undefined) {
      if (entry.expiresAt > now) {
        this.#observer.cacheHit?.();
        const elapsed = Math.floor((now - entry.storedAt) / 1000);
        const age = (records: Rr[]) => records.map((r) => ('ttl' in r && typeof r.ttl === 'number' ? { ...r, ttl: Math.max(0, r.ttl - elapsed) } : r));
        return Promise.resolve({ rcode: entry.rcode, answers: age(entry.answers), authorities: age(entry.authorities), additionals: age(entry.additionals), fromCache: true });
      }
      this.#cache.delete(key);
    }
    this.#observer.cacheMiss?.();
    // Identical questions in flight share one upstream query.
    const running = this.#inflight.get(key);
    if (running) return running;
    const promise = this.#ask(question).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise.then((answer) => {
      this.#store(key, answer);
      return answer;
    });
  }

  async #ask(question: { name: string; type: string }): Promise<ForwardedAnswer> {
    const now = this.#now();
    const candidates = this.#upstreams.filter((u) => (this.#downUntil.get(u) ?? 0) <= now);
    for (const upstream of candidates) {
      try {
        let reply = await upstream.query(question, this.#timeoutMs);
        if (((reply.flags ?? 0) & TC) !== 0) reply = await queryTcp(upstream.upstream, question, this.#timeoutMs);
        this.#downUntil.delete(upstream);
        const strip = (records: Rr[] | undefined) => (records ?? []).filter((r) => r.type !== 'OPT');
        return { rcode: (reply.flags ?? 0) & RCODE_MASK, answers: strip(reply.answers), authorities: strip(reply.authorities), additionals: strip(reply.additionals), fromCache: false };
      } catch (error) {
        this.#downUntil.set(upstream, this.#now() + this.#downForMs);
        this.#observer.upstreamFailure?.(upstream.upstream, (error as Error).message);
      }
    }
    return { rcode: SERVFAIL, answers: [], authorities: [], additionals: [], fromCache: false };
  }

  #store(key: string, answer: ForwardedAnswer): void {
    if (answer.rcode !== 0 && answer.rcode !== NXDOMAIN) return; // SERVFAIL, REFUSED…: not cached
    let ttl: number;
    if (answer.rcode === 0 && answer.answers.length > 0) {
      ttl = Math.min(this.#maxTtl, ...answer.answers.map((r) => ('ttl' in r && typeof r.ttl === 'number' ? r.ttl : 0)));
    } else {
      const soa = answer.authorities.find((r) => r.type === 'SOA') as (Rr & { ttl?: number; data: { minimum: number } }) | undefined;
      // RFC 2308: negative answers live min(SOA TTL, SOA minimum); without a SOA, not cached.
      if (soa === undefined) return;
      ttl = Math.min(this.#maxNegativeTtl, soa.ttl ?? 0, soa.data.minimum);
    }
    if (!(ttl > 0)) return;
    const now = this.#now();
    if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { storedAt: now, expiresAt: now + ttl * 1000, rcode: answer.rcode, answers: answer.answers, authorities: answer.authorities, additionals: answer.additionals });
  }

  close(): void {
    for (const upstream of this.#upstreams) upstream.close();
    this.#cache.clear();
  }
}
