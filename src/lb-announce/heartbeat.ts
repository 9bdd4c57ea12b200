// Liveness between node agents, seen directly over the underlay (MetalLB's speakers use memberlist
// for this): every agent sends a small HMAC-SHA256-authenticated UDP heartbeat to every other node's
// InternalIP each interval, and counts a peer live while a valid heartbeat arrived within
// deadAfterMs. No API writes, so failover works the same in manifest mode.
//
// Wire format (one datagram): "PLB1" | type (1 heartbeat, 2 leaving) | HMAC-SHA256 (32 bytes) |
// JSON {"n": node, "i": incarnation, "s": sequence, "t": sender clock ms, "r": 1 once ready}.
// The MAC covers magic, type and JSON. A receiver drops: a bad MAC, a node not in its peer list, a
// source address that is not that node's, an (incarnation, sequence) not above the last accepted
// one (replay), and a timestamp further than maxClockSkewMs from its own clock (a replay after the
// receiver restarted).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { formatIp, parseIp } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export const DEFAULT_HEARTBEAT_PORT = 7946;
export const DEFAULT_INTERVAL_MS = 1000;
export const DEFAULT_DEAD_AFTER_MS = 3000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000;
/**
 * The key used when no secret is given: heartbeats are then only checksummed, not authenticated
 * (anyone on the underlay who reads this source can forge them). A warning says so at start.
 */
export const UNAUTHENTICATED_KEY = Buffer.from('portico-lb-announce-unauthenticated-default-key');

const MAGIC = Buffer.from('PLB1');
const TYPE_HEARTBEAT = 1;
const TYPE_LEAVING = 2;
const MAC_BYTES = 32;
const HEADER_BYTES = MAGIC.length + 1 + MAC_BYTES;
const MAX_DATAGRAM = 512;
const REJECT_LOG_INTERVAL_MS = 60_000;

/** Minimum secret length; shorter ones are refused. */
export const MIN_SECRET_BYTES = 16;

/**
 * Reads `--heartbeat-secret-file`: its bytes, without trailing whitespace (a newline an editor or
 * `kubectl create secret --from-file` left). Every node must use the same file content.
 * Throws PORTICO_ERR_ANNOUNCE_CONFIG when it cannot be read or is shorter than MIN_SECRET_BYTES.
 */
export async function loadHeartbeatSecret(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new PorticoError('PORTICO_ERR_ANNOUNCE_CONFIG', `cannot read the heartbeat secret ${path}: ${(error as Error).message}`, { cause: error });
  }
  let end = data.length;
  while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(data[end - 1]!)) end--;
  const secret = data.subarray(0, end);
  if (secret.length < MIN_SECRET_BYTES) {
    throw new PorticoError('PORTICO_ERR_ANNOUNCE_CONFIG', `the heartbeat secret ${path} has ${secret.length} bytes; it needs at least ${MIN_SECRET_BYTES}`);
  }
  return Buffer.from(secret);
}

export interface Peer {
  /** The Node name. */
  name: string;
  /** Its InternalIP: heartbeats go there, and must come from there. */
  address: string;
  /** Defaults to the membership's own port. */
  port?: number;
}

export type RejectReason = 'malformed' | 'bad-mac' | 'unknown-node' | 'wrong-source' | 'replay' | 'clock-skew';

export type HeartbeatEvent =
  | { type: 'accepted'; from: string; kind: 'heartbeat' | 'leaving' }
  | { type: 'rejected'; address: string; reason: RejectReason; node?: string };

export interface Timers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface MembershipOptions {
  nodeName: string;
  /** Local addresses to bind, one socket each (udp4/udp6 by family): the node's InternalIPs. */
  bind: readonly string[];
  /** Default 7946 (0 picks a free port, for tests). */
  port?: number;
  peers?: readonly Peer[];
  /** The shared HMAC key (`--heartbeat-secret-file`). Without one: UNAUTHENTICATED_KEY and a warning. */
  secret?: Buffer | undefined;
  intervalMs?: number;
  deadAfterMs?: number;
  maxClockSkewMs?: number;
  /** Milliseconds; defaults to Date.now. Liveness and timestamps use it. */
  clock?: () => number;
  /** Defaults to the global timers; tests pass ones that never fire and call tick(). */
  timers?: Timers;
  logger: Logger;
  /** Every accepted or rejected datagram (for tests and metrics). */
  onEvent?: (event: HeartbeatEvent) => void;
}

