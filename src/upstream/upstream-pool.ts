import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '../model/route-model.js';
import { isUpstreamTlsFailure, upstreamTlsError, upstreamTlsKey, upstreamTlsOptions, upstreamTlsRefusal, type UpstreamTls } from './upstream-tls.js';

export type { UpstreamTls } from './upstream-tls.js';

// Keep-alive upstream connections per endpoint (`ip:port`), raw node:net sockets. A connection is
// taken only when there is a request to send (never ahead of a body), reused LIFO (the warmest
// first), and closed after idleMs unused or when the upstream said it would not keep it.
//
// A connection's 'data', 'error', 'close' and 'timeout' listeners are added once, the first time an
// exchange holds it, and dispatch to whoever holds it now (holdUpstream): adding and removing four
// listeners per request (and three more for each stay in the pool) was a measurable share of the
// engine's per-request CPU. Unheld (idle in the pool, or between exchanges) it behaves as an idle
// pooled connection did: bytes that belong to no request get it destroyed, errors are ignored.
//
// Plain connections read into one buffer shared by all of them (net's `onread`): a read costs no
// allocation and none of the stream machinery, because every holder consumes a chunk before
// returning. A holder that keeps bytes (a write to the client that may not complete at once) takes
// them through retainUpstreamBytes: a chunk of the shared buffer is copied once and the connection
// reads into buffers of its own for the rest of that exchange (a large body then streams without a
// copy per read, as with Node's own reads). Those are lent whole to one write each and come back
// through returnUpstreamBytes once it is done, so a streaming body reuses a few of them instead of
// allocating 64 KiB per read (a JavaScript allocation of that size costs ~7 µs, and its garbage the
// GC). TLS connections emit 'data' chunks of their own.

export interface UpstreamPoolOptions {
  /** Connect timeout, ms. Default 5 s (the README's connect timeout). */
  readonly connectTimeoutMs?: number;
  /** An idle connection is closed after this long, ms. Default 4 s (below common backend keep-alive timeouts). */
  readonly idleMs?: number;
  /** Idle connections kept per endpoint. Default 320 (ingress-nginx's upstream-keepalive-connections): HTTP/2 clients multiplex hundreds of requests onto few connections. */
  readonly maxIdle?: number;
}

export interface UpstreamLease {
  readonly socket: Socket;
  /** True when the connection served a request before (a reset may be a stale keep-alive). */
  readonly reused: boolean;
}

/** The events of an upstream connection, for the exchange that holds it. */
export interface UpstreamHolder {
  upstreamData(chunk: Buffer): void;
  /** 'close' (an 'error' is always followed by it). */
  upstreamClose(): void;
  upstreamTimeout(): void;
}

const IDLE_AT = Symbol('idleAt');
const HOLDER = Symbol('holder');
/**
 * A plain connection reads into buffers of its own (OWN_BUFFER, replaced once handed out) while true,
 * into the shared one while false; undefined on a TLS connection (no onread: its reads come as 'data').
 */
const OWN_READS = Symbol('ownReads');
const OWN_BUFFER = Symbol('ownBuffer');
const OWN_HANDED_OUT = Symbol('ownHandedOut');
type PooledSocket = Socket & {
  [IDLE_AT]?: number;
  [HOLDER]?: UpstreamHolder | null;
  [OWN_READS]?: boolean;
  [OWN_BUFFER]?: Buffer | undefined;
  [OWN_HANDED_OUT]?: boolean;
};

/** Node's own read size. */
export const UPSTREAM_READ_BYTES = 64 * 1024;
/** The read buffer of every plain upstream connection not reading into its own (see the top of this file). */
const SHARED_READ = Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES);
/** Bytes of an own buffer kept by copying (cheap) rather than by handing the whole buffer out. */
const COPY_BELOW = 4096;
/** Own read buffers back from their writes, for the next connection that needs one (a few: ~2 per streaming body). */
const FREE_READ_BUFFERS: Buffer[] = [];
const MAX_FREE_READ_BUFFERS = 8;
/** Own read buffers lent out by retainUpstreamBytes, by their memory; each is lent to one holder at a time. */
const LENT = new WeakMap<ArrayBufferLike, Buffer>();

/** The buffer a plain connection's next read goes into (net's onread.buffer, asked after every read). */
function nextReadBuffer(socket: PooledSocket | undefined): Buffer {
  // undefined: asked while connect() is still creating the socket.
  if (socket === undefined) return SHARED_READ;
  if (socket[OWN_READS] !== true) {
    // Released since: the read just made went into its own buffer, free now unless it was lent.
    const last = socket[OWN_BUFFER];
    if (last !== undefined) {
      socket[OWN_BUFFER] = undefined;
      if (socket[OWN_HANDED_OUT] !== true && FREE_READ_BUFFERS.length < MAX_FREE_READ_BUFFERS) FREE_READ_BUFFERS.push(last);
      socket[OWN_HANDED_OUT] = false;
    }
    return SHARED_READ;
  }
  let own = socket[OWN_BUFFER];
  if (own === undefined || socket[OWN_HANDED_OUT] === true) {
    socket[OWN_BUFFER] = own = FREE_READ_BUFFERS.pop() ?? Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES);
    socket[OWN_HANDED_OUT] = false;
  }
  return own;
}