interface PeerState {
  peer: Peer;
  /** Last accepted (incarnation, sequence). */
  incarnation: number;
  seq: number;
  /** When the last heartbeat was accepted; undefined before the first and after a leaving message. */
  lastSeen: number | undefined;
  /** Whether its last heartbeat said it is ready (it has settled and may announce). */
  ready: boolean;
  /** Any valid message arrived since this membership started. */
  heard: boolean;
}

interface Body {
  n: string;
  i: number;
  s: number;
  t: number;
  /** 1 once the sender has settled (see Membership.ready). */
  r?: number;
}

/** The signed datagram for a message (exported for tests that forge and replay). */
export function encodeMessage(secret: Buffer, type: 'heartbeat' | 'leaving', body: Body): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const typeByte = Buffer.from([type === 'heartbeat' ? TYPE_HEARTBEAT : TYPE_LEAVING]);
  const mac = createHmac('sha256', secret).update(MAGIC).update(typeByte).update(json).digest();
  return Buffer.concat([MAGIC, typeByte, mac, json]);
}

function decodeMessage(secret: Buffer, data: Buffer): { type: 'heartbeat' | 'leaving'; body: Body } | 'malformed' | 'bad-mac' {
  if (data.length <= HEADER_BYTES || data.length > MAX_DATAGRAM || !data.subarray(0, MAGIC.length).equals(MAGIC)) return 'malformed';
  const typeByte = data[MAGIC.length]!;
  if (typeByte !== TYPE_HEARTBEAT && typeByte !== TYPE_LEAVING) return 'malformed';
  const mac = data.subarray(MAGIC.length + 1, HEADER_BYTES);
  const json = data.subarray(HEADER_BYTES);
  const expected = createHmac('sha256', secret).update(MAGIC).update(Buffer.from([typeByte])).update(json).digest();
  if (!timingSafeEqual(mac, expected)) return 'bad-mac';
  let body: unknown;
  try {
    body = JSON.parse(json.toString('utf8'));
  } catch {
    return 'malformed';
  }
  const b = body as Partial<Body> | null;
  if (!b || typeof b.n !== 'string' || !Number.isSafeInteger(b.i) || !Number.isSafeInteger(b.s) || !Number.isFinite(b.t) || (b.r !== undefined && b.r !== 0 && b.r !== 1)) return 'malformed';
  return { type: typeByte === TYPE_HEARTBEAT ? 'heartbeat' : 'leaving', body: b as Body };
}

function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

export class Membership {
  readonly #options: MembershipOptions;
  readonly #secret: Buffer;
  readonly #clock: () => number;
  readonly #timers: Timers;
  readonly #intervalMs: number;
  readonly #deadAfterMs: number;
  readonly #maxSkewMs: number;
  readonly #peers = new Map<string, PeerState>();
  readonly #listeners = new Set<(live: ReadonlySet<string>) => void>();
  readonly #rejectLogged = new Map<string, number>();
  #sockets: Array<{ family: 4 | 6; socket: Socket; address: string }> = [];
  #timer: unknown;
  /** Expiry checks between heartbeats, so a peer is dead within deadAfterMs + intervalMs/4. */
  #checkTimer: unknown;
  #incarnation = 0;
  #seq = 0;
  #live: ReadonlySet<string>;
  #running = false;
  #ready = false;
  #startedAt = 0;
  /** The port peers listen on unless a Peer says otherwise: our own bound port. */
  #port = DEFAULT_HEARTBEAT_PORT;
  #missingFamilyWarned = new Set<number>();

  constructor(options: MembershipOptions) {
    this.#options = options;
    this.#secret = options.secret && options.secret.length > 0 ? options.secret : UNAUTHENTICATED_KEY;
    this.#clock = options.clock ?? Date.now;
    this.#timers = options.timers ?? {
      setInterval: (callback, ms) => setInterval(callback, ms),
      clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
    };
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#deadAfterMs = options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    this.#maxSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.#live = new Set();
    this.setPeers(options.peers ?? []);
  }

  get nodeName(): string {
    return this.#options.nodeName;
  }

  /** Binds one socket per address and starts sending. Throws PORTICO_ERR_ANNOUNCE_HEARTBEAT. */
  async start(): Promise<void> {
    if (this.#running) return;
    if (!this.#options.secret || this.#options.secret.length === 0) {
      this.#options.logger.warn(
        { code: 'PORTICO_ERR_ANNOUNCE_CONFIG' },
        'no heartbeat secret: heartbeats use a well-known key, so anyone on the underlay can forge them (give --heartbeat-secret-file)',
      );
    }
    const port = this.#options.port ?? DEFAULT_HEARTBEAT_PORT;
    try {
      for (const text of this.#options.bind) {
        const ip = parseIp(text);
        if (!ip) throw new Error(`${JSON.stringify(text)} is not an IP address`);
        const address = formatIp(ip);
        const socket = createSocket({ type: ip.family === 4 ? 'udp4' : 'udp6', ...(ip.family === 6 ? { ipv6Only: true } : {}) });
        this.#sockets.push({ family: ip.family, socket, address });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address, port, exclusive: true }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.on('message', (data, rinfo) => this.#receive(data, rinfo.address));
        socket.on('error', (error) => this.#options.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_HEARTBEAT', err: error.message }, 'heartbeat socket error'));
      }
    } catch (error) {
      this.#closeSockets();
      throw new PorticoError('PORTICO_ERR_ANNOUNCE_HEARTBEAT', `cannot bind the heartbeat socket on port ${port}: ${(error as Error).message}`, { cause: error });
    }
    this.#port = this.#sockets[0]?.socket.address().port ?? port;
    this.#running = true;
    this.#incarnation = this.#clock();
    this.#seq = 0;
    this.#ready = false;
    this.#startedAt = this.#clock();
    for (const state of this.#peers.values()) state.heard = false;
    this.#recompute();
    this.tick();
    this.#timer = this.#timers.setInterval(() => this.tick(), this.#intervalMs);
    this.#checkTimer = this.#timers.setInterval(() => this.#recompute(), Math.max(10, Math.floor(this.#intervalMs / 4)));
  }

  /** The bound sockets (port 0 resolved), for tests. */
  boundAddresses(): Array<{ address: string; port: number }> {
    return this.#sockets.map(({ socket }) => {
      const a = socket.address();
      return { address: a.address, port: a.port };
    });
  }

  /** Replaces the peer list (from Node objects); state of peers that stay is kept. */
  setPeers(peers: readonly Peer[]): void {
    const wanted = new Map<string, Peer>();
    for (const peer of peers) {
      if (peer.name === this.#options.nodeName) continue;
      const address = canonicalIp(peer.address);
      if (address === undefined) continue;
      wanted.set(peer.name, { ...peer, address });
    }
    for (const name of [...this.#peers.keys()]) if (!wanted.has(name)) this.#peers.delete(name);
    for (const [name, peer] of wanted) {
      const state = this.#peers.get(name);
      if (!state) this.#peers.set(name, { peer, incarnation: -1, seq: -1, lastSeen: undefined, ready: false, heard: false });
      else if (state.peer.address !== peer.address || state.peer.port !== peer.port) {
        // A new address is a new peer: nothing heard from the old one counts.
        this.#peers.set(name, { peer, incarnation: -1, seq: -1, lastSeen: undefined, ready: false, heard: false });
      }
    }
    this.#recompute();
  }

  /**
   * Whether this node has settled: it heard every peer once since start, or deadAfterMs passed.
   * Until then it counts nobody, itself included, as live — so an agent that just started does
   * not announce every address before it knows who else is there — and its heartbeats say so,
   * so its peers do not hand it addresses yet either.
   */
  ready(): boolean {
    return this.#ready;
  }

  /** Live nodes: every ready peer heard from within deadAfterMs, and this one once it is ready itself. */
  live(): ReadonlySet<string> {
    return this.#live;
  }

  subscribe(listener: (live: ReadonlySet<string>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends one heartbeat to every peer and expires silent peers (the interval timer calls it). */
  tick(): void {
    if (!this.#running) return;
    this.#broadcast('heartbeat');
    this.#recompute();
  }

  /** Tells the peers this node is leaving (they count it dead at once), then closes the sockets. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    if (this.#timer !== undefined) this.#timers.clearInterval(this.#timer);
    if (this.#checkTimer !== undefined) this.#timers.clearInterval(this.#checkTimer);
    this.#timer = undefined;
    this.#checkTimer = undefined;
    await Promise.all(this.#broadcast('leaving'));
    this.#closeSockets();
    this.#recompute();
  }

  #closeSockets(): void {
    for (const { socket } of this.#sockets) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    this.#sockets = [];
  }

  #broadcast(type: 'heartbeat' | 'leaving'): Array<Promise<void>> {
    const data = encodeMessage(this.#secret, type, { n: this.#options.nodeName, i: this.#incarnation, s: ++this.#seq, t: this.#clock(), r: this.#ready ? 1 : 0 });
    const sends: Array<Promise<void>> = [];
    for (const { peer } of this.#peers.values()) {
      const family = peer.address.includes(':') ? 6 : 4;
      const socket = this.#sockets.find((s) => s.family === family)?.socket;
      if (!socket) {
        if (!this.#missingFamilyWarned.has(family)) {
          this.#missingFamilyWarned.add(family);
          this.#options.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_HEARTBEAT', peer: peer.name }, `no IPv${family} heartbeat socket: peers with an IPv${family} InternalIP are never heard`);
        }
        continue;
      }
      sends.push(
        new Promise<void>((resolve) => {
          const failed = (error: Error) => this.#options.logger.debug({ code: 'PORTICO_ERR_ANNOUNCE_HEARTBEAT', peer: peer.name, err: error.message }, 'heartbeat send failed');
          try {
            socket.send(data, peer.port ?? this.#port, peer.address, (error) => {
              if (error) failed(error);
              resolve();
            });
          } catch (error) {
            failed(error as Error);
            resolve();
          }
        }),
      );
    }
    return sends;
  }

  #receive(data: Buffer, sourceText: string): void {
    if (!this.#running) return;
    const source = canonicalIp(sourceText) ?? sourceText;
    const decoded = decodeMessage(this.#secret, data);
    if (decoded === 'malformed' || decoded === 'bad-mac') return this.#reject(source, decoded);
    const { type, body } = decoded;
    const state = this.#peers.get(body.n);
    if (!state) return this.#reject(source, 'unknown-node', body.n);
    if (state.peer.address !== source) return this.#reject(source, 'wrong-source', body.n);
    if (body.i < state.incarnation || (body.i === state.incarnation && body.s <= state.seq)) return this.#reject(source, 'replay', body.n);
    const now = this.#clock();
    if (Math.abs(now - body.t) > this.#maxSkewMs) return this.#reject(source, 'clock-skew', body.n);
    state.incarnation = body.i;
    state.seq = body.s;
    state.lastSeen = type === 'leaving' ? undefined : now;
    state.ready = type === 'heartbeat' && body.r === 1;
    state.heard = true;
    this.#options.onEvent?.({ type: 'accepted', from: body.n, kind: type });
    this.#recompute();
  }

  #reject(address: string, reason: RejectReason, node?: string): void {
    this.#options.onEvent?.({ type: 'rejected', address, reason, ...(node !== undefined ? { node } : {}) });
    const key = `${address} ${reason}`;
    const now = this.#clock();
    const last = this.#rejectLogged.get(key);
    if (last !== undefined && now - last < REJECT_LOG_INTERVAL_MS) return;
    this.#rejectLogged.set(key, now);
    this.#options.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_REJECTED', source: address, reason, ...(node !== undefined ? { node } : {}) }, 'heartbeat dropped');
  }

  #recompute(): void {
    const now = this.#clock();
    let settled = false;
    if (this.#running && !this.#ready) {
      const peers = [...this.#peers.values()];
      if ((peers.length > 0 && peers.every((p) => p.heard)) || now - this.#startedAt >= this.#deadAfterMs) {
        this.#ready = true;
        settled = true;
      }
    }
    const live = new Set<string>();
    if (this.#running && this.#ready) live.add(this.#options.nodeName);
    for (const [name, state] of this.#peers) {
      if (state.ready && state.lastSeen !== undefined && now - state.lastSeen < this.#deadAfterMs) live.add(name);
    }
    // Tell the peers at once that this node may now own addresses.
    if (settled) this.#broadcast('heartbeat');
    const same = live.size === this.#live.size && [...live].every((name) => this.#live.has(name));
    if (same) return;
    this.#live = live;
    for (const listener of this.#listeners) listener(live);
  }
}