/** net calls it with the socket as `this`; true: keep reading (pausing is the holder's, by pause()). */
function onUpstreamRead(this: PooledSocket, nread: number, buffer: Uint8Array): boolean {
  const holder = this[HOLDER];
  // Bytes on an unheld connection belong to no request: they would reach the next client. Drop it.
  if (holder) holder.upstreamData((buffer as Buffer).subarray(0, nread));
  else this.destroy();
  return true;
}

/**
 * `chunk` (given to upstreamData by `socket`'s pool) as bytes the caller may keep after returning,
 * e.g. to write them to a client by reference. A chunk of the shared read buffer is copied (a large
 * one into a spare read buffer, lent), and the connection reads into buffers of its own until it is
 * released; a large chunk of its own buffer is lent (its next read gets another buffer). Give lent
 * bytes back with returnUpstreamBytes once nothing refers to them (or let them go to the GC). A TLS
 * connection's chunk is its own already.
 */
export function retainUpstreamBytes(socket: Socket, chunk: Buffer): Buffer {
  const pooled = socket as PooledSocket;
  if (chunk.buffer === SHARED_READ.buffer) {
    pooled[OWN_READS] = true;
    if (chunk.length < COPY_BELOW) return Buffer.from(chunk);
    // A large one into a spare read buffer, lent like the connection's own: no allocation per response.
    const spare = FREE_READ_BUFFERS.pop() ?? Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES);
    chunk.copy(spare, 0);
    LENT.set(spare.buffer, spare);
    return spare.subarray(0, chunk.length);
  }
  const own = pooled[OWN_BUFFER];
  if (own !== undefined && chunk.buffer === own.buffer) {
    // Lent once: a second part of the same read is copied, so one return can never free a buffer still in use.
    if (chunk.length < COPY_BELOW || pooled[OWN_HANDED_OUT] === true) return Buffer.from(chunk);
    pooled[OWN_HANDED_OUT] = true;
    LENT.set(own.buffer, own);
  }
  return chunk;
}

/**
 * Bytes retainUpstreamBytes returned are no longer needed (the write that held them is done, or
 * failed): a lent read buffer goes back for reuse. Anything else (a copy, a TLS chunk) is ignored.
 * Call it at most once per retained chunk, and only once nothing refers to its bytes.
 */
export function returnUpstreamBytes(chunk: Buffer): void {
  const whole = LENT.get(chunk.buffer);
  if (whole === undefined) return;
  LENT.delete(chunk.buffer);
  if (FREE_READ_BUFFERS.length < MAX_FREE_READ_BUFFERS) FREE_READ_BUFFERS.push(whole);
}

/**
 * Routes `socket`'s events to `holder` from now on (undefined: nobody, as when idle in the pool).
 * The listeners themselves are added on the first call only.
 */
export function holdUpstream(socket: Socket, holder: UpstreamHolder | undefined): void {
  const pooled = socket as PooledSocket;
  if (pooled[HOLDER] === undefined) {
    // A plain connection of the pool's delivers its reads to onUpstreamRead (onread), not as 'data'.
    if (pooled[OWN_READS] === undefined) socket.on('data', onUpstreamData);
    socket.on('error', onUpstreamError);
    socket.on('close', onUpstreamClose);
    socket.on('timeout', onUpstreamTimeout);
  }
  pooled[HOLDER] = holder ?? null;
  // The next exchange starts on the shared buffer again, from the connection's next read on (its
  // current buffer is the one that read goes into; nextReadBuffer then frees it).
  if (pooled[OWN_READS] === true) pooled[OWN_READS] = false;
}

/**
 * Idle connections are kept per endpoint and per TLS setting (all of them: SNI, CAs, verified name
 * and depth, client certificate, versions, ciphers): a TLS one never serves a plain request, nor one
 * that asked for other TLS settings.
 */
function poolKey(endpoint: Endpoint, tls: UpstreamTls | undefined): string {
  return tls === undefined ? endpoint.key : `${endpoint.key} ${upstreamTlsKey(tls)}`;
}

export class UpstreamPool {
  readonly #idle = new Map<string, PooledSocket[]>();
  readonly #options: Required<UpstreamPoolOptions>;
  #sweeper: NodeJS.Timeout | undefined;
  #open = 0;

  constructor(options: UpstreamPoolOptions = {}) {
    this.#options = { connectTimeoutMs: 5_000, idleMs: 4_000, maxIdle: 320, ...options };
  }

  /** Open upstream connections (idle and busy). */
  get openConnections(): number {
    return this.#open;
  }

  /**
   * An idle connection to the endpoint, or a new one (resolves once connected, and for `tls` once the
   * handshake is done). TLS failures (and a refused policy) reject with code UPSTREAM_TLS_FAILED or
   * the TLS error's own (isUpstreamTlsFailure).
   */
  acquire(endpoint: Endpoint, connectTimeoutMs: number = this.#options.connectTimeoutMs!, tls?: UpstreamTls): UpstreamLease | Promise<UpstreamLease> {
    const idle = this.#idle.get(poolKey(endpoint, tls));
    while (idle !== undefined && idle.length > 0) {
      const socket = idle.pop()!;
      if (!socket.destroyed && socket.readyState === 'open') return { socket, reused: true };
    }
    const refusal = tls === undefined ? undefined : upstreamTlsRefusal(tls);
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      // backend-protocol HTTPS: TLS to the pod, verified only with proxy-ssl-verify on.
      let socket: PooledSocket | undefined;
      if (tls === undefined) {
        socket = connect({ host: endpoint.address, port: endpoint.port, noDelay: true, onread: { buffer: () => nextReadBuffer(socket), callback: onUpstreamRead as (nread: number, buffer: Uint8Array) => boolean } });
        socket[OWN_READS] = false;
      } else socket = tlsConnect({ host: endpoint.address, port: endpoint.port, ...upstreamTlsOptions(tls, ['http/1.1']) }).setNoDelay(true);
      let connected = false;
      if (tls !== undefined) socket.once('connect', () => (connected = true));
      this.#open++;
      socket.once('close', () => this.#open--);
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect to ${endpoint.key} timed out`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
      const failed = (error: Error) => {
        clearTimeout(timer);
        // Connected but no handshake: a TLS failure (a reset mid-handshake too: a TLS-only port refusing our versions).
        reject(connected && (error as NodeJS.ErrnoException).code !== 'ETIMEDOUT' && !isUpstreamTlsFailure(error) ? upstreamTlsError(`TLS handshake with ${endpoint.key} failed: ${error.message}`, error) : error);
      };
      socket.once('error', failed);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.removeListener('error', failed);
        socket.setKeepAlive(true, 30_000);
        resolve({ socket, reused: false });
      });
    });
  }

  /** Gives a connection back after a complete exchange the upstream will keep open. */
  release(endpoint: Endpoint, socket: Socket, tls?: UpstreamTls): void {
    if (socket.destroyed || socket.readyState !== 'open') return;
    const key = poolKey(endpoint, tls);
    let idle = this.#idle.get(key);
    if (idle === undefined) this.#idle.set(key, (idle = []));
    if (idle.length >= this.#options.maxIdle) {
      socket.destroy();
      return;
    }
    const pooled = socket as PooledSocket;
    pooled[IDLE_AT] = performance.now();
    // Unheld: bytes on it get it destroyed, errors are ignored, a destroyed one is skipped by acquire and the sweep.
    holdUpstream(socket, undefined);
    idle.push(pooled);
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(250, this.#options.idleMs / 4)).unref();
  }

  #sweep(): void {
    const deadline = performance.now() - this.#options.idleMs;
    for (const [key, idle] of this.#idle) {
      // Oldest first: LIFO reuse keeps the old ones at the bottom.
      let expired = 0;
      while (expired < idle.length && (idle[expired]![IDLE_AT] ?? 0) < deadline) expired++;
      for (const socket of idle.splice(0, expired)) socket.destroy();
      for (let i = idle.length - 1; i >= 0; i--) if (idle[i]!.destroyed) idle.splice(i, 1);
      if (idle.length === 0) this.#idle.delete(key);
    }
    if (this.#idle.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** Closes every idle connection (busy ones close when their exchange ends). */
  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const idle of this.#idle.values()) for (const socket of idle) socket.destroy();
    this.#idle.clear();
  }
}

function onUpstreamData(this: PooledSocket, chunk: Buffer): void {
  const holder = this[HOLDER];
  // Bytes on an unheld connection belong to no request: they would reach the next client. Drop it.
  if (holder) holder.upstreamData(chunk);
  else this.destroy();
}
function onUpstreamError(): void {
  // 'close' follows and decides.
}
function onUpstreamClose(this: PooledSocket): void {
  this[HOLDER]?.upstreamClose();
}
function onUpstreamTimeout(this: PooledSocket): void {
  this[HOLDER]?.upstreamTimeout();
}
